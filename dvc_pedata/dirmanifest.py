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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .canonical import digest
from .companion import FILES, Reader, registry_reader
from .documents import Manifest, new_body
from .dvcio_types import OutLike
from .errors import DocumentError, IntegrityError
from .hashing import FileDigest, HashState, hash_file
from .merkle import FileEntry, check_entries, directory_digest
from .progress import bar

if TYPE_CHECKING:
    from .manifest import LockState

INLINE_LIMIT = 1000  # more files than this: the listing goes to its own content-addressed file
MEDIA_TYPE = "inode/directory"


def _hash_all(root: Path, rels: list[str], state: HashState) -> tuple[dict[str, FileDigest], bool]:
    """sha256 of every file; memoised ones cost a stat, the rest are hashed on every core.

    hashlib releases the GIL for large updates, so threads overlap on big files (and on the
    open/read syscalls of small ones); the memo is read in one query and written in one
    transaction, only from this thread.
    """
    out = state.lookup_many(root, rels)
    todo = [rel for rel in rels if rel not in out]
    total = sum(os.stat(root / r).st_size for r in todo)
    workers = max(4, os.cpu_count() or 1)
    fresh: list[tuple[str, FileDigest, os.stat_result]] = []

    def run(rels: list[str]) -> list[tuple[str, FileDigest, os.stat_result]]:
        done = []
        for r in rels:
            st = os.stat(root / r)  # before reading: a file written meanwhile never matches this memo entry
            done.append((r, hash_file(root / r), st))
        return done

    # Tasks of up to 64 files: one future per file cost 14 MB of peak memory at 5,000 files.
    size = max(1, min(64, -(-len(todo) // workers)))
    with bar(f"sha256 {len(todo)} files", total) as advance, concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for done in pool.map(run, [todo[i:i + size] for i in range(0, len(todo), size)]):
            for rel, fd, st in done:
                out[rel] = fd
                fresh.append((rel, fd, st))
                if advance is not None:
                    advance(fd.size)
    state.record_many(root, fresh)
    return out, not todo


def _layouts(folder: Path, entries: list[FileEntry], meta: dict[str, Any]) -> tuple[list[FileEntry], list[dict[str, Any]]]:
    """Describe every file from its metadata and group files by (format, schema fingerprint)."""
    from .manifest import describe_file

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


@dataclass
class DirectoryPlan:
    """A folder out checked and described before anything is written; its sha256 pass comes later.

    ``described`` holds every file of DVC's listing with its md5, layout and rows; sha256 and size
    are filled in by :func:`finish_directory_manifest` from the hash pass.
    """

    out: OutLike
    folder: Path
    described: list[FileEntry]
    layouts: list[dict[str, Any]]

    @property
    def rels(self) -> list[str]:
        return [e.path for e in self.described]


def plan_directory(repo: Any, root: Path, out: OutLike, meta: dict[str, Any]) -> DirectoryPlan:
    """DVC's listing of the folder (so ``.dvcignore`` and DVC agree with us) and every file described.

    Metadata only (file footers); a corrupt file fails here. Call on the thread that owns ``repo``:
    DVC's repository is not thread-safe, the hash pass (:func:`hash_directory`) needs no DVC.
    """
    assert out.md5 is not None
    folder = root / out.path
    dvc_list = sorted(repo.dir_entries(out.md5))
    entries = [FileEntry(rel, "", 0, md5) for rel, md5 in dvc_list]
    described, layouts = _layouts(folder, entries, meta)
    return DirectoryPlan(out, folder, described, layouts)


def hash_directory(plan: DirectoryPlan, state_db: Path) -> tuple[dict[str, FileDigest], bool]:
    """(sha256 of every file, all memoised?): safe on any thread, on its own memo connection.

    ``pedata publish`` runs it while ``dvc push`` sends the same files, as it does for single files.
    """
    with HashState(state_db) as state:
        return _hash_all(plan.folder, plan.rels, state)


def finish_directory_manifest(
    plan: DirectoryPlan,
    digests: dict[str, FileDigest],
    cached: bool,
    *,
    root: Path,
    namespace: str,
    name: str,
    git_commit: str | None,
    licence: str | None,
    inline_limit: int = INLINE_LIMIT,
    locks: LockState | None = None,
) -> tuple[Manifest, FileDigest, bool, dict[str, bytes]]:
    """(manifest, identity, all-memoised?, extra files to write) once every file is hashed."""
    from .manifest import build_inputs, producer_of

    out = plan.out
    entries = [FileEntry(e.path, digests[e.path].sha256, digests[e.path].size, e.md5, e.layout, e.rows) for e in plan.described]
    check_entries(entries, f"{out.path}")
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
        schema=directory_schema(plan.layouts, len(entries)), files=files,
        inputs=build_inputs(root, out, locks), producer=producer_of(out, git_commit), licence=licence,
    )
    manifest = Manifest(body)
    manifest.validate(f"manifest for {namespace}/{name}")
    assert out.md5 is not None
    return manifest, FileDigest(dir_sha, total, out.md5), cached, extra


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
    """(manifest, identity, all-memoised?, extra files to write) for the DVC folder out ``out``, in one go.

    The caller has already checked that the workspace matches DVC's record. ``locks``: the
    publish's :func:`manifest.read_locks` (read again when None).
    """
    plan = plan_directory(repo, root, out, meta)
    digests, cached = _hash_all(plan.folder, plan.rels, state)
    return finish_directory_manifest(plan, digests, cached, root=root, namespace=namespace, name=name,
                                     git_commit=git_commit, licence=licence, inline_limit=inline_limit, locks=locks)


# -- reading -----------------------------------------------------------------------------------


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
    from .errors import NotFoundError

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
    from .sidecar import MEDIA_TYPES

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


def pin_contains(reg: Any, ns: str, name: str, pin: dict[str, Any], sha256: str) -> bool:
    """Whether the directory artifact a pin names holds a file with bytes ``sha256``."""
    path = reg.manifest_path(ns, name, pin["sha256"])
    if not path.is_file():
        return False
    return bool(members_with(Manifest.load(path, reg.rel(path)), registry_reader(reg.root), sha256))


def member_records(reg: Any, sha256: str) -> list[dict[str, Any]]:
    """``{namespace, name, path, md5}`` for every file with bytes ``sha256`` inside a directory artifact.

    Revoking such a file needs its DVC object (to purge) and where it occurs (for the tombstone).
    """
    out: list[dict[str, Any]] = []
    read = registry_reader(reg.root)
    for path in reg.iter_manifest_paths():
        m = Manifest.load(path, reg.rel(path))
        if is_directory(m):
            for e in load_listing(m, read):
                if e.sha256 == sha256:
                    out.append({"namespace": m.namespace, "name": m.name, "path": e.path, "md5": e.md5, "directory_sha256": m.sha256})
    return out


def listed_md5s(data: bytes) -> set[str]:
    """md5s of the files a directory manifest or ``.files.json`` lists (raw bytes; for ``gc``).

    A folder's files are separate DVC objects that the ``<md5>.dir`` digest alone does not name,
    so garbage collection must keep them explicitly.
    """
    import json

    try:
        obj = json.loads(data)
    except ValueError:
        return set()
    if isinstance(obj, dict):
        obj = (obj.get("files") or {}).get("entries") if isinstance(obj.get("files"), dict) else None
    if not isinstance(obj, list):
        return set()
    return {str(e["md5"]) for e in obj if isinstance(e, dict) and e.get("md5")}


def expand_pin(reg: Any, p: Any, m: Manifest) -> list[Any]:
    """A pinned directory as one pinned entry per distinct file (what ``fsck`` and ``mirror`` check).

    Each keeps the directory's ``pinned_by``; its ``uri`` names the file by ``;path=``, and a
    tombstone on the file's own bytes marks it revoked.
    """
    from dataclasses import dataclass

    from .pinset import Pinned

    @dataclass
    class MemberPinned(Pinned):
        directory_sha256: str = ""
        path: str = ""

        @property
        def uri(self) -> str:
            return f"pedata://{self.namespace}/{self.name}@sha256:{self.directory_sha256};path={self.path}"

    out: list[Any] = []
    seen: set[str] = set()
    for e in load_listing(m, registry_reader(reg.root)):
        if e.sha256 in seen:
            continue
        seen.add(e.sha256)
        mp = MemberPinned(p.namespace, p.name, e.sha256, e.md5, e.size, list(p.pinned_by), p.revoked, m.sha256, e.path)
        ts = reg.load_tombstone(e.sha256)
        if ts is not None:
            mp.revoked = {"reason": ts.reason, "authority": ts.authority, "date": ts.date}
        out.append(mp)
    return out
