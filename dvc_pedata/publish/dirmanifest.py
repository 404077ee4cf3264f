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

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvc_pedata.base.hashing import FileDigest, HashState
from dvc_pedata.base.walk import entries_below
from dvc_pedata.model.canonical import digest
from dvc_pedata.model.companion import FILES
from dvc_pedata.model.documents import Manifest, new_body
from dvc_pedata.model.dvcfacts import OutLike
from dvc_pedata.model.listing import MEDIA_TYPE
from dvc_pedata.model.merkle import FileEntry, check_entries, directory_digest, listing_documents

if TYPE_CHECKING:
    from dvc_pedata.publish.manifests import LockState

INLINE_LIMIT = 1000  # more files than this: the listing goes to its own content-addressed file


def _layouts(folder: Path, entries: list[FileEntry], meta: dict[str, Any]) -> tuple[list[FileEntry], list[dict[str, Any]]]:
    """Describe every file from its metadata and group files by (format, schema fingerprint)."""
    from dvc_pedata.publish.manifests import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
        describe_file,
    )

    groups: dict[tuple[str, str | None], dict[str, Any]] = {}
    assigned: list[tuple[FileEntry, tuple[str, str | None], int | None]] = []
    base = str(folder)
    for e in entries:
        fmt, media_type, schema = describe_file(f"{base}/{e.path}", meta)
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


def plan_directory(listing: list[tuple[str, str]], root: Path, out: OutLike, meta: dict[str, Any]) -> DirectoryPlan:
    """Every file of DVC's listing of the folder (``(rel, md5)``, from its ``.dir`` object, so
    ``.dvcignore`` and DVC agree with us) described.

    Metadata only (file footers); a corrupt file fails here.
    """
    folder = root / out.path
    entries = [FileEntry(rel, "", 0, md5) for rel, md5 in sorted(listing)]
    described, layouts = _layouts(folder, entries, meta)
    return DirectoryPlan(out, folder, described, layouts)


def hash_directory(plan: DirectoryPlan, state: HashState) -> tuple[dict[str, FileDigest], bool]:
    """(sha256 and md5 of every file, all memoised?): needs no DVC, so it runs on any thread that
    owns ``state`` (sqlite connections stay on the thread that opened them).

    ``pedata publish`` runs it while ``dvc push`` sends the same files, as it does for single files.
    The md5 is what :func:`workspace_changes` compares with DVC's listing.
    """
    out, read = state.hash_many(plan.folder, plan.rels, md5=True)
    return out, not read


def listing_difference(folder: Path, rels: list[str]) -> tuple[list[str], bool]:
    """(files DVC's listing ``rels`` names that ``folder`` lacks, whether it holds anything else).

    A plain walk (0.1 s at 50,000 files): a file it finds beyond the listing may be one
    ``.dvcignore`` hides from DVC, so "anything else" means "ask DVC", not "changed". A file the
    walk misses (a linked folder) but that exists counts as "ask DVC" too; only a listed file that
    is not there is a certain change.
    """
    base = str(folder)
    found = {rel for rel, _ in entries_below(base)}  # anything but a folder: DVC judges what we cannot
    want = set(rels)
    unseen = want - found
    missing = sorted(r for r in unseen if not os.path.isfile(f"{base}/{r}"))
    return missing, bool(found - want) or len(unseen) > len(missing)


def workspace_changes(plan: DirectoryPlan, digests: dict[str, FileDigest]) -> list[str]:
    """The files whose bytes (their md5, just hashed) differ from DVC's listing of the folder."""
    return [e.path for e in plan.described if digests[e.path].md5 != e.md5]


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
    from dvc_pedata.publish.manifests import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
        build_inputs,
        producer_of,
    )

    out = plan.out
    entries = [FileEntry(e.path, digests[e.path].sha256, digests[e.path].size, e.md5, e.layout, e.rows) for e in plan.described]
    check_entries(entries, f"{out.path}")
    dir_sha = directory_digest(entries)
    total = sum(e.size for e in entries)
    extra: dict[str, bytes] = {}
    if len(entries) > inline_limit:
        listing_sha, data = listing_documents(entries)  # FILES.write's bytes, with no dict per file
        files: dict[str, Any] = {"count": len(entries), "sidecar": FILES.filename(listing_sha), "sidecar_sha256": listing_sha}
        extra[FILES.rel(namespace, name, listing_sha)] = data
    else:
        files = {"count": len(entries), "entries": [e.to_json() for e in entries]}
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
