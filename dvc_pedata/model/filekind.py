"""A file's format from its name and, when the bytes are at hand, from its content.

``pedata import-bundle`` knows only names (the bytes are still on Hugging Face); ``pedata adopt``
has the verified bytes and lets their content decide when the name says nothing (``binary``) or
something the content contradicts. Content signatures: HDF5's superblock signature
``\\x89HDF\\r\\n\\x1a\\n`` (at offset 0, or 512, 1024, 2048… after a user block), Parquet's ``PAR1``
at both ends, and JSON that parses (checked on files up to :data:`JSON_SNIFF_LIMIT` bytes).

Formats are the manifest's ``format`` values: ``parquet``, ``hdf5``, ``csv``, ``json`` (no
schema is read from it; PolicyEngine bundles carry JSON release and diagnostics files) and
``binary``.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

BY_SUFFIX = {
    ".h5": ("hdf5", "application/x-hdf5"), ".hdf5": ("hdf5", "application/x-hdf5"),
    ".parquet": ("parquet", "application/vnd.apache.parquet"), ".csv": ("csv", "text/csv"),
    ".json": ("json", "application/json"), ".npz": ("binary", "application/octet-stream"),
}
MEDIA = {fmt: media for fmt, media in BY_SUFFIX.values() if fmt != "binary"}
BINARY = ("binary", "application/octet-stream")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
JSON_SNIFF_LIMIT = 64 << 20  # parsing is the only sure test; past this size a .json name must do


def by_name(name: str) -> tuple[str, str]:
    """(format, media type) that a file name's suffix states; ``binary`` when it states nothing known."""
    return BY_SUFFIX.get(PurePosixPath(name).suffix.lower(), BINARY)


def _is_hdf5(path: Path, size: int) -> bool:
    with path.open("rb") as fh:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _is_parquet(path: Path, size: int) -> bool:
    if size < 12:
        return False
    with path.open("rb") as fh:
        head = fh.read(4)
        fh.seek(size - 4)
        return head == b"PAR1" and fh.read(4) == b"PAR1"


def _is_json(path: Path, size: int) -> bool:
    if size == 0 or size > JSON_SNIFF_LIMIT:
        return False
    with path.open("rb") as fh:
        first = fh.read(64).lstrip()
        if first[:1] not in (b"{", b"["):
            return False
        fh.seek(0)
        try:
            json.load(fh)
        except (ValueError, UnicodeDecodeError):
            return False
    return True


def by_content(path: Path) -> tuple[str, str] | None:
    """(format, media type) the bytes prove, or None when they prove none of HDF5, Parquet, JSON."""
    size = path.stat().st_size
    if _is_hdf5(path, size):
        return "hdf5", MEDIA["hdf5"]
    if _is_parquet(path, size):
        return "parquet", MEDIA["parquet"]
    if _is_json(path, size):
        return "json", MEDIA["json"]
    return None


def of_file(path: Path, stated: str) -> str:
    """The format to describe ``path`` as: the content's when it proves one, else the ``stated`` one.

    A stated ``csv`` is kept (CSV has no signature); ``directory`` is never a file's.
    """
    found = by_content(path)
    if found is None or stated == "csv":
        return stated
    return found[0]
