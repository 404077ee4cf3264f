"""The identity of a directory artifact: a Merkle digest anyone can recompute without pedata.

Rule (documented with a standard-library snippet in ``docs/directory-artifacts.md``)::

    sha256( RFC 8785 canonical JSON of [{"path": p, "sha256": h, "size": n}, ...] )

one entry per regular file, ``path`` relative to the folder with ``/`` separators, the list
sorted by ``path`` (Python's string order, which equals the UTF-8 byte order). DVC's own ``.dir``
object is md5-based and lists md5s; this digest gives the folder the same sha256 footing as a
single-file artifact, so a release pin means the same thing for a file and for a folder.

No DVC import here: the resolver checks directory listings on its cache-hit path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dvc_pedata.errors import IntegrityError
from dvc_pedata.model.canonical import canonical_bytes
from dvc_pedata.model.names import check_sha256
from dvc_pedata.model.uri import check_inner_path

IDENTITY_KEYS = ("path", "sha256", "size")


@dataclass(frozen=True)
class FileEntry:
    """One file of a directory artifact: its identity fields plus where DVC keeps its bytes."""

    path: str
    sha256: str
    size: int
    md5: str | None = None  # DVC object name; not part of the identity
    layout: int | None = None  # index into the manifest's schema.layouts
    rows: int | None = None

    def identity(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "size": self.size, "md5": self.md5}
        if self.layout is not None:
            out["layout"] = self.layout
        if self.rows is not None:
            out["rows"] = self.rows
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FileEntry:
        return cls(
            str(obj["path"]), str(obj["sha256"]), int(obj["size"]), obj.get("md5"),
            obj.get("layout"), obj.get("rows"),
        )


def identity_list(entries: Iterable[FileEntry]) -> list[dict[str, Any]]:
    """The list the digest is taken over: identity fields only, sorted by path."""
    return [e.identity() for e in sorted(entries, key=lambda e: e.path)]


def directory_digest(entries: Iterable[FileEntry]) -> str:
    """sha256 of the canonical JSON of the sorted ``{path, sha256, size}`` list."""
    return hashlib.sha256(canonical_bytes(identity_list(entries))).hexdigest()


def check_entries(entries: list[FileEntry], where: str) -> None:
    """Paths safe and unique, digests well formed, sizes non-negative: a listing we can trust to walk."""
    seen: set[str] = set()
    for e in entries:
        try:
            check_inner_path(e.path)
            check_sha256(e.sha256)
        except Exception as exc:  # InvalidNameError / URIError: both PedataError
            raise IntegrityError(f"{where}: bad file entry {e.path!r}: {exc}") from None
        if e.size < 0:
            raise IntegrityError(f"{where}: bad size for {e.path!r}")
        if e.path in seen:
            raise IntegrityError(f"{where}: {e.path!r} listed twice")
        seen.add(e.path)
    dirs = {p[:i] for p in seen for i, ch in enumerate(p) if ch == "/"}
    clash = sorted(d for d in dirs if d in seen)
    if clash:
        raise IntegrityError(f"{where}: {clash[0]!r} is listed both as a file and as a folder")
