"""``pedata gc``: delete objects in a remote that nothing in the registry's history references.

Kept: the DVC object of every manifest ever committed on any branch or tag (manifests are the
registry's memory of every artifact version, pinned or not), every output the work tree's DVC
files record (so ``dvc pull`` at HEAD keeps working), and, checked separately as a last guard,
every object any release in history pins. Everything else in the remote is an orphan. Unlike
``dvc gc -c``, which keeps only the revisions named on its command line, this never drops an
object some old channel or release still names.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import gitio
from .errors import IntegrityError, PedataError
from .registry import Registry


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


def _history_blobs(reg: Registry, top: str) -> list[tuple[str, bytes]]:
    """(path, bytes) of every version of every file under ``top`` on any ref, plus the work tree."""
    out: list[tuple[str, bytes]] = []
    if gitio.head(reg.root) is not None:
        log = gitio.git(reg.root, "log", "--all", "--format=%x01%H", "--name-only", "--no-renames", "--diff-filter=AM", "--", top)
        specs, commit = [], ""
        for line in log.splitlines():
            if line.startswith("\x01"):
                commit = line[1:]
            elif line.endswith(".json"):
                specs.append(f"{commit}:{line}")
        for spec, data in gitio.batch_read(reg.root, specs):
            if data is not None:
                out.append((spec.split(":", 1)[1], data))
    for p in sorted((reg.root / top).rglob("*.json")):
        out.append((reg.rel(p), p.read_bytes()))
    return out


def _loads(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def referenced(reg: Registry) -> tuple[set[str], set[str]]:
    """(md5 of every manifest in history, md5 of every object a release in history pins)."""
    sha_to_md5: dict[str, set[str]] = {}
    keep: set[str] = set()
    from .dirmanifest import listed_md5s

    for _path, data in _history_blobs(reg, "manifests"):
        keep |= listed_md5s(data)  # a directory's files are objects of their own
        digest = _loads(data).get("digest") or {}
        if isinstance(digest, dict) and digest.get("md5"):
            keep.add(digest["md5"])
            sha_to_md5.setdefault(str(digest.get("sha256")), set()).add(digest["md5"])
    release_pinned: set[str] = set()
    for path, data in _history_blobs(reg, "releases"):
        signed = _loads(data).get("signed") or {}
        for name, pin in (signed.get("pins") or {}).items():
            sha = pin.get("sha256") if isinstance(pin, dict) else None
            if sha not in sha_to_md5:
                raise IntegrityError(
                    f"{path} pins {name!r} sha256 {sha} but no manifest in history names its DVC object;"
                    " refusing to collect garbage (run 'pedata verify')"
                )
            release_pinned |= sha_to_md5[sha]
    return keep | release_pinned, release_pinned


def gc(root: Path | str = ".", remote: str | None = None, *, dry_run: bool = False) -> GcReport:
    """List (and unless ``dry_run``, delete) the orphans in ``remote`` (default: the registry's)."""
    from .dvcio import StoreRepo

    reg = Registry.find(root)
    keep, release_pinned = referenced(reg)
    with StoreRepo(reg.root) as repo:
        name = remote or reg.config.get("remote") or repo.default_remote()
        if name is None:
            raise PedataError("no remote: give --remote NAME")
        repo.remote_url(name)
        keep |= {md5 for _p, md5 in repo.workspace_outs()}
        objects = repo.list_remote_objects(name)
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
