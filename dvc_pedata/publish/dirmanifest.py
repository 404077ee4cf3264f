"""Manifests of directory artifacts: per-file digests, one schema per file layout, the listing check.

A directory manifest is an ordinary manifest with ``format: directory`` whose ``digest.sha256`` is
the Merkle digest of :mod:`merkle`, ``digest.md5`` DVC's ``<md5>.dir`` object, ``size`` the sum of
the file sizes, and two extra parts:

``files``
    ``{count, entries: [{path, sha256, size, md5, layout, rows}]}`` inline for up to
    ``INLINE_LIMIT`` files; beyond that ``{count, sidecar, sidecar_sha256}``, the entries living in
    ``manifests/<ns>/<name>/<sidecar_sha256>.files.json``: a content-addressed file (its name is
    the sha256 of its canonical JSON) so the manifest stays a few KB and still pins it exactly.
``schema``
    ``{file_count, rows, layouts: [...], fingerprint}``: files whose sidecar fingerprints agree
    share one layout entry (format, fingerprint, file count, total rows per entity, the schema of
    one example file), so 650 constituency files with one layout cost one schema, not 650.

Whoever loads a listing (:func:`load_listing`) checks it against the manifest: the sidecar's
digest, the count, the total size, and that the Merkle digest of the entries is the pinned
directory digest. A listing that passes cannot name a file the directory does not hold.

No DVC import at module level: the resolver loads listings on its cache-hit path.
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvc_pedata.base.hashing import FileDigest, HashState, hash_file
from dvc_pedata.base.progress import bar
from dvc_pedata.model.canonical import digest
from dvc_pedata.model.companion import FILES
from dvc_pedata.model.documents import Manifest, new_body
from dvc_pedata.model.dvcfacts import OutLike
from dvc_pedata.model.listing import MEDIA_TYPE
from dvc_pedata.model.merkle import FileEntry, check_entries, directory_digest

if TYPE_CHECKING:
    from dvc_pedata.publish.manifests import LockState

INLINE_LIMIT = 1000  # more files than this: the listing goes to its own content-addressed file


def _hash_all(root: Path, rels: list[str], state: HashState) -> tuple[dict[str, FileDigest], bool]:
    """sha256 of every file; memoised ones cost a stat, the rest are hashed on a few threads.

    hashlib releases the GIL for large updates, so threads overlap on big files; the sqlite memo
    is only touched from this thread.
    """
    out: dict[str, FileDigest] = {}
    todo: list[str] = []
    for rel in rels:
        hit = state.lookup(root / rel)
        if hit is not None:
            out[rel] = hit
        else:
            todo.append(rel)
    total = sum(os.stat(root / r).st_size for r in todo)
    with bar(f"sha256 {len(todo)} files", total) as advance, concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = {pool.submit(lambda r: (os.stat(root / r), hash_file(root / r)), rel): rel for rel in todo}
        for fut in concurrent.futures.as_completed(futures):
            rel = futures[fut]
            st, fd = fut.result()
            out[rel] = fd
            state.record(root / rel, fd, st)
            if advance is not None:
                advance(fd.size)
    return out, not todo


def _layouts(folder: Path, entries: list[FileEntry], meta: dict[str, Any]) -> tuple[list[FileEntry], list[dict[str, Any]]]:
    """Describe every file from its metadata and group files by (format, schema fingerprint)."""
    from dvc_pedata.publish.manifests import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
        describe_file,
    )

    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    assigned: list[tuple[FileEntry, tuple[str, str | None], int | None]] = []
    for e in entries:
        fmt, media_type, schema = describe_file(folder / e.path, meta)
        key = (fmt, schema.get("fingerprint"))
        rows = schema.get("rows")
        g = groups.get(key)
        if g is None:
            example = {k: v for k, v in schema.items() if k != "stats"}
            g = groups[key] = {
                "format": fmt, "media_type": media_type, "fingerprint": key[1], "files": 0,
                "rows": None, "entities": {}, "example": e.path, "schema": example,
            }
        g["files"] += 1
        if isinstance(rows, int):
            g["rows"] = (g["rows"] or 0) + rows
        for ent, info in (schema.get("entities") or {}).items():
            if isinstance(info.get("rows"), int):
                g["entities"][ent] = g["entities"].get(ent, 0) + info["rows"]
        assigned.append((e, key, rows if isinstance(rows, int) else None))
    ordered = sorted(groups, key=lambda k: groups[k]["example"])
    index = {k: i for i, k in enumerate(ordered)}
    out = [FileEntry(e.path, e.sha256, e.size, e.md5, index[k], rows) for e, k, rows in assigned]
    return out, [groups[k] for k in ordered]


def directory_schema(layouts: list[dict[str, Any]], count: int) -> dict[str, Any]:
    rows = [g["rows"] for g in layouts if g["rows"] is not None]
    return {
        "file_count": count,
        "rows": sum(rows) if rows else None,
        "layouts": layouts,
        "fingerprint": digest([g["fingerprint"] for g in layouts]),
    }


def build_directory_manifest(
    *,
    repo: Any,
    state: HashState,
    root: Path,
    namespace: str,
    name: str,
    out: OutLike,
    meta: dict[str, Any],
    git_commit: str | None,
    licence: str | None,
    inline_limit: int = INLINE_LIMIT,
    locks: LockState | None = None,
) -> tuple[Manifest, FileDigest, bool, dict[str, bytes]]:
    """(manifest, identity, all-memoised?, extra files to write) for the DVC folder out ``out``.

    The file list comes from DVC's ``.dir`` object (so ``.dvcignore`` and DVC agree with us);
    the caller has already checked that the workspace matches it. ``locks``: the publish's
    :func:`manifest.read_locks` (read again when None).
    """
    from dvc_pedata.publish.manifests import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
        build_inputs,
        producer_of,
    )

    assert out.md5 is not None
    folder = root / out.path
    dvc_list = sorted(repo.dir_entries(out.md5))
    rels = [rel for rel, _ in dvc_list]
    digests, cached = _hash_all(folder, rels, state)
    entries = [FileEntry(rel, digests[rel].sha256, digests[rel].size, md5) for rel, md5 in dvc_list]
    check_entries(entries, f"{out.path}")
    entries, layouts = _layouts(folder, entries, meta)
    dir_sha = directory_digest(entries)
    total = sum(e.size for e in entries)
    listing = [e.to_json() for e in entries]
    extra: dict[str, bytes] = {}
    if len(entries) > inline_limit:
        listing_sha, rel, data = FILES.write(namespace, name, listing)
        files: dict[str, Any] = {"count": len(entries), "sidecar": FILES.filename(listing_sha), "sidecar_sha256": listing_sha}
        extra[rel] = data
    else:
        files = {"count": len(entries), "entries": listing}
    body = new_body(
        "manifest", namespace=namespace, name=name, path=out.path, size=total, format="directory",
        media_type=MEDIA_TYPE, digest={"sha256": dir_sha, "md5": out.md5},
        schema=directory_schema(layouts, len(entries)), files=files,
        inputs=build_inputs(root, out, locks), producer=producer_of(out, git_commit), licence=licence,
    )
    manifest = Manifest(body)
    manifest.validate(f"manifest for {namespace}/{name}")
    return manifest, FileDigest(dir_sha, total, out.md5), cached, extra


# -- reading -----------------------------------------------------------------------------------




















