"""What purging a revoked sha256 removes, decided in one place for ``revoke --purge`` and ``fsck``.

A tombstone names one sha256. The DVC objects that hold those bytes (the *targets*) are:

- a single-file artifact: its DVC object (the manifest's md5);
- a directory artifact: DVC's ``<md5>.dir`` listing of the folder and the object of every file
  the verified listing names, except a file whose bytes another artifact that is *not* revoked
  also holds (same md5, in another manifest of the registry or another DVC output of the work
  tree): those are *kept* and recorded so. The tombstone revokes the folder's digest, not each
  member's sha256, and the resolver keeps serving such a file through the other artifact; deleting
  it would break that artifact's ``dvc pull`` and fsck. A member that is itself revoked (its own
  tombstone) is always a target. To take one file's bytes back everywhere, revoke that file
  (``;path=``);
- one file inside directory artifacts (``;path=``): its object, wherever it occurs, shared or not
  (bytes are revoked by sha256, everywhere they occur).

Each target is also a resolver-cache object (``sha256/``) when it has a sha256 (a ``.dir`` listing
has none), and every cached tree (``trees/<dir sha256>`` and its ``.json``) that holds a target, or
is the revoked folder's own, must go with it: its hard links keep the bytes alive.

``fsck`` reports a target still present as ``revoked-present``; a kept object is not reported.
No DVC import here: the work tree's DVC outputs arrive as :class:`WorkOut` (read via ``dvcio``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base.atomic import TMP_PREFIX
from dvc_pedata.errors import NotFoundError
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.listing import is_directory, load_listing
from dvc_pedata.model.merkle import FileEntry
from dvc_pedata.registry.repo import Registry


@dataclass(frozen=True)
class Target:
    """One DVC object a purge deletes, and the URI that names its bytes in findings."""

    md5: str | None  # None: bytes with no DVC object (an external pin), only in the resolver cache
    sha256: str | None  # the resolver-cache object; None for DVC's ``.dir`` listing
    uri: str
    namespace: str


@dataclass(frozen=True)
class Kept:
    """A member of a revoked folder left in place because an unrevoked artifact holds the same bytes."""

    path: str
    md5: str
    sha256: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "md5": self.md5, "sha256": self.sha256, "reason": self.reason}


@dataclass(frozen=True)
class WorkOut:
    """A DVC output the registry's work tree records: a file, or a folder with its ``(relpath, md5)`` files."""

    path: str
    md5: str
    files: tuple[tuple[str, str], ...] | None = None  # a folder whose listing is known

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


@dataclass
class PurgePlan:
    sha256: str
    targets: list[Target] = field(default_factory=list)  # one per distinct md5 (or sha256 without one)
    kept: list[Kept] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)  # revoked folders: their cached trees go whole

    @property
    def md5s(self) -> list[str]:
        return [t.md5 for t in self.targets if t.md5]

    @property
    def sha256s(self) -> set[str]:
        return {t.sha256 for t in self.targets if t.sha256}


class Manifests:
    """Every manifest of the registry, each directory listing loaded once."""

    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.read = registry_reader(reg.root)
        self.all = [Manifest.load(p, reg.rel(p)) for p in reg.iter_manifest_paths()]
        self._listings: dict[str, list[FileEntry]] = {}

    def listing(self, m: Manifest) -> list[FileEntry]:
        if m.digest not in self._listings:
            self._listings[m.digest] = load_listing(m, self.read)
        return self._listings[m.digest]

    def folder_files(self, dir_md5: str) -> tuple[tuple[str, str], ...] | None:
        """``(relpath, md5)`` of the folder whose DVC listing is ``dir_md5``, from a manifest that names it."""
        for m in self.all:
            if is_directory(m) and m.md5 == dir_md5:
                return tuple((e.path, e.md5) for e in self.listing(m) if e.md5)
        return None


def _uri(m: Manifest, path: str | None = None) -> str:
    return f"pedata://{m.namespace}/{m.name}@sha256:{m.sha256}" + (f";path={path}" if path else "")


def work_outs(repo: Any, reg: Registry, manifests: Manifests | None = None) -> list[WorkOut]:
    """The work tree's DVC outputs; a folder's files from DVC's listing in the local cache, else
    from a directory manifest with the same ``.dir`` md5 (``repo`` is a :class:`dvc_pedata.dvcio.store.StoreRepo`)."""
    out = []
    for path, md5 in repo.workspace_outs():
        files = None
        if md5.endswith(".dir"):
            try:
                files = tuple(repo.dir_entries(md5))
            except (NotFoundError, ValueError, KeyError, TypeError):
                manifests = manifests or Manifests(reg)
                files = manifests.folder_files(md5)
        out.append(WorkOut(path, md5, files))
    return out


def revoked_shas(reg: Registry) -> set[str]:
    return {p.stem for p in reg.iter_tombstone_paths()}


def plan(reg: Registry, sha256: str, outs: Iterable[WorkOut], *, manifests: Manifests | None = None,
         tombstoned: set[str] | None = None) -> PurgePlan:
    """The objects purging ``sha256`` deletes (see the module docstring)."""
    ms = manifests or Manifests(reg)
    revoked = (tombstoned if tombstoned is not None else revoked_shas(reg)) | {sha256}
    outs = list(outs)
    result = PurgePlan(sha256)
    seen: set[str] = set()
    kept: set[str] = set()

    def add(md5: str | None, sha: str | None, uri: str, ns: str) -> None:
        key = md5 or f"sha256:{sha}"
        if (md5 or sha) and key not in seen:
            seen.add(key)
            result.targets.append(Target(md5, sha, uri, ns))

    own = [m for m in ms.all if m.sha256 == sha256]
    if own:
        uses: dict[str, str] | None = None
        for m in own:
            if not is_directory(m):
                add(m.md5, sha256, _uri(m), m.namespace)
                continue
            result.directories.append(sha256)
            if m.md5:
                add(m.md5, None, _uri(m), m.namespace)  # DVC's listing of the folder
            if uses is None:
                uses = _other_uses(ms, revoked, {x.md5 for x in own if x.md5}, outs)
            for e in ms.listing(m):
                if (e.md5 or f"sha256:{e.sha256}") in seen:
                    continue
                other = uses.get(e.md5) if e.md5 and e.sha256 not in revoked else None
                if other is not None:
                    if e.md5 and e.md5 not in kept:
                        kept.add(e.md5)
                        result.kept.append(Kept(e.path, e.md5, e.sha256, f"also in {other}, which is not revoked"))
                    continue
                add(e.md5, e.sha256, _uri(m, e.path), m.namespace)
        return result
    for m in ms.all:  # one file inside directory artifacts: its bytes wherever they occur
        if is_directory(m):
            for e in ms.listing(m):
                if e.sha256 == sha256:
                    add(e.md5, sha256, _uri(m, e.path), m.namespace)
    return result


def _other_uses(ms: Manifests, revoked: set[str], own_md5s: set[str], outs: list[WorkOut]) -> dict[str, str]:
    """md5 -> what else, not revoked, holds those bytes: another artifact's URI or a work-tree DVC output."""
    uses: dict[str, str] = {}
    for m in ms.all:
        if m.sha256 in revoked:
            continue
        if is_directory(m):
            for e in ms.listing(m):
                if e.md5 and e.sha256 not in revoked:
                    uses.setdefault(e.md5, _uri(m, e.path))
        elif m.md5:
            uses.setdefault(m.md5, _uri(m))
    for o in outs:
        if o.md5 in own_md5s:
            continue  # the revoked folder itself, as the work tree holds it
        if o.files is None:
            uses.setdefault(o.md5, f"the DVC output {o.path}")
        else:
            for rel, md5 in o.files:
                uses.setdefault(md5, f"the DVC output {o.path}/{rel}")
    return uses


# -- the resolver cache's trees --------------------------------------------------------------------
def trees_holding(root: Path, shas: set[str], directories: Iterable[str]) -> list[tuple[Path, set[str]]]:
    """Cached trees (``trees/<dir sha256>``) that hold any of ``shas`` (returned with them) or are
    one of ``directories`` (returned with an empty set).

    A tree's ``.json`` lists what it holds; a tree without one (a builder killed before writing it)
    is matched by name. Staged trees a killed builder left (``.pedata-tmp-tree-<sha12>-…``) of a
    revoked folder are included too.
    """
    trees = root / "trees"
    if not trees.is_dir():
        return []
    dirs = set(directories)
    found: dict[str, tuple[Path, set[str]]] = {}
    for listing in sorted(trees.glob("*.json")):
        tree = listing.with_suffix("")
        if tree.name in dirs:
            found[tree.name] = (tree, set())
            continue
        try:
            held = {str(e.get("sha256")) for e in json.loads(listing.read_bytes()) if isinstance(e, dict)}
        except (OSError, ValueError, TypeError):
            continue
        if held & shas:
            found[tree.name] = (tree, held & shas)
    for d in dirs:
        if (trees / d).is_dir():
            found.setdefault(d, (trees / d, set()))
        for stale in trees.glob(f"{TMP_PREFIX}tree-{d[:12]}-*"):
            found.setdefault(stale.name, (stale, set()))
    return [found[k] for k in sorted(found)]
