"""A directory artifact's file listing as a reader sees it: loaded, checked, searched.

The listing lives inline in the manifest (``files.entries``) or in its content-addressed
``.files.json`` companion. :func:`load_listing` checks it against the manifest before anyone
uses it: the companion's digest, the count, the total size, and that the Merkle digest of the
entries is the pinned directory digest. A listing that passes cannot name a file the directory
does not hold. Building listings is :mod:`dvc_pedata.publish.dirmanifest`'s business.
"""

from __future__ import annotations

import json

from dvc_pedata.errors import DocumentError, IntegrityError, NotFoundError
from dvc_pedata.model.companion import FILES, Reader
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.formats import MEDIA_TYPES
from dvc_pedata.model.merkle import FileEntry, check_entries, directory_digest

MEDIA_TYPE = "inode/directory"


def is_directory(manifest: Manifest) -> bool:
    return manifest.format == "directory"


def load_listing(manifest: Manifest, read: Reader) -> list[FileEntry]:
    """The manifest's file entries, checked to belong to its directory digest.

    ``read(rel)`` returns a registry file's bytes (work tree or commit) or None.
    """
    where = f"{manifest.namespace}/{manifest.name} sha256:{manifest.sha256[:12]}"
    files = manifest.body.get("files")
    if not isinstance(files, dict):
        raise DocumentError(f"{where}: directory manifest has no file list")
    if "entries" in files:
        raw = files["entries"]
    else:
        _, raw = FILES.load(read, where, manifest.namespace, manifest.name, files.get("sidecar"), str(files.get("sidecar_sha256", "")))
    try:
        entries = [FileEntry.from_json(e) for e in raw]
    except (KeyError, TypeError, ValueError) as exc:
        raise DocumentError(f"{where}: malformed file entry ({exc})") from None
    check_entries(entries, where)
    if len(entries) != files.get("count"):
        raise IntegrityError(f"{where}: file list has {len(entries)} entries, the manifest says {files.get('count')}")
    actual = directory_digest(entries)
    if actual != manifest.sha256:
        raise IntegrityError(f"{where}: file list hashes to {actual}, not the pinned directory digest")
    if sum(e.size for e in entries) != manifest.size:
        raise IntegrityError(f"{where}: file sizes add up to {sum(e.size for e in entries)}, not {manifest.size}")
    return entries


def find_entry(entries: list[FileEntry], path: str, where: str) -> FileEntry:
    for e in entries:
        if e.path == path:
            return e
    prefix = path.rstrip("/") + "/"
    inside = [e.path for e in entries if e.path.startswith(prefix)]
    if inside:
        raise NotFoundError(f"{where}: {path!r} is a folder inside the artifact ({len(inside)} files); name one file")
    raise NotFoundError(f"{where}: no file {path!r} in the directory ({len(entries)} files)")


def file_view(manifest: Manifest, entry: FileEntry) -> Manifest:
    """One file of a directory artifact seen as a file manifest (for ``schema`` and ``diff``).

    Its schema is its layout's (files with one fingerprint share one schema) with its own row
    count; the name carries the ``;path=`` qualifier so output never passes it off as the folder.
    """
    layouts = manifest.schema.get("layouts", [])
    layout = layouts[entry.layout] if entry.layout is not None and entry.layout < len(layouts) else {}
    schema = dict(layout.get("schema") or {})
    schema["rows"] = entry.rows
    fmt = str(layout.get("format") or "unknown")
    body = {
        "namespace": manifest.namespace, "name": f"{manifest.name};path={entry.path}", "size": entry.size,
        "format": fmt, "media_type": MEDIA_TYPES.get(fmt, "application/octet-stream"),
        "digest": {"sha256": entry.sha256, **({"md5": entry.md5} if entry.md5 else {})},
        "schema": schema, "inputs": {}, "licence": manifest.body.get("licence"),
    }
    return Manifest(body)


def format_text(manifest: Manifest) -> str:
    """``pedata schema`` text for a directory: its size, then one block per layout."""
    s = manifest.schema
    lines = [
        f"{manifest.namespace}/{manifest.name}  sha256:{manifest.sha256}",
        f"format: directory  files: {s.get('file_count')}  size: {manifest.size} bytes  licence: {manifest.licence or 'unspecified'}",
    ]
    if s.get("rows") is not None:
        lines.append(f"rows (all files): {s['rows']}")
    for i, g in enumerate(s.get("layouts", [])):
        fp = (g.get("fingerprint") or "-")[:12]
        lines.append(f"layout {i}: {g['files']} {g['format']} files, fingerprint {fp}, rows {g.get('rows')} (e.g. {g['example']})")
        for ent, n in sorted(g.get("entities", {}).items()):
            lines.append(f"  entity {ent}: {n} rows")
        fields = g.get("schema", {}).get("fields", [])
        if fields:
            lines.append("  columns: " + ", ".join(f"{f['name']}:{f['type']}" for f in fields[:40]) + (" ..." if len(fields) > 40 else ""))
    return "\n".join(lines)


def members_with(manifest: Manifest, read: Reader, sha256: str) -> list[str]:
    """Paths of the files in directory ``manifest`` whose bytes are ``sha256`` (for revocation)."""
    if not is_directory(manifest):
        return []
    return [e.path for e in load_listing(manifest, read) if e.sha256 == sha256]


def listed_md5s(data: bytes) -> set[str]:
    """md5s of the files a directory manifest or ``.files.json`` lists (raw bytes; for ``gc``).

    A folder's files are separate DVC objects that the ``<md5>.dir`` digest alone does not name,
    so garbage collection must keep them explicitly.
    """
    try:
        obj = json.loads(data)
    except ValueError:
        return set()
    if isinstance(obj, dict):
        obj = (obj.get("files") or {}).get("entries") if isinstance(obj.get("files"), dict) else None
    if not isinstance(obj, list):
        return set()
    return {str(e["md5"]) for e in obj if isinstance(e, dict) and e.get("md5")}
