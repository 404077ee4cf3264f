"""``pedata mirror --to REMOTE``: copy every pinned, unrevoked payload to another DVC remote.

Each object is staged locally, checked against the pinned sha256 (a corrupt source never spreads),
uploaded, and read back from the destination and hashed again. Objects already in the
destination with the pinned size are skipped, so re-running is cheap and a run killed half way
resumes where it stopped; ``pedata fsck --remote REMOTE --deep`` proves the result. A copy of the
wrong size is replaced (``repaired``); ``deep=True`` (``--deep``) also re-hashes the copies already
there and replaces those whose sha256 is wrong, e.g. a flipped byte, which size cannot show.

Revoked bytes are never copied: a pin with a tombstone, and any object whose md5 or sha256 a
tombstone names (``revoked_guard``: e.g. a folder member revoked with ``;path=``, or bytes a
rebuild pushed back after a purge), is reported ``revoked`` with the tombstone's path and left alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.errors import PedataError, UsageError
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.revoked import RevokedIndex, revoked_item
from dvc_pedata.store.pinset import folder_files, pinned, pinned_folders


@dataclass
class MirrorItem:
    uri: str
    status: str  # copied | repaired | present | revoked | failed
    url: str | None = None
    size: int = 0
    reason: str | None = None


@dataclass
class MirrorReport:
    source: str
    target: str
    items: list[MirrorItem] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    @property
    def bytes_copied(self) -> int:
        return sum(i.size for i in self.items if i.status in ("copied", "repaired"))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "from": self.source, "to": self.target, "bytes_copied": self.bytes_copied,
                **{s: self.count(s) for s in ("copied", "repaired", "present", "revoked", "failed")},
                "items": [asdict(i) for i in self.items]}


def mirror(
    to: str, root: Path | str = ".", *, namespace: str | None = None, source: str | None = None, deep: bool = False
) -> MirrorReport:
    """Copy what channels and releases pin (optionally one namespace) from ``source`` to ``to``.

    ``deep``: hash the objects ``to`` already holds too, and replace those with the wrong sha256.
    """
    from dvc_pedata.dvcio.store import (
        StoreRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    reg = Registry.find(root)
    pins = pinned(reg, namespace)
    with StoreRepo(reg.root) as repo:
        src = source or reg.config.get("remote") or repo.default_remote()
        if src is None:
            raise UsageError("no source remote: set 'remote' in pedata.json or give --from")
        repo.remote_url(to)
        repo.remote_url(src)
        if to == src:
            raise UsageError(f"--to {to!r} is the source remote itself")
        report = MirrorReport(src, to)
        staging = reg.state_dir / "mirror"
        tombstones = RevokedIndex(reg)
        for p in pins:
            hit = revoked_item(tombstones, md5=p.md5, sha256=p.sha256)
            if hit is not None:  # the pin's own tombstone, or one naming the same DVC object
                report.items.append(MirrorItem(p.uri, "revoked", reason=hit["reason"]))
                continue
            if p.revoked is not None:
                report.items.append(MirrorItem(p.uri, "revoked", reason=f"revoked on {p.revoked['date']} by {p.revoked['authority']}"))
                continue
            assert p.md5 is not None
            try:
                got = repo.copy_object(p.md5, p.sha256, p.size, src, to, staging, deep=deep)
            except PedataError as exc:
                report.items.append(MirrorItem(p.uri, "failed", reason=exc.message))
                continue
            report.items.append(MirrorItem(p.uri, got.status, got.url, got.size))
        for ns, name, sha in pinned_folders(pins):  # after the files: a listing in the mirror promises them
            report.items.append(_copy_listing(repo, reg, ns, name, sha, src, to, staging, tombstones))
    return report


def _copy_listing(repo: Any, reg: Registry, ns: str, name: str, sha256: str, src: str, to: str, staging: Path,
                  tombstones: RevokedIndex) -> MirrorItem:
    """DVC's ``.dir`` listing of a pinned folder, so ``dvc pull`` of the folder works from ``to``."""
    uri = f"pedata://{ns}/{name}@sha256:{sha256}"
    hit = revoked_item(tombstones, sha256=sha256)
    if hit is not None:
        return MirrorItem(uri, "revoked", reason=hit["reason"])
    try:
        md5, files = folder_files(reg, ns, name, sha256)
        hit = revoked_item(tombstones, md5=md5)
        if hit is not None:
            return MirrorItem(uri, "revoked", reason=hit["reason"])
        got = repo.copy_listing(md5, files, src, to, staging)
    except PedataError as exc:
        return MirrorItem(uri, "failed", reason=exc.message)
    return MirrorItem(uri, got.status, got.url, got.size)
