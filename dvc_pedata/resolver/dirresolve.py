"""The resolver's side of directory artifacts: ``;path=`` selection, revoked members, cached trees.

``pedata://uk/local_areas@v2.0.0;path=constituency/E14000530.h5`` resolves in three checked steps:
the release pins the directory digest and the manifest digest; the manifest's file list must hash
to that directory digest (:func:`dvc_pedata.model.listing.load_listing`); the entry for the path gives the
file's own sha256, size and DVC object, and the bytes are verified against that sha256 as they
stream in. Nothing here imports DVC, so a warm-cache resolution stays cheap.

A whole directory lives in the cache as its objects (``<cache>/sha256/..``) plus a *tree*
``<cache>/trees/<dir sha256>/`` of hard links to them (copies where links are impossible), with
``<cache>/trees/<dir sha256>.json`` holding the identity list so ``fsck`` can re-check the tree.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dvc_pedata.base.atomic import TMP_PREFIX, fsync_dir, write_bytes
from dvc_pedata.errors import PedataError, RevokedError
from dvc_pedata.model.canonical import pretty_bytes
from dvc_pedata.model.documents import Manifest, Tombstone
from dvc_pedata.model.listing import find_entry, is_directory, load_listing
from dvc_pedata.model.merkle import FileEntry, identity_list
from dvc_pedata.model.names import check_sha256
from dvc_pedata.registry.source import RegistryView
from dvc_pedata.resolver import cache


def listing(view: RegistryView, manifest: Manifest) -> list[FileEntry]:
    return load_listing(manifest, view.read)


def select(view: RegistryView, uri: Any, manifest: Manifest) -> tuple[FileEntry, list[FileEntry]]:
    """The entry ``uri.path`` names, from a listing verified against the pinned directory digest."""
    if not is_directory(manifest):
        raise PedataError(
            f"{uri}: ;path= names a file inside a directory artifact, and {manifest.namespace}/{manifest.name}"
            f" is a single {manifest.format} file"
        )
    entries = listing(view, manifest)
    return find_entry(entries, uri.path, str(uri)), entries


def revoked_members(view: RegistryView, entries: list[FileEntry]) -> list[tuple[FileEntry, Tombstone]]:
    """Files of the folder with a tombstone at the view's state or the registry's current state."""
    names = view.tombstone_names()  # listed once, not one read per file of a large folder
    out = []
    for e in entries:
        if e.sha256 in names:
            found = view.find_tombstone(e.sha256)
            if found is not None:
                out.append((e, found[0]))
    return out


def refuse_revoked(uri: str, view: RegistryView, entries: list[FileEntry]) -> None:
    """A whole-directory get is refused when any file in it is revoked; the rest stay fetchable."""
    bad = revoked_members(view, entries)
    if bad:
        e, ts = bad[0]
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise RevokedError(
            f"{uri}: file {e.path}{more} was revoked on {ts.date} by {ts.authority} ({ts.reason}); the other files"
            f" stay fetchable one by one with ;path=<file>"
        )


# -- trees in the cache ------------------------------------------------------------------------
def tree_path(sha256: str, root: Path | None = None) -> Path:
    return (root or cache.cache_dir()) / "trees" / check_sha256(sha256)


def tree_lookup(sha256: str, root: Path | None = None) -> Path | None:
    path = tree_path(sha256, root)
    return path if path.is_dir() and path.with_suffix(".json").is_file() else None


def missing_objects(entries: list[FileEntry], root: Path | None = None) -> list[FileEntry]:
    """Entries whose bytes are not in the cache, one per distinct sha256."""
    seen: set[str] = set()
    out = []
    root = root or cache.cache_dir()  # once, not per file (5,000 environment reads otherwise)
    for e in entries:
        if e.sha256 not in seen:
            seen.add(e.sha256)
            try:  # the hot path is one stat; lookup itself judges a size mismatch
                hit = os.stat(cache.object_name(e.sha256, root)).st_size == e.size
            except FileNotFoundError:
                hit = False
            if not hit and cache.lookup(e.sha256, e.size, root) is None:
                out.append(e)
    return out


def build_tree(sha256: str, entries: list[FileEntry], root: Path | None = None) -> Path:
    """Assemble ``trees/<sha256>`` from cached objects: staged in a temp folder, then renamed.

    Hard links share the objects' read-only inodes (no extra space); a filesystem without links
    gets read-only copies. A concurrent builder's finished tree wins (our rename fails, ours goes).
    The listing ``trees/<sha256>.json`` is written last: a tree without it is not complete.
    """
    root = root or cache.cache_dir()
    final = tree_path(sha256, root)
    if tree_lookup(sha256, root) is not None:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}tree-{sha256[:12]}-", dir=final.parent))
    try:
        base, made = str(tmp), {""}
        for e in entries:  # strings, and each folder made once: pathlib cost more than the links
            src = cache.object_name(e.sha256, root)
            folder = e.path.rpartition("/")[0]
            if folder not in made:
                os.makedirs(f"{base}/{folder}", exist_ok=True)
                made.add(folder)
            dest = f"{base}/{e.path}"
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)
                os.chmod(dest, 0o444)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
        write_bytes(final.with_suffix(".json"), pretty_bytes(identity_list(entries)))
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
