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
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from dvc_pedata.errors import IntegrityError
from dvc_pedata.model.canonical import canonical_bytes, digest, exact_int, pretty_bytes
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
    ordered = sorted(entries, key=lambda e: e.path)
    fast = _identity_bytes(ordered)
    return hashlib.sha256(fast if fast is not None else canonical_bytes(identity_list(ordered))).hexdigest()


# Entry by entry, without a dict per file: at 50,000 files the dicts and the generic serialiser
# cost 0.5 s and 40 MB, held beside ``dvc push``. Only for the plain field types the documents
# hold (a str path, hex digests, exact ints, None); anything else takes the generic path, and a
# property test checks both give the same bytes. json's C string encoder escapes exactly as
# RFC 8785 does (``"``, ``\\``, control characters, lowercase ``\u00xx``).
_quote = encode_basestring


def _identity_bytes(ordered: list[FileEntry]) -> bytes | None:
    """The canonical JSON of :func:`identity_list` for ``ordered`` (sorted), or None: generic path."""
    try:
        if not all(type(e.path) is str and type(e.sha256) is str and exact_int(e.size) for e in ordered):
            return None
        text = ",".join(f'{{"path":{_quote(e.path)},"sha256":{_quote(e.sha256)},"size":{e.size}}}' for e in ordered)
        return f"[{text}]".encode()
    except UnicodeEncodeError:
        return None  # a lone surrogate: the generic path phrases the error


def listing_documents(entries: list[FileEntry]) -> tuple[str, bytes]:
    """(sha256 of the canonical JSON, the pretty file form) of ``[e.to_json() for e in entries]``:
    the bytes :func:`canonical.digest` and :func:`canonical.pretty_bytes` give, written entry by
    entry (a folder's listing companion at 50,000 files)."""
    plain = all(type(e.path) is str and type(e.sha256) is str and exact_int(e.size)
                and (e.md5 is None or type(e.md5) is str) and (e.layout is None or exact_int(e.layout))
                and (e.rows is None or exact_int(e.rows)) for e in entries)
    if plain and entries:
        try:
            canon, pretty = [], []
            for e in entries:
                md5 = "null" if e.md5 is None else _quote(e.md5)
                path, sha = _quote(e.path), _quote(e.sha256)
                # keys sorted: layout, md5, path, rows, sha256, size (RFC 8785 and sort_keys agree on ASCII)
                c = "" if e.layout is None else f'"layout":{e.layout},'
                p = "" if e.layout is None else f'\n    "layout": {e.layout},'
                c += f'"md5":{md5},"path":{path},'
                p += f'\n    "md5": {md5},\n    "path": {path},'
                if e.rows is not None:
                    c += f'"rows":{e.rows},'
                    p += f'\n    "rows": {e.rows},'
                canon.append(f'{{{c}"sha256":{sha},"size":{e.size}}}')
                pretty.append(f'{{{p}\n    "sha256": {sha},\n    "size": {e.size}\n  }}')
            sha256 = hashlib.sha256(f"[{','.join(canon)}]".encode()).hexdigest()
            del canon
            return sha256, ("[\n  " + ",\n  ".join(pretty) + "\n]\n").encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: the generic path phrases the error
    listing = [e.to_json() for e in entries]
    return digest(listing), pretty_bytes(listing)


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
    dirs: set[str] = set()
    for p in seen:  # every folder prefix (str.find, not a Python step per character)
        i = p.find("/")
        while i != -1:
            dirs.add(p[:i])
            i = p.find("/", i + 1)
    clash = sorted(d for d in dirs if d in seen)
    if clash:
        raise IntegrityError(f"{where}: {clash[0]!r} is listed both as a file and as a folder")
