"""Refuse to upload revoked bytes: ``publish``, ``mirror`` and ``adopt`` ask here before a push.

A purge (``revoke --purge``) deletes the DVC object from every store, but the bytes can come back:
``dvc repro`` rebuilds the same file, and a plain ``dvc push`` (which ``publish`` runs) would put
the purged object back in the remote, where ``fsck`` then reports ``revoked-present``. So every
command that uploads checks first, by the DVC object's md5 (known before any push, without hashing)
and by sha256 where it is known, against the work tree's ``tombstones/``.

Invariants:
- The check runs before the first upload of the command: a refusal pushes and writes nothing.
- A tombstone is matched by its file name (the revoked sha256) and by the md5s it records for the
  manifests it revoked (``manifests[].md5``: a file's object, a folder's ``.dir`` listing, or a
  file inside folders). Refusing on an unjudged tombstone is the safe direction: a forged one can
  only stop an upload, never cause one, and ``pedata verify`` reports it.
- No DVC import here (``publish`` already has DVC loaded; ``mirror`` and ``adopt`` too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dvc_pedata.errors import RevokedError
from dvc_pedata.registry.repo import Registry


@dataclass(frozen=True)
class Revoked:
    sha256: str
    tombstone: str  # registry-relative path of the tombstone
    date: str
    authority: str
    reason: str

    def describe(self) -> str:
        return f"{self.tombstone}: revoked on {self.date} by {self.authority}: {self.reason}"


class RevokedIndex:
    """The work tree's tombstones, indexed by revoked sha256 and by the DVC md5s they name."""

    def __init__(self, reg: Registry) -> None:
        self.by_sha: dict[str, Revoked] = {}
        self.by_md5: dict[str, Revoked] = {}
        for path in reg.iter_tombstone_paths():
            rel = reg.rel(path)
            try:
                signed = json.loads(path.read_bytes()).get("signed") or {}
            except (OSError, ValueError, AttributeError):
                signed = {}  # unreadable: still revokes the sha256 its name carries (verify reports it)
            if not isinstance(signed, dict):
                signed = {}
            info = Revoked(path.stem, rel, str(signed.get("date", "?")), str(signed.get("authority", "?")),
                           str(signed.get("reason", "?")))
            self.by_sha[path.stem] = info
            for m in signed.get("manifests") or []:
                if isinstance(m, dict) and isinstance(m.get("md5"), str):
                    self.by_md5.setdefault(m["md5"], info)

    def __bool__(self) -> bool:
        return bool(self.by_sha)

    def find(self, *, md5: str | None = None, sha256: str | None = None) -> Revoked | None:
        if sha256 and sha256 in self.by_sha:
            return self.by_sha[sha256]
        if md5 and md5 in self.by_md5:
            return self.by_md5[md5]
        return None


def refuse_upload(index: RevokedIndex, what: str, *, md5: str | None = None, sha256: str | None = None,
                  action: str = "upload", hint: str = "") -> None:
    """Raise :class:`RevokedError` (one line naming the tombstone) if these bytes are revoked."""
    hit = index.find(md5=md5, sha256=sha256)
    if hit is None:
        return
    raise RevokedError(
        f"{what} holds revoked bytes (sha256:{hit.sha256}; {hit.describe()}); refusing to {action} them"
        + (f"; {hint}" if hint else "")
    )


def revoked_item(index: RevokedIndex, *, md5: str | None = None, sha256: str | None = None) -> dict[str, Any] | None:
    """``{"sha256", "tombstone", "reason"}`` for a report line, or None when not revoked."""
    hit = index.find(md5=md5, sha256=sha256)
    if hit is None:
        return None
    return {"sha256": hit.sha256, "tombstone": hit.tombstone, "reason": hit.describe()}
