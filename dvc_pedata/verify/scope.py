"""``pedata verify --base B``: check what changed since B, trust the rest of the tree as B had it.

B is a commit that CI verified in full (the default branch); a pull request's verify then costs
what the pull request changed, not what the registry holds. The change set is content-based:
B against the *work tree* (staged, unstaged and committed changes alike; :func:`changed_paths`) under the
document folders, plus every untracked file there (``git ls-files --others``, ignored ones too:
an untracked forged manifest or a leftover temp file is a change like any other).

What is checked, exactly as a full verify checks it:

* every document that was added, modified or deleted since B (a deleted one is simply absent);
* every channel, release, tombstone and trust root in the tree, whatever changed: there are few
  of them, they carry the signatures, expiries and revocations (which change meaning with time or
  with a new root even when their bytes do not), so they are always judged in full, except that
* a pin is re-checked when the manifest it names changed (swapped, deleted, added) or when it
  differs from the same document's pin at B: an unchanged pin to an unchanged manifest held at B
  (a pull request that moves one pin of a 50-pin channel reads one manifest, not 50);
* manifests sharing a folder with a changed companion file (``.files.json``, ``.fields.json``), and
  every manifest describing bytes a tombstone revokes, join the checked set;
* a release whose bytes did not change gets the per-release tag checks only when its tags look
  different from what certification left (tag missing, lightweight, not on the commit that added
  the release, naming another digest, a GTO tag elsewhere) or when it is provisional (expiry):
  two git calls decide that for every release at once;
* history since B (append-only, immutability, rollbacks, forks, signatures at each commit) as
  before: that part of verify was already limited to ``B..HEAD``.

Anything else a check asks for (a manifest named by a changed channel's pin) is read on demand
from the work tree, where it has B's bytes. Unchanged manifests are never listed or read, which
is where a full verify spends its time on a large registry.

Full verify stays the default on the default branch (no base) and is forced by ``--full``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import digest, loads_strict
from dvc_pedata.model.companion import SUFFIXES, is_companion
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.layout import DOC_DIRS
from dvc_pedata.model.uri import gto_tag_name, tag_name
from dvc_pedata.registry.tags import TagInfo

if TYPE_CHECKING:
    from dvc_pedata.model.documents import Manifest
    from dvc_pedata.verify.core import Context

SMALL_DIRS = ("channels", "releases", "tombstones", "trust/root")  # always read whole


@dataclass
class Scope:
    """What changed between the base and the work tree, and the on-demand reads of the rest."""

    root: Path
    base: str
    changed: set[str]  # registry-relative paths under the document folders: added, modified, deleted, untracked
    _manifests: dict[str, Manifest | None] = field(default_factory=dict)
    _suspect_releases: set[str] | None = None
    _pins_at_base: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- questions the checks ask ------------------------------------------------------------
    def trusts_pin(self, doc_rel: str, ns: str, name: str, pin: dict[str, Any]) -> bool:
        """A pin that B's verify judged: to an unchanged manifest, in an unchanged document or
        equal to the same document's pin at B (a channel that moved one pin keeps the rest)."""
        if layout.manifest(ns, name, str(pin.get("sha256"))) in self.changed:
            return False
        return doc_rel not in self.changed or self._base_pins(doc_rel).get(name) == pin

    def _base_pins(self, doc_rel: str) -> dict[str, Any]:
        if doc_rel not in self._pins_at_base:
            pins: Any = {}
            data = gitio.show(self.root, self.base, doc_rel)
            try:
                signed = json.loads(data)["signed"] if data is not None else {}
                pins = signed.get("artifacts", signed.get("pins", {}))
            except (ValueError, TypeError, KeyError, AttributeError):
                pins = {}
            self._pins_at_base[doc_rel] = pins if isinstance(pins, dict) else {}
        return self._pins_at_base[doc_rel]

    def manifest(self, rel: str) -> Manifest | None:
        """An unchanged manifest read from the work tree (its bytes are B's); None if absent."""
        if rel in self.changed:
            return None  # added or modified ones are loaded (and judged) up front; deleted ones are gone
        if rel not in self._manifests:
            try:
                self._manifests[rel] = Manifest.load(self.root / rel, rel)
            except PedataError:
                self._manifests[rel] = None
        return self._manifests[rel]

    def strays(self, suffix: str, named: set[str]) -> list[str]:
        """Changed companion files of one kind that no checked manifest names (unchanged ones held at B)."""
        return sorted(r for r in self.changed if r.startswith("manifests/") and r.endswith(suffix)
                      and r not in named and (self.root / r).is_file())

    def checks_release(self, ctx: Context, rel: str) -> bool:
        """Whether the per-release tag and source-channel checks must run for ``rel``."""
        if rel in self.changed:
            return True
        r = ctx.releases.get(rel)
        if r is not None and r.status == "provisional":
            return True  # its expiry is judged against the clock
        if self._suspect_releases is None:
            self._suspect_releases = _suspect_releases(ctx)
        return rel in self._suspect_releases


# -- building the scope ----------------------------------------------------------------------
def changed_paths(root: Path, base: str, dirs: tuple[str, ...]) -> set[str]:
    """Paths under ``dirs`` that differ between ``base`` and the work tree, plus untracked ones.

    Base against the work tree is asked in two steps, base against the index and the index
    against the work tree: a path that differs between base and work tree differs in one of
    them, so their union holds every change (and at most a path changed and changed back).
    ``git diff BASE`` in one step lstat's the tracked files one by one (0.29 s at 100,000
    manifests, on tmpfs); ``git diff`` of the work tree does it on threads (0.12 s), and the
    index step reads no files (0.02 s)."""
    # --relative: paths relative to the registry (which may sit below the git top level), like ls-files'
    diff = ["diff", "--relative", "--no-renames", "--name-only", "-z"]
    staged, unstaged, others = gitio.git_concurrently(
        root,
        [*diff, "--cached", base, "--", *dirs],
        [*diff, "--", *dirs],
        ["ls-files", "--others", "-z", "--", *dirs],
    )
    out = set()
    for raw in (staged + unstaged + others).split(b"\0"):
        if raw:
            out.add(raw.decode("utf-8", "surrogateescape"))
    return out


def scoped_paths(ctx: Context, scope: Scope) -> list[Path]:
    """The files verify reads in scope: the small folders whole, changed manifests, and what they draw in."""
    root = ctx.reg.root
    paths: dict[str, Path] = {}
    for top in SMALL_DIRS:
        for p in sorted((root / top).rglob("*")):
            paths[p.relative_to(root).as_posix()] = p
    folders: set[str] = set()
    for rel in sorted(scope.changed):
        if not rel.startswith("manifests/"):
            continue
        p = root / rel
        if p.is_file():
            paths[rel] = p
        if is_companion(rel) or rel.endswith(SUFFIXES):
            folders.add(rel.rsplit("/", 1)[0])
    for folder in sorted(folders):  # a changed companion: the manifests beside it say whether it is named
        for p in sorted((root / folder).glob("*.json")):
            paths.setdefault(p.relative_to(root).as_posix(), p)
    for sha in sorted(_revoked_shas(root)):  # the tombstone checks need every manifest of the bytes they revoke
        for p in sorted((root / "manifests").glob(f"*/*/{sha}.json")):
            paths.setdefault(p.relative_to(root).as_posix(), p)
    return list(paths.values())


def _revoked_shas(root: Path) -> set[str]:
    out: set[str] = set()
    folder = root / "tombstones"
    if not folder.is_dir():
        return out
    for p in folder.glob("*.json"):
        out.add(p.stem)
        try:
            sha = json.loads(p.read_bytes()).get("signed", {}).get("artifact_sha256")
        except (ValueError, AttributeError, OSError):
            continue  # a broken tombstone is reported when it is loaded
        if isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
            out.add(sha)
    return {s for s in out if len(s) == 64 and all(c in "0123456789abcdef" for c in s)}


def _suspect_releases(ctx: Context) -> set[str]:
    """Releases whose tags differ from what certification left: one ``for-each-ref``, one ``log``."""
    root = ctx.reg.root
    tags: dict[str, TagInfo] = {}
    fmt = "%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objectname)%00%(contents)%01"
    for rec in gitio.git(root, "for-each-ref", f"--format={fmt}", "refs/tags", check=False).split("\x01"):
        parts = rec.lstrip("\n").split("\0")
        if len(parts) == 5:
            name, otype, obj, peeled, message = parts
            annotated = otype == "tag"
            tags[name] = TagInfo(name, obj, peeled if annotated else obj, annotated, message if annotated else "")
    first: dict[str, str] = {}
    log = gitio.git(root, "log", "--diff-filter=A", "--no-renames", "--format=%x01%H", "--name-only", "HEAD", "--", "releases", check=False)
    commit = ""
    for line in log.splitlines():
        if line.startswith("\x01"):
            commit = line[1:]
        elif line.strip():
            first[line.strip()] = commit  # newest first: the last seen is the commit that first added it
    at_first = dict(gitio.batch_read(root, [f"{first[rel]}:{rel}" for rel in ctx.releases if rel in first]))
    suspect: set[str] = set()
    for rel, r in ctx.releases.items():
        try:
            tag, gto = tags.get(tag_name(r.namespace, r.version)), tags.get(gto_tag_name(r.namespace, r.version))
        except Exception:  # noqa: BLE001 - a malformed version: let the full checks phrase it
            suspect.add(rel)
            continue
        c = first.get(rel)
        data = at_first.get(f"{c}:{rel}") if c else None
        try:
            named_ok = data is not None and tag is not None and tag.digest == digest(loads_strict(data, source=rel)["signed"])
        except Exception:  # noqa: BLE001 - unreadable at its first commit: the full checks say why
            named_ok = False
        if (c is None or tag is None or not tag.annotated or tag.commit != c or not named_ok
                or (gto is not None and gto.commit != tag.commit)):
            suspect.add(rel)
    return suspect


def open_scope(ctx: Context) -> Scope:
    assert ctx.base is not None
    return Scope(ctx.reg.root, ctx.base, changed_paths(ctx.reg.root, ctx.base, DOC_DIRS))
