"""``pedata verify``: every invariant a pull request must keep, over the tree and its history.

All violations are collected (never just the first) with the file and a specific reason, so a
reviewer sees every way a change cheats: edited pins, foreign or duplicated signatures, rollbacks,
forks, expiry, broken root rotation, scope violations, swapped manifests.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvc_pedata.base import gitio
from dvc_pedata.base.atomic import TMP_PREFIX
from dvc_pedata.base.docfile import read_document
from dvc_pedata.base.timeutil import format_time, from_epoch, now, parse_time
from dvc_pedata.errors import PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.companion import is_companion
from dvc_pedata.model.documents import Channel, Document, Manifest, Release, Root, Tombstone
from dvc_pedata.model.names import LATEST
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust.judge import (
    TrustedSet,
    binding_problem,
    committed_states,
    judge_committed,
    room_problem,
)
from dvc_pedata.trust.signing import check_threshold
from dvc_pedata.verify.checks import CHECKS
from dvc_pedata.verify.scope import open_scope, scoped_paths

if TYPE_CHECKING:
    from dvc_pedata.trust.judge import State

DOC_DIRS = layout.DOC_DIRS
UNSIGNED_CHANNELS = (LATEST,)


@dataclass
class Violation:
    file: str
    reason: str
    commit: str | None = None

    def __str__(self) -> str:
        return f"{self.file}: {self.reason}" + (f" (commit {self.commit[:10]})" if self.commit else "")


@dataclass
class HistoryEntry:
    commit: str
    time: datetime
    path: str
    status: str  # A, M, D
    doc: Document | None


@dataclass(frozen=True)
class VerifyOptions:
    """What the caller asked for beyond the tree and history checks."""

    remote: bool = False  # every pinned, unrevoked payload (and adopted copy) is in its remote
    deep: bool = False  # with remote: hash the remote bytes too


@dataclass
class Context:
    """What checks share: the registry, parsed documents at HEAD (work tree), the history window."""

    reg: Registry
    now: datetime
    base: str | None
    manifests: dict[str, Manifest] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    releases: dict[str, Release] = field(default_factory=dict)
    tombstones: dict[str, Tombstone] = field(default_factory=dict)
    roots: list[Root] = field(default_factory=list)
    root_paths: list[str] = field(default_factory=list)  # where each of ``roots`` is stored
    root: Root | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    states: dict[str, list[State]] | None = None  # the judgment each release and tombstone rests on (judge.py)
    root_at: dict[str, int] | None = None  # each commit's root version in force, by ancestry (judge.py)
    violations: list[Violation] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    options: VerifyOptions = field(default_factory=VerifyOptions)
    scope: Any = None  # verify.scope.Scope: only what changed since ``base`` is read (None: the whole tree)

    def violation(self, file: str, reason: str, commit: str | None = None) -> None:
        self.violations.append(Violation(file, reason, commit))

    def manifest_for(self, ns: str, name: str, sha256: str) -> Manifest | None:
        rel = layout.manifest(ns, name, sha256)
        m = self.manifests.get(rel)
        if m is None and self.scope is not None:
            m = self.scope.manifest(rel)  # unchanged since the base: read on demand, judged there
        return m


@dataclass
class VerifyReport:
    violations: list[Violation]
    counts: dict[str, int]
    base: str | None

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "base": self.base,
            "checked": dict(self.counts),
            "violations": [{"file": v.file, "reason": v.reason, "commit": v.commit} for v in self.violations],
        }


# -- loading ---------------------------------------------------------------------------------------
_KINDS: dict[str, type[Document]] = {
    "manifest": Manifest, "channel": Channel, "release": Release, "tombstone": Tombstone, "root": Root,
}


def _kind_for(path: str) -> type[Document] | None:
    if is_companion(path):  # companion files: checks/directories.py, checks/fields.py
        return None
    return _KINDS.get(layout.kind_of(path) or "")


def _parse(ctx: Context, rel: str, data: bytes, commit: str | None = None) -> Document | None:
    cls = _kind_for(rel)
    if cls is None:
        return None
    try:
        return cls.from_bytes(data, rel)
    except PedataError as exc:
        ctx.violation(rel, str(exc).removeprefix(rel + ": "), commit)
        return None


def _load_tree(ctx: Context, paths: Iterable[Path] | None = None) -> None:
    """Read the document folders, or only ``paths`` (what :mod:`verify_scope` selected)."""
    root = ctx.reg.root
    roots: list[tuple[Root, str]] = []
    groups = [sorted((root / top).rglob("*")) for top in DOC_DIRS] if paths is None else [list(paths)]
    for group in groups:
        for p in group:
            rel = p.relative_to(root).as_posix()
            if p.name.startswith(TMP_PREFIX):
                ctx.violation(rel, "a temporary file left by an interrupted pedata write (the command's next run"
                                   " removes it; or delete it): never commit it")
                continue
            if p.suffix != ".json" or _kind_for(rel) is None:  # companion files are checked by checks/: not read here
                continue
            try:
                data = read_document(root, rel)  # a committed link is reported, never followed
            except PedataError as exc:
                ctx.violation(rel, exc.message.removeprefix(f"{rel}: "))
                continue
            if data is None:
                continue  # a folder named *.json holding documents is listed by rglob itself
            doc = _parse(ctx, rel, data)
            if doc is None:
                continue
            if doc.signed_kind and not doc.is_file_form(data):
                ctx.violation(rel, "not byte-for-byte the file pedata writes (whitespace or key order edited by hand); "
                              "restore it from git, or load and save it again with pedata")
            ctx.counts[doc.kind] += 1
            if isinstance(doc, Manifest):
                ctx.manifests[rel] = doc
            elif isinstance(doc, Channel):
                ctx.channels[rel] = doc
            elif isinstance(doc, Release):
                ctx.releases[rel] = doc
            elif isinstance(doc, Tombstone):
                ctx.tombstones[rel] = doc
            elif isinstance(doc, Root):
                roots.append((doc, rel))
    roots.sort(key=lambda x: x[0].version)
    ctx.roots, ctx.root_paths = [d for d, _ in roots], [r for _, r in roots]


def default_base(root: Path) -> str | None:
    """Merge base with the default branch; None (whole history) on the default branch itself."""
    head = gitio.head(root)
    if head is None:
        return None
    candidates = []
    origin_head = gitio.git(root, "symbolic-ref", "-q", "refs/remotes/origin/HEAD", check=False)
    if origin_head:
        candidates.append(origin_head)
    candidates += ["refs/heads/main", "refs/heads/master"]
    for ref in candidates:
        if gitio.git(root, "rev-parse", "--verify", "-q", ref, check=False):
            mb = gitio.git(root, "merge-base", ref, "HEAD", check=False)
            if mb and mb != head:
                return mb
            if mb == head:
                return None
    return None


def _load_history(ctx: Context) -> None:
    root = ctx.reg.root
    if gitio.head(root) is None:
        return
    rng = [f"{ctx.base}..HEAD"] if ctx.base else ["HEAD"]
    log = gitio.git(root, "log", "--reverse", "--topo-order", "-m", "--no-renames",
                    "--format=%x01%H %ct", "--name-status", *rng, "--", *DOC_DIRS)
    entries: list[tuple[str, datetime, str, str]] = []
    commit, when = "", from_epoch(0)
    for line in log.splitlines():
        if line.startswith("\x01"):
            sha, ct = line[1:].split()
            commit, when = sha, from_epoch(int(ct))
        elif line.strip():
            status, _, path = line.partition("\t")
            if path.endswith(".json"):
                entries.append((commit, when, status[:1], path))
    # The base's own state is the starting point a pull request is compared with.
    if ctx.base:
        base_time = from_epoch(int(gitio.git(root, "show", "-s", "--format=%ct", ctx.base)))
        for top in (layout.CHANNELS, layout.RELEASES, layout.ROOTS):
            for path in gitio.ls_tree(root, ctx.base, top):
                if path.endswith(".json"):
                    entries.insert(0, (ctx.base, base_time, "B", path))
    need = [f"{c}:{p}" for c, _, s, p in entries if s != "D" and not p.startswith(layout.MANIFESTS + "/")]
    blobs = dict(gitio.batch_read(root, need))
    seen: set[tuple[str, str, str]] = set()
    for c, t, s, p in entries:
        if (c, s, p) in seen:  # merges listed once per parent with -m
            continue
        seen.add((c, s, p))
        doc = None
        if s != "D" and not p.startswith(layout.MANIFESTS + "/"):
            data = blobs.get(f"{c}:{p}")
            doc = _parse(ctx, p, data, c) if data is not None else None
        ctx.history.append(HistoryEntry(c, t, p, s, doc))


# -- checks ----------------------------------------------------------------------------------------
def _check_roots(ctx: Context) -> None:
    from dvc_pedata.trust.root import (  # lazy: cryptography; only signed refs and signing pay for it
        verify_root_chain,
    )

    for r in ctx.roots:
        expected = ctx.reg.root_path(r.version).relative_to(ctx.reg.root).as_posix()
        if not (ctx.reg.root / expected).is_file():
            ctx.violation(layout.ROOTS, f"a root document claims version {r.version} but is not stored as {expected}")
    if ctx.roots:
        for problem in verify_root_chain(ctx.roots, ctx.root_paths):
            ctx.violation(layout.ROOTS, problem)
    if ctx.roots:
        ctx.root = ctx.roots[-1]
        if ctx.root.expires and parse_time(ctx.root.expires) < ctx.now:
            ctx.violation(layout.root(ctx.root.version), f"trust root expired at {ctx.root.expires}")
    elif ctx.channels or ctx.releases or ctx.tombstones:
        needs = [c for c in ctx.channels.values() if c.channel not in UNSIGNED_CHANNELS or c.signatures]
        if needs or ctx.releases or ctx.tombstones:
            ctx.violation(layout.ROOTS, f"no trust root ({layout.root(1)}): signed documents cannot be checked")


def _committed_signature_check(ctx: Context, rel: str, doc: Document, role: str, ns: str | None) -> None:
    """Releases and tombstones: the newest root, else the root in force when the version was committed."""
    if ctx.root is None or not check_threshold(doc, ctx.root, role, ns):
        return
    _walk(ctx)
    assert ctx.states is not None
    problem = judge_committed(doc, rel, ctx.roots, ctx.states.get(rel, []))
    if problem:
        ctx.violation(rel, problem)


def _walk(ctx: Context) -> None:
    """The ancestry walk (judge.py), once: judgments of releases and tombstones, each commit's root."""
    if ctx.states is not None:
        return
    head = gitio.head(ctx.reg.root)
    if head is None or not ctx.roots:
        ctx.states, ctx.root_at = {}, {}
        return
    ctx.states, ctx.root_at = committed_states(ctx.reg.root, head, ["releases", "tombstones"], ctx.roots, ctx.base)


def _check_pins(ctx: Context, rel: str, ns: str, pins: dict[str, Any]) -> None:
    for name, pin in sorted(pins.items()):
        if ctx.scope is not None and ctx.scope.trusts_pin(rel, ns, name, pin):
            continue
        m = ctx.manifest_for(ns, name, pin["sha256"])
        if m is None:
            ctx.violation(rel, f"pin {name!r} names sha256 {pin['sha256'][:12]}… but manifests/{ns}/{name}/{pin['sha256']}.json does not exist")
            continue
        if m.digest != pin["manifest_sha256"]:
            ctx.violation(rel, f"pin {name!r}: manifest digest is {m.digest[:12]}…, the pin says {pin['manifest_sha256'][:12]}… (manifest swapped or pin edited)")
        if m.size != pin["size"]:
            ctx.violation(rel, f"pin {name!r}: size {pin['size']} does not match the manifest's {m.size}")


def _check_tree(ctx: Context) -> None:
    trusted = TrustedSet(ctx.roots) if ctx.roots else None
    revoked = {t.artifact_sha256: t for t in ctx.tombstones.values()}
    for rel, m in ctx.manifests.items():
        problem = binding_problem(rel, m)
        if problem:
            ctx.violation(rel, problem)
    for rel, ch in ctx.channels.items():
        if ch.namespace not in ctx.reg.namespaces:
            ctx.violation(rel, f"namespace {ch.namespace!r} is not declared in pedata.json")
        _check_pins(ctx, rel, ch.namespace, ch.artifacts)
        signed = ch.channel not in UNSIGNED_CHANNELS or bool(ch.signatures)
        if trusted is not None:
            for problem in trusted.problems(rel, ch, now=ctx.now, signatures=signed, expiry=False):
                ctx.violation(rel, problem)
        else:
            for problem in (binding_problem(rel, ch), room_problem(ch)):
                if problem:
                    ctx.violation(rel, problem)
        if ch.expires and parse_time(ch.expires) < ctx.now:
            ctx.violation(rel, f"channel expired at {ch.expires}")
        for name, pin in ch.artifacts.items():
            if pin["sha256"] in revoked:
                t = revoked[pin["sha256"]]
                ctx.violation(rel, f"pin {name!r} points at revoked artifact sha256 {pin['sha256'][:12]}… ({t.reason}; {t.authority}, {t.date}): move the channel "
                                   f"(promote a replacement, or 'pedata channel drop {ch.namespace} {ch.channel} {name} --sign KEY')")
    for rel, r in ctx.releases.items():
        problem = binding_problem(rel, r)
        if problem:
            ctx.violation(rel, problem)
        _check_pins(ctx, rel, r.namespace, r.pins)
        if not problem:  # a copy under another name is refused by name, not judged by signature
            _committed_signature_check(ctx, rel, r, "certifier", r.namespace)
        for name, pin in r.pins.items():
            if pin["sha256"] in revoked and r.status != "unreproducible":
                ctx.violation(rel, f"pins revoked artifact {name!r} (sha256 {pin['sha256'][:12]}…) but its status is {r.status}, not unreproducible")
    for rel, t in ctx.tombstones.items():
        problem = binding_problem(rel, t)
        if problem:
            ctx.violation(rel, problem)
            continue
        _committed_signature_check(ctx, rel, t, "revoker", None)


def _roots_at(ctx: Context) -> dict[str, Root]:
    """The root in force at each commit: the newest reachable through any parent (judge.py), not walk order."""
    _walk(ctx)
    by_version = {int(r.version): r for r in ctx.roots}
    return {c: by_version[v] for c, v in (ctx.root_at or {}).items() if v in by_version}


def _check_history(ctx: Context) -> None:
    """Every document's history since the base: immutability, then each channel's and release's."""
    roots = _roots_at(ctx)
    by_path = _check_immutable(ctx)
    for path, entries in sorted(by_path.items()):
        if path.startswith(layout.CHANNELS + "/"):
            _check_channel_history(ctx, path, entries, roots)
        elif path.startswith(layout.RELEASES + "/"):
            _check_release_history(ctx, path, entries)


def _check_immutable(ctx: Context) -> dict[str, list[HistoryEntry]]:
    """Manifests and root versions are never modified; nothing under the registry's folders is
    ever deleted. Returns the history entries by path, in walk order."""
    by_path: dict[str, list[HistoryEntry]] = defaultdict(list)
    for e in ctx.history:
        by_path[e.path].append(e)
        if e.status == "M" and (e.path.startswith((layout.MANIFESTS + "/", layout.ROOTS + "/"))):
            what = "manifests are immutable (a manifest swapped under its name)" if e.path.startswith(layout.MANIFESTS + "/") else "root versions are immutable: rotate by adding a new version"
            ctx.violation(e.path, f"modified after it was created; {what}", e.commit)
        if e.status == "D" and e.path.startswith(tuple(d + "/" for d in (layout.MANIFESTS, layout.ROOTS, layout.TOMBSTONES, layout.RELEASES))):
            ctx.violation(e.path, "deleted; registry history must keep every document", e.commit)
    return by_path


def _check_channel_history(ctx: Context, path: str, entries: list[HistoryEntry], roots: dict[str, Root]) -> None:
    """One channel's versions: rising, chained by ``prev`` one step at a time, never forked,
    unexpired when committed, each signed version meeting the promoter threshold under the root
    in force at its commit; then the work tree's version against the last one committed."""
    versions: dict[int, tuple[str, str]] = {}
    known: dict[str, int] = {}
    last: Channel | None = None
    last_digest: str | None = None
    # Each version (signed body) is judged once: met in some commit under the root then in force.
    unmet: dict[str, tuple[int, str, list[str]]] = {}
    met: set[str] = set()
    for e in entries:
        doc = e.doc
        if not isinstance(doc, Channel):
            continue
        ctx.counts["channel versions"] += 1
        dg = doc.digest  # canonicalising is most of this loop's cost: once per version
        prior = versions.get(doc.version)
        if prior and prior[0] != dg:
            ctx.violation(path, f"two different documents claim version {doc.version} (commits {prior[1][:10]} and {e.commit[:10]}): a fork or a re-used version", e.commit)
        versions.setdefault(doc.version, (dg, e.commit))
        if last is not None and dg != last_digest:
            if doc.version < last.version:
                ctx.violation(path, f"rollback: version {doc.version} replaces version {last.version}", e.commit)
            elif doc.version == last.version:
                pass  # reported as a fork above
            elif doc.prev not in known and e.status != "B":
                ctx.violation(path, f"version {doc.version}: prev {str(doc.prev)[:12]}… is not the digest of an earlier version of this channel", e.commit)
            elif doc.prev in known and known[doc.prev] >= doc.version:
                ctx.violation(path, f"version {doc.version}: prev points at version {known[doc.prev]}, which is not older", e.commit)
            elif doc.prev in known and doc.version > known[doc.prev] + 1:
                ctx.violation(path, _jump(doc.version, known[doc.prev]), e.commit)
        if doc.expires and e.status != "B" and parse_time(doc.expires) < e.time:
            ctx.violation(path, f"version {doc.version} was committed at {format_time(e.time)}, after it expired at {doc.expires}", e.commit)
        if doc.channel not in UNSIGNED_CHANNELS and e.status != "B" and e.commit in roots:
            problems = check_threshold(doc, roots[e.commit], "promoter", doc.namespace)
            if not problems:
                met.add(dg)
            else:
                unmet[dg] = (doc.version, e.commit, problems)
        known[dg] = doc.version
        last, last_digest = doc, dg
    head_doc = ctx.channels.get(path)
    _report_unmet(ctx, path, unmet, met, head_doc.digest if head_doc is not None else None)
    if head_doc is not None and last is not None and head_doc.digest != last_digest:
        if head_doc.version < last.version:
            ctx.violation(path, f"rollback: the work tree has version {head_doc.version}, history reached version {last.version}")
        elif head_doc.version == last.version:
            ctx.violation(path, f"version {head_doc.version} re-used with different content in the work tree")
        elif head_doc.prev != last_digest and head_doc.prev not in known:
            ctx.violation(path, f"version {head_doc.version}: prev does not chain to version {last.version}")
        elif head_doc.prev in known and head_doc.version > known[head_doc.prev] + 1:
            ctx.violation(path, _jump(head_doc.version, known[head_doc.prev]))


def _check_release_history(ctx: Context, path: str, entries: list[HistoryEntry]) -> None:
    """A release's status only moves forward (provisional, certified, retired, unreproducible)."""
    last_rel: Release | None = None
    for e in entries:
        if isinstance(e.doc, Release):
            if last_rel is not None and e.doc.status_rank < last_rel.status_rank:
                ctx.violation(path, f"status went backwards: {last_rel.status} -> {e.doc.status}", e.commit)
            last_rel = e.doc
    head_rel = ctx.releases.get(path)
    if head_rel is not None and last_rel is not None and head_rel.status_rank < last_rel.status_rank:
        ctx.violation(path, f"status went backwards: {last_rel.status} -> {head_rel.status}")


def _jump(version: int, prev: int) -> str:
    """A channel version must be its prev's plus one: a jump spends the room the next writes need."""
    return (f"version {version} jumps from version {prev}: each new version adds one (publish and promote do), "
            "so a jump only brings the channel nearer the largest version the strict reader accepts")


def _report_unmet(ctx: Context, path: str, unmet: dict[str, tuple[int, str, list[str]]], met: set[str], head: str | None) -> None:
    """Channel versions that never met the promoter threshold in any commit that carried them.

    Signing in turn (``pedata promote --sign A``, then ``pedata sign FILE --sign B`` and a second
    commit) leaves a half-signed commit behind; that is the normal co-signing state, not a
    violation, once the same signed body is committed with enough signatures. The version in the
    work tree is the tree check's business (it may still be collecting signatures).
    """
    for digest, (version, commit, problems) in unmet.items():
        if digest in met or digest == head:
            continue
        ctx.violation(path, f"version {version} was replaced without ever meeting the promoter threshold: "
                      + "; ".join(problems), commit)


def _run_plugins(ctx: Context) -> None:
    for _name, check in CHECKS:
        check(ctx)


def verify(root: Path | str = ".", base: str | None = None, *, at: datetime | None = None,
           remote: bool = False, deep: bool = False, full: bool = False) -> VerifyReport:
    """Check the work tree and the history since ``base``; every violation is reported.

    With a base (given, or the merge base with the default branch) only what changed since it is
    read, the rest trusted as the base had it (:mod:`dvc_pedata.verify.scope`); ``full`` reads
    the whole tree.
    """
    reg = Registry.find(root)
    base = gitio.rev_parse(reg.root, base) if base is not None else default_base(reg.root)
    ctx = Context(reg=reg, now=at or now(), base=base, options=VerifyOptions(remote=remote, deep=deep))
    try:
        reg.config  # noqa: B018 - every other check reads the settings; a broken file stops here
    except PedataError as exc:
        ctx.violation("pedata.json", str(exc).removeprefix("pedata.json: "))
        return VerifyReport(ctx.violations, dict(ctx.counts), base)
    if base is not None and not full:
        ctx.scope = open_scope(ctx)
        _load_tree(ctx, scoped_paths(ctx, ctx.scope))
    else:
        _load_tree(ctx)
    _check_roots(ctx)
    _check_tree(ctx)
    _load_history(ctx)
    _check_history(ctx)
    _run_plugins(ctx)
    # De-duplicate (a problem at HEAD is often also seen in the last history entry).
    seen: set[tuple[str, str]] = set()
    unique = []
    for v in ctx.violations:
        if (v.file, v.reason) not in seen:
            seen.add((v.file, v.reason))
            unique.append(v)
    return VerifyReport(unique, dict(ctx.counts), base)


def iter_lines(report: VerifyReport) -> Iterable[str]:
    for v in report.violations:
        yield str(v)

