"""The one judge: is this document (its bytes, its path, the commit it sits in) valid for a ref?

``pedata verify`` and the resolver both ask this module; neither re-implements a part of it.
Modelled on python-tuf's ngclient ``TrustedMetadataSet``: :class:`TrustedSet` starts from a
root chain verified from root 1 (optionally pinned by the consumer) and every document is
judged against it by the same rules:

* **file form** -- the strict parser and the kind's JSON schema (the caller parsed it; a
  document that did not parse is never judged), and, for ``verify``, byte-for-byte pedata's
  layout;
* **path <-> body binding** -- a document vouches only for the name it is stored under:
  ``channels/<ns>/<channel>.json``, ``releases/<ns>/<version>.json``,
  ``tombstones/<sha256>.json``, ``manifests/<ns>/<name>/<sha256>.json``. A signed release copied
  to another file name, or a signed channel to another channel name, is refused by name;
* **room** -- a channel version must leave the next write room below 2**53 - 1 (the strict
  reader's limit), or a pull request could brick the channel;
* **signatures** at the role's threshold (promoter for channels, certifier for releases,
  revoker for tombstones) under the root in force, and **expiry**.

Which root is in force for a committed document is decided by :func:`committed_states`, by
*ancestry*, not parent order: a commit's root is the newest root version reachable from it
through any parent, and a document version in a merge commit inherits its trust only from a
parent that had already reached the merge's root. A branch forked before a rotation therefore
gains nothing by merging (either way round): whatever it adds is judged at the merge, under the
newer root. ``verify --base B`` adds a floor: commits B does not contain are judged under at
least B's newest root, so a back-dated commit in a pull request gains nothing either.
Nothing here writes; the resolver's warm path never imports this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.timeutil import is_expired
from dvc_pedata.errors import InvalidNameError, PedataError, SignatureError
from dvc_pedata.model import layout
from dvc_pedata.model.documents import Channel, Document, Manifest, Release, Root, Tombstone
from dvc_pedata.model.uri import tag_name
from dvc_pedata.registry.source import ensure_history
from dvc_pedata.trust.signing import check_threshold

# The strict reader refuses integers beyond 2**53 - 1; the next write adds one to the version.
MAX_CHANNEL_VERSION = 2**53 - 2
ROOT_DIR = layout.ROOTS
ROLES = {"channel": "promoter", "release": "certifier", "tombstone": "revoker"}
_KINDS: dict[str, type[Document]] = {layout.RELEASES: Release, layout.TOMBSTONES: Tombstone, layout.CHANNELS: Channel}


# -- one document, no history ----------------------------------------------------------------------
def expected_path(doc: Document) -> str | None:
    """Where ``doc``'s signed body says it must be stored (None for a root: its version names it)."""
    try:
        if isinstance(doc, Channel):
            return layout.channel(doc.namespace, doc.channel)
        if isinstance(doc, Release):
            return layout.release(doc.namespace, doc.version)
        if isinstance(doc, Tombstone):
            return layout.tombstone(doc.artifact_sha256)
        if isinstance(doc, Manifest):
            return layout.manifest(doc.namespace, doc.name, doc.sha256)
    except InvalidNameError as exc:  # a body naming no valid place belongs nowhere
        return f"(nowhere: {exc.message})"
    return None


def binding_problem(rel: str, doc: Document) -> str | None:
    """Why ``doc`` may not be stored at ``rel`` (None when its body names exactly that path)."""
    want = expected_path(doc)
    if want is None or want == rel:
        return None
    if isinstance(doc, Channel):
        what = f"channel {doc.namespace}/{doc.channel}"
    elif isinstance(doc, Release):
        what = f"release {doc.namespace}@{doc.version}"
    elif isinstance(doc, Tombstone):
        return f"stored under the wrong name: the tombstone revokes {doc.artifact_sha256}"
    elif isinstance(doc, Manifest):
        return f"stored under the wrong name: the manifest describes {doc.namespace}/{doc.name} sha256 {doc.sha256[:12]}…"
    else:
        return None
    return f"stored under the wrong name: the document is {what} (it belongs at {want}; a copy vouches for nothing)"


def room_problem(doc: Document) -> str | None:
    """A channel version that leaves the next write no room (the strict reader's 2**53 - 1 limit)."""
    if isinstance(doc, Channel) and doc.version > MAX_CHANNEL_VERSION:
        return (f"version {doc.version} leaves no room for a next version (at most {MAX_CHANNEL_VERSION}); "
                "restore the channel's previous version")
    return None


def expiry_problem(expires: str | None, now: datetime | None = None) -> str | None:
    if expires and is_expired(expires, now):
        return f"expired at {expires}; ask its signers for a fresh version"
    return None


def role_for(rel: str, doc: Document) -> tuple[str, str | None] | None:
    """(role, namespace) whose threshold ``doc`` must meet; None for unsigned kinds."""
    role = ROLES.get(doc.kind)
    if role is None:
        return None
    return role, (None if isinstance(doc, Tombstone) else doc.body.get("namespace"))


class TrustedSet:
    """A verified root chain; documents are judged against it, it only grows by checked rotations.

    Build it with :meth:`load` (the chain from root 1, pinned to ``trusted_root`` if given) or
    from roots already verified. The newest root judges documents as they are now; the history
    rule (:func:`committed_states`, :func:`judge_committed`) may accept a release or tombstone
    the newest root refuses, under the root in force when it was committed.
    """

    def __init__(self, roots: Sequence[Root]) -> None:
        if not roots:
            raise SignatureError("no trust root (trust/root/1.json is missing; run 'pedata trust init')")
        self.roots = list(roots)

    @classmethod
    def load(cls, registry: Any, trusted_root: str | None = None, rev: str | None = None, *,
             check_expiry: bool = True, note: Any = None) -> TrustedSet:
        from dvc_pedata.trust.root import (
            load_root_versions,  # lazy: cryptography; only signed refs and signing pay for it
        )

        return cls(load_root_versions(registry, trusted_root, rev, check_expiry=check_expiry, note=note))

    @property
    def root(self) -> Root:
        return self.roots[-1]

    def by_version(self, version: int) -> Root | None:
        return next((r for r in self.roots if int(r.version) == version), None)

    def update_root(self, new: Root) -> None:
        """Grow by one rotation, checked like ``verify_root_chain`` checks a stored chain."""
        from dvc_pedata.trust.root import (
            verify_root_chain,  # lazy: cryptography; only signed refs and signing pay for it
        )

        problems = verify_root_chain([*self.roots, new], check_expiry=False)
        if problems:
            raise SignatureError(problems[0])
        self.roots.append(new)

    def problems(self, rel: str, doc: Document, *, now: datetime | None = None, signatures: bool = True,
                 expiry: bool = True) -> list[str]:
        """Every reason ``doc`` stored at ``rel`` is not valid under the newest root ([] = valid)."""
        out = [p for p in (binding_problem(rel, doc), room_problem(doc)) if p]
        need = role_for(rel, doc)
        if signatures and need is not None:
            out += check_threshold(doc, self.root, need[0], need[1])
        if expiry and isinstance(doc, Channel | Release):
            p = expiry_problem(doc.expires, now)
            if p:
                out.append(p)
        return out


def require_bound(rel: str, doc: Document, what: str) -> None:
    """Raise a one-line :class:`SignatureError` unless ``doc`` may be stored at ``rel`` (resolver)."""
    problem = binding_problem(rel, doc) or room_problem(doc)
    if problem:
        raise SignatureError(f"{what} is not trusted: {rel}: {problem}")


# -- history: the root in force, by ancestry ----------------------------------------------------
@dataclass(frozen=True)
class State:
    """The commit where a document version was judged and the trust root version in force there."""

    commit: str
    root_version: int
    data: bytes


@dataclass
class _Entry:
    blob: str
    judged: tuple[str, int, str]  # (commit, root version, blob) of the judgment it rests on
    ok: bool | None = None
    body: str | None = None


def _graph(repo: Path, rev: str) -> list[tuple[str, list[str]]]:
    out = gitio.git(repo, "rev-list", "--topo-order", "--reverse", "--parents", rev)
    return [(parts[0], parts[1:]) for parts in (line.split() for line in out.splitlines()) if parts]


def _diffs(repo: Path, graph: Sequence[tuple[str, list[str]]], dirs: Sequence[str]) -> dict[tuple[str, str], list[tuple[str, str, str]]]:
    """(commit, parent or "") -> [(status, path, new blob)] for the files under ``dirs`` and ``trust/root``."""
    pairs = [(c, p) for c, ps in graph for p in (ps or [""])]
    if not pairs:
        return {}
    feed = "".join(f"{c} {p}\n" if p else f"{c}\n" for c, p in pairs).encode()
    out = gitio.git(repo, "diff-tree", "--stdin", "-r", "--always", "--no-abbrev", "--no-renames", "--root",
                    "--", ROOT_DIR, *dirs, input=feed)
    result: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    i = -1
    for line in out.splitlines():
        if not line.startswith(":"):
            i += 1
            result[pairs[i]] = []
            continue
        meta, _, path = line.partition("\t")
        fields = meta.split()
        result[pairs[i]].append((fields[4][:1], path, fields[3]))
    return result


def _root_version(path: str) -> int | None:
    stem = path.removeprefix(ROOT_DIR + "/").removesuffix(".json")
    if path.startswith(ROOT_DIR + "/") and path.endswith(".json") and "/" not in stem and stem.isdigit() and stem.isascii():
        return int(stem)
    return None


def roots_in_force(repo: Path, rev: str, dirs: Sequence[str] = (), base: str | None = None) -> tuple[
        list[tuple[str, list[str]]], dict[str, int], dict[tuple[str, str], list[tuple[str, str, str]]]]:
    """The commit graph up to ``rev``, each commit's root version in force, and the diffs read.

    A commit's root is the newest ``trust/root/<N>.json`` reachable from it (its own files or any
    ancestor's), so deleting a root file later, or merging in either order, changes nothing.
    With ``base``, commits ``base`` does not contain are judged under at least ``base``'s root.
    """
    graph = _graph(repo, rev)
    diffs = _diffs(repo, graph, dirs)
    root_at: dict[str, int] = {}
    for c, parents in graph:
        v = max((root_at.get(p, 0) for p in parents), default=0)
        for p in parents or [""]:
            for status, path, _ in diffs.get((c, p), []):
                n = _root_version(path)
                if n is not None and status in "AM":
                    v = max(v, n)
        root_at[c] = v
    if base is not None:
        floor = _base_root(repo, base, root_at)
        if floor:
            inside = set(gitio.git(repo, "rev-list", base, check=False).split())
            for c in root_at:
                if c not in inside and root_at[c] < floor:
                    root_at[c] = floor
    return graph, root_at, diffs


def _base_root(repo: Path, base: str, root_at: dict[str, int]) -> int:
    if base in root_at:
        return root_at[base]
    versions = [_root_version(p) for p in gitio.ls_tree(repo, base, ROOT_DIR)]
    return max((v for v in versions if v is not None), default=0)


def committed_states(repo: Path, rev: str, dirs: Sequence[str], roots: Sequence[Root],
                     base: str | None = None) -> tuple[dict[str, list[State]], dict[str, int]]:
    """For each document under ``dirs`` at ``rev``: the judgment its version rests on; and every commit's root.

    Walks the whole graph (topological order). A file's blob in commit C either is inherited from
    a parent that holds the same blob (any parent of an ordinary commit; of a merge, only a parent
    whose root in force is the merge's own) or is judged at C under C's root. A judged blob whose
    ``signed`` body an eligible parent already trusted stays trusted (``pedata sign`` only adds
    signatures). The state returned for a file is the judgment that decides its blob at ``rev``:
    a passing one if any, else the failing one (for the message).
    """
    from dvc_pedata.trust.history import (  # lazy: cryptography; only signed refs and signing pay for it
        _without,
        distrusted,
    )

    graph, root_at, diffs = roots_in_force(repo, rev, dirs, base)
    if not graph:
        return {}, root_at
    by_version = {int(r.version): r for r in roots}
    banned = distrusted(roots)
    prefix = tuple(d.rstrip("/") + "/" for d in dirs)
    files: dict[str, dict[str, str]] = {}  # commit -> path -> blob (shared while unchanged)
    for c, parents in graph:
        base_files = files.get(parents[0], {}) if parents else {}
        changes = [(s, p, b) for s, p, b in diffs.get((c, parents[0] if parents else ""), []) if p.startswith(prefix)]
        if changes:
            mine = dict(base_files)
            for status, path, blob in changes:
                if status == "D":
                    mine.pop(path, None)
                else:
                    mine[path] = blob
            files[c] = mine
        else:
            files[c] = base_files
    needed = {b for m in {id(v): v for v in files.values()}.values() for b in m.values()}
    blobs = dict(gitio.batch_read(repo, sorted(needed)))
    parsed: dict[tuple[str, str], Document | None] = {}

    def doc_of(path: str, blob: str) -> Document | None:
        key = (path, blob)
        if key not in parsed:
            cls = _KINDS.get(path.split("/", 1)[0])
            data = blobs.get(blob)
            try:
                parsed[key] = cls.from_bytes(data, path) if cls is not None and data is not None else None
            except PedataError:
                parsed[key] = None  # an unparsable version vouches for nothing (verify reports it)
        return parsed[key]

    def passes(path: str, doc: Document, version: int) -> bool:
        root = by_version.get(version)
        need = role_for(path, doc)
        if root is None or need is None or binding_problem(path, doc):
            return False
        return not check_threshold(_without(doc, banned), root, need[0], need[1])

    trust: dict[str, dict[str, _Entry]] = {}
    for c, parents in graph:
        eligible = parents if len(parents) <= 1 else [p for p in parents if root_at[p] == root_at[c]]
        mine_files = files[c]
        if len(parents) == 1 and mine_files is files[parents[0]] and root_at[c] == root_at[parents[0]]:
            trust[c] = trust[parents[0]]
            continue
        entries: dict[str, _Entry] = {}
        for path, blob in mine_files.items():
            inherited = [trust[p][path] for p in eligible if path in trust[p] and trust[p][path].blob == blob]
            if inherited:
                entries[path] = next((e for e in inherited if e.ok), inherited[0])
                continue
            doc = doc_of(path, blob)
            entry = _Entry(blob, (c, root_at[c], blob), False, doc.digest if doc is not None else None)
            if doc is not None:
                entry.ok = passes(path, doc, root_at[c])
                if not entry.ok:
                    prior = [trust[p][path] for p in eligible if path in trust[p]]
                    same = next((e for e in prior if e.ok and e.body == entry.body), None)
                    if same is not None:
                        entry = _Entry(blob, same.judged, True, entry.body)
            entries[path] = entry
        trust[c] = entries
    head = trust.get(graph[-1][0], {})
    out: dict[str, list[State]] = {}
    for path, e in head.items():
        commit, version, blob = e.judged
        data = blobs.get(blob)
        if data is not None:
            out[path] = [State(commit, version, data)]
    return out, root_at


def judge_committed(doc: Document, rel: str, roots: Sequence[Root], states: Iterable[State]) -> str | None:
    """None if ``doc`` (a release or tombstone) is trusted by the history rule; else one line: why, the fix."""
    from dvc_pedata.trust.history import (
        judge,  # lazy: cryptography; only signed refs and signing pay for it
    )

    need = role_for(rel, doc)
    if need is None:
        return None
    problem = binding_problem(rel, doc)
    if problem:
        return problem
    return judge(doc, rel, need[0], need[1], roots, list(states))


def judge_in_view(view: Any, doc: Document, rel: str, trusted_root: str | None, offline: bool) -> str | None:
    """:func:`judge_committed` for the resolver: the roots and history of a registry view."""
    from dvc_pedata.trust.root import (
        load_root_versions,  # lazy: cryptography; only signed refs and signing pay for it
    )

    roots = load_root_versions(view.registry, trusted_root, view.rev, check_expiry=False)
    rev = view.rev or gitio.head(view.root)
    hint = ensure_history(view, offline) if rev is not None else None
    states: list[State] = []
    if rev is not None:
        top = rel.split("/", 1)[0]
        found, _ = committed_states(view.root, rev, [top], roots)
        states = found.get(rel, [])
    problem = judge_committed(doc, rel, roots, states)
    return f"{problem}; {hint}" if problem and hint else problem


# -- append-only: what a tag or a base already fixed ------------------------------------------------
FIXED_RELEASE = ("namespace", "version", "pins")  # status, notice and signatures may move forward


def release_change_problem(old: Release, new: Release, since: str) -> str | None:
    """Why ``new`` may not replace ``old`` (a release already tagged or in the base); None if it may."""
    changed = [k for k in FIXED_RELEASE if old.body.get(k) != new.body.get(k)]
    if not changed:
        return None
    return (f"{' and '.join(changed)} changed since {since}: a tagged release never changes what it pins "
            "(citations resolve to those bytes); restore it and certify a new version instead")


def tagged_release(repo: Path, rel: str, ns: str, version: str) -> tuple[str, Release | None] | None:
    """(tag name, the release file at the tag's commit, None if unreadable) or None when untagged."""
    try:
        name = tag_name(ns, version)
    except PedataError:
        return None
    commit = gitio.git(repo, "rev-parse", "--verify", "-q", f"refs/tags/{name}^{{commit}}", check=False)
    if not commit:
        return None
    data = gitio.show(repo, commit, rel)
    if data is None:
        return name, None
    try:
        return name, Release.from_bytes(data, f"{rel} at tag {name}")
    except PedataError:
        return name, None


def require_as_tagged(view: Any, rel: str, doc: Release, what: str) -> None:
    """Resolver: a release whose citation tag is known locally must still pin what it pinned when tagged."""
    if view.url is not None and view.rev is None:
        return  # a URL clone fetches no tags unless one is asked for
    found = tagged_release(view.root, rel, doc.namespace, doc.version)
    if found is None or found[1] is None:
        return
    problem = release_change_problem(found[1], doc, f"tag {found[0]}")
    if problem:
        raise SignatureError(f"{what} is not trusted: {rel}: {problem}")
