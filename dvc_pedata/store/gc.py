"""``pedata gc``: delete objects in a remote that nothing in the registry's history references.

Kept: the DVC object of every manifest ever committed on any branch or tag (manifests are the
registry's memory of every artifact version, pinned or not); every raw input any committed
``locks/inputs.manifest.json`` names (a release's replay restores its inputs by these md5s);
every object any committed ``.dvc`` or ``dvc.lock`` file names, and every output the work tree's
DVC files record (so ``dvc pull`` at any commit keeps working); the files DVC's ``.dir`` listings
of such folders name (read from the remote itself); and, checked separately as a last guard,
every object any release in history pins. Everything else in the remote is an orphan. Unlike
``dvc gc -c``, which keeps only the revisions named on its command line, this never drops an
object some old channel, release or replay still needs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import IntegrityError, PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.listing import listed_md5s
from dvc_pedata.publish.locks import INPUTS_LOCK
from dvc_pedata.registry.repo import Registry

# DVC files anywhere in the tree, at any depth (git's glob magic: "**/" also matches the top).
_DVC_FILES = (":(glob)**/*.dvc", ":(glob)**/dvc.lock")
_DVC_MD5_RE = re.compile(rb"\bmd5:[ \t]*['\"]?([0-9a-f]{32}(?:\.dir)?)\b")


@dataclass
class Orphan:
    md5: str
    size: int | None
    url: str
    status: str = "orphan"  # orphan (dry run) | deleted | failed
    reason: str | None = None


@dataclass
class GcReport:
    remote: str
    dry_run: bool
    kept: int = 0
    orphans: list[Orphan] = field(default_factory=list)

    @property
    def bytes_reclaimed(self) -> int:
        return sum(o.size or 0 for o in self.orphans if o.status == ("orphan" if self.dry_run else "deleted"))

    @property
    def ok(self) -> bool:
        return all(o.status != "failed" for o in self.orphans)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "remote": self.remote, "dry_run": self.dry_run, "kept": self.kept,
                "orphans": [asdict(o) for o in self.orphans], "bytes_reclaimed": self.bytes_reclaimed}


def _committed(reg: Registry, pathspecs: Sequence[str], wanted: Callable[[str], bool]) -> list[tuple[str, bytes]]:
    """(path, bytes) of every committed version of the matching files, on any branch or tag."""
    out: list[tuple[str, bytes]] = []
    if gitio.head(reg.root) is None:
        return out
    log = gitio.git(reg.root, "log", "--all", "--format=%x01%H", "--name-only", "--no-renames", "--diff-filter=AM", "--", *pathspecs)
    specs, commit = [], ""
    for line in log.splitlines():
        if line.startswith("\x01"):
            commit = line[1:]
        elif line and wanted(line):
            specs.append(f"{commit}:{line}")
    for spec, data in gitio.batch_read(reg.root, specs):
        if data is not None:
            out.append((spec.split(":", 1)[1], data))
    return out


def _history_blobs(reg: Registry, top: str) -> list[tuple[str, bytes]]:
    """(path, bytes) of every version of every file under ``top`` on any ref, plus the work tree."""
    out = _committed(reg, [top], lambda p: p.endswith(".json"))
    for p in sorted((reg.root / top).rglob("*.json")):
        out.append((reg.rel(p), p.read_bytes()))
    return out


def _loads(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _input_md5s(reg: Registry) -> set[str]:
    """md5 of every raw input any version of the inputs lock names (the work tree's too)."""
    blobs = _committed(reg, [INPUTS_LOCK], lambda p: p == INPUTS_LOCK)
    if (reg.root / INPUTS_LOCK).is_file():
        blobs.append((INPUTS_LOCK, (reg.root / INPUTS_LOCK).read_bytes()))
    out: set[str] = set()
    for _path, data in blobs:
        for entry in _loads(data).get("inputs") or []:
            if isinstance(entry, dict) and isinstance(entry.get("md5"), str):
                out.add(entry["md5"])
    return out


def _dvc_file_md5s(reg: Registry) -> set[str]:
    """Every ``md5:`` value in every committed ``.dvc`` and ``dvc.lock`` file (outs and deps)."""
    blobs = _committed(reg, _DVC_FILES, lambda p: p.endswith(".dvc") or p.rsplit("/", 1)[-1] == "dvc.lock")
    return {m.decode() for _path, data in blobs for m in _DVC_MD5_RE.findall(data)}


@dataclass
class Referenced:
    """What gc must keep: ``keep`` (every md5 named anywhere), of which ``release_pinned``, and
    ``listings``: ``.dir`` md5s whose files no manifest lists (gc reads them from the remote)."""

    keep: set[str]
    release_pinned: set[str]
    listings: set[str]


def referenced(reg: Registry) -> Referenced:
    """Every DVC object the registry's history refers to (see the module docstring)."""
    sha_to_md5: dict[str, set[str]] = {}
    keep: set[str] = set()

    for _path, data in _history_blobs(reg, layout.MANIFESTS):
        keep |= listed_md5s(data)  # a directory's files are objects of their own
        digest = _loads(data).get("digest") or {}
        if isinstance(digest, dict) and digest.get("md5"):
            keep.add(digest["md5"])
            sha_to_md5.setdefault(str(digest.get("sha256")), set()).add(digest["md5"])
    release_pinned: set[str] = set()
    for path, data in _history_blobs(reg, layout.RELEASES):
        signed = _loads(data).get("signed") or {}
        for name, pin in (signed.get("pins") or {}).items():
            sha = pin.get("sha256") if isinstance(pin, dict) else None
            if sha not in sha_to_md5:
                raise IntegrityError(
                    f"{path} pins {name!r} sha256 {sha} but no manifest in history names its DVC object;"
                    " refusing to collect garbage (run 'pedata verify')"
                )
            release_pinned |= sha_to_md5[sha]
    dvc = _dvc_file_md5s(reg)
    listings = {m for m in dvc if m.endswith(".dir")} - keep
    return Referenced(keep | release_pinned | _input_md5s(reg) | dvc, release_pinned, listings)


def gc(root: Path | str = ".", remote: str | None = None, *, dry_run: bool = False) -> GcReport:
    """List (and unless ``dry_run``, delete) the orphans in ``remote`` (default: the registry's)."""
    from dvc_pedata.dvcio.store import (
        StoreRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    reg = Registry.find(root)
    ref = referenced(reg)
    keep, release_pinned = ref.keep, ref.release_pinned
    with StoreRepo(reg.root) as repo:
        name = remote or reg.config.get("remote") or repo.default_remote()
        if name is None:
            raise PedataError("no remote: give --remote NAME")
        repo.remote_url(name)
        work = {md5 for _p, md5 in repo.workspace_outs()}
        keep |= work
        objects = repo.list_remote_objects(name)
        present = set(objects)
        for md5 in sorted(m for m in ref.listings | work if m.endswith(".dir") and m in present):
            keep |= repo.remote_listing_md5s(md5, name)  # a folder's files are objects of their own
        report = GcReport(name, dry_run)
        for md5 in objects:
            if md5 in keep:
                report.kept += 1
                continue
            assert md5 not in release_pinned  # keep ⊇ release_pinned: a release-pinned object is never an orphan
            orphan = Orphan(md5, repo.remote_object_size(md5, name), repo.object_url(md5, name))
            if not dry_run:
                try:
                    orphan.status = "deleted" if repo.delete_remote_object(md5, name) else "absent"
                except PedataError as exc:
                    orphan.status, orphan.reason = "failed", exc.message
            report.orphans.append(orphan)
    return report
