"""The resolver's local store: verified artifact bytes keyed by their sha256.

Layout: ``<cache>/sha256/ab/cdef...`` (first two hex digits as a folder, like git and DVC).
An object name is a promise that the bytes hash to it, so objects only ever appear through
:func:`store_stream`: bytes go to a temporary name *in the same folder*, are hashed while they
are written, fsynced, and then hard-linked onto the sha256 name only if the digest matches.
``link`` fails atomically when the name exists, which makes a concurrent writer's object a dedup
hit instead of a race. A process killed at any moment leaves at most a ``.pedata-tmp-`` file,
never a partial object under a sha256 name. Objects are made read-only (0444) so a consumer that
opens a returned path for writing fails loudly instead of corrupting the store.

This module must stay free of DVC imports: it is on the cache-hit path.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dvc_pedata.base.atomic import TMP_PREFIX, fsync_dir
from dvc_pedata.base.atomic import clean_stale_temps as _clean_temps
from dvc_pedata.base.cachedir import (
    cache_dir as cache_dir,  # re-exported: the resolver asks it here
)
from dvc_pedata.base.cachedir import cache_dir_text
from dvc_pedata.base.hashing import hash_file, iter_file
from dvc_pedata.errors import IntegrityError, PedataError
from dvc_pedata.model.names import check_sha256


def object_name(sha256: str, root: Path | None = None) -> str:
    """:func:`object_path` as a string, for the loops over every file of a folder: building
    paths with three ``/`` joins (and the environment read for the root) was a folder get's
    largest per-file cost."""
    check_sha256(sha256)
    return f"{root if root is not None else cache_dir_text()}/sha256/{sha256[:2]}/{sha256[2:]}"


def object_path(sha256: str, root: Path | None = None) -> Path:
    """Where the object ``sha256`` lives (whether or not it is there)."""
    return Path(object_name(sha256, root))


def lookup(sha256: str, size: int | None = None, root: Path | None = None) -> Path | None:
    """The cached object's path, or None. On a size mismatch the object is re-hashed: a damaged
    object is dropped (None); an intact one means the pin's size is wrong (IntegrityError, kept).

    Only a ``stat``: objects are verified when they enter the store, and re-hashing on every
    hit would cost a full read of a possibly large file. ``pedata fsck`` re-hashes.
    """
    name = object_name(sha256, root)  # a string: a folder get looks up every file
    try:
        st = os.stat(name)
    except FileNotFoundError:
        return None
    path = Path(name)
    if size is not None and st.st_size != size:
        # Either the object was damaged in place or the pin's size is wrong. Only a re-hash can
        # tell (this branch is rare, the hot path stays a stat): a damaged object is dropped and
        # fetched again; a verified one is shared by every pin of these bytes, so a pushed
        # manifest or channel with a wrong size is reported and the object is kept.

        try:
            intact = hash_file(path).sha256 == sha256
        except FileNotFoundError:
            return None
        if intact:
            raise IntegrityError(f"sha256:{sha256} is {st.st_size} bytes (the cached object was just re-hashed and is"
                                 f" intact), but the pin says {size} bytes: the manifest or channel records a wrong"
                                 " size; the cached object was kept")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    return path


@contextlib.contextmanager
def object_lock(sha256: str, root: Path | None = None) -> Iterator[None]:
    """Hold an exclusive lock on one object so concurrent resolvers download it once.

    ``flock`` locks die with their process, so a killed resolver never blocks the next one.
    """
    locks = f"{root if root is not None else cache_dir_text()}/locks"
    name = f"{locks}/{check_sha256(sha256)}.lock"
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # the first lock of this cache
        os.makedirs(locks, exist_ok=True)
        fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _tmp_prefix(sha256: str) -> str:
    return f"{TMP_PREFIX}{sha256[2:14]}-"


def clean_stale_temps(sha256: str, root: Path | None = None) -> int:
    """Remove temp files a killed writer left for ``sha256``. Call only under :func:`object_lock`."""
    return _clean_temps(object_path(sha256, root).parent, _tmp_prefix(sha256))


def stale_temps(sha256s: Iterable[str], root: Path) -> dict[str, list[str]]:
    """The temp files in the folders of ``sha256s``, by object: one scan per folder for a whole
    folder get (a scan per object read each folder once per file in it: quadratic at 50,000).

    A snapshot, taken without the locks: remove a name with :func:`remove_stale` only under its
    object's lock. A writer that held the lock has finished by then (it removes its own temp;
    names are unique), so a name still there is a killed writer's. One that appears after the
    scan is left for the next run, as litter, never mistaken."""
    wanted: dict[str, list[str]] = {}
    for sha in sha256s:
        wanted.setdefault(sha[:2], []).append(sha)
    found: dict[str, list[str]] = {}
    for folder, shas in wanted.items():
        base = f"{root}/sha256/{folder}"
        try:
            names = [n for n in os.listdir(base) if n.startswith(TMP_PREFIX)]
        except FileNotFoundError:
            continue
        if names:
            for sha in shas:
                prefix = _tmp_prefix(sha)
                mine = [f"{base}/{n}" for n in names if n.startswith(prefix)]
                if mine:
                    found[sha] = mine
    return found


def remove_stale(paths: Iterable[str]) -> None:
    """Remove the temp files :func:`stale_temps` found for one object. Call only under its lock."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


class CacheWriteError(PedataError):
    """The cache folder refused bytes (full disk, quota, file size limit, read-only)."""


@dataclass(frozen=True)
class Stored:
    path: Path
    created: bool  # False: another writer had already placed the object (dedup hit)


class DigestMismatch(IntegrityError):
    """Bytes streamed for an object hashed to something else; nothing entered the store."""

    def __init__(self, message: str, expected: str, actual: str, size: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual
        self.size = size

    @property
    def what(self) -> str:
        """What the source held, for "<source> holds …" messages."""
        return f"bytes with sha256 {self.actual}"


class SizeExceeded(DigestMismatch):
    """The source streamed more bytes than the pin's size: stopped after size + 1, nothing stored."""

    @property
    def what(self) -> str:
        return f"more than the pinned {self.size - 1} bytes"


def stage_stream(
    sha256: str,
    chunks: Iterable[bytes],
    *,
    root: Path | None = None,
    progress: Callable[[int], None] | None = None,
    label: str = "object",
    max_size: int | None = None,
    durable: bool = True,
) -> Path:
    """Stream ``chunks`` to a temporary file beside the object ``sha256``, hashed as they are written.

    Returns the temporary path, whose bytes hash to ``sha256``; :func:`publish_staged` gives it
    its name. ``durable=False`` skips the fsync: the caller makes a whole batch durable at once
    (:func:`sync_filesystem`) before publishing any of it. Raises :class:`DigestMismatch`
    (nothing left behind) when the bytes hash to anything else. With ``max_size`` (the pinned
    size), at most ``max_size + 1`` bytes are ever written: a source that streams more is
    :class:`SizeExceeded` as soon as the extra byte arrives, so an object far larger than its pin
    never fills the disk before it is refused. Call under :func:`object_lock`.
    """
    folder = object_name(sha256, root).rpartition("/")[0]  # strings: a folder get stages every file
    store = folder.rpartition("/")[0].rpartition("/")[0]
    import tempfile  # lazy: tempfile pulls in shutil, bz2, lzma; a cache hit never writes

    try:
        try:
            fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(sha256), dir=folder)
        except FileNotFoundError:  # the object's folder is new
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(sha256), dir=folder)
    except OSError as exc:
        raise CacheWriteError(f"{label}: cannot write to the cache {store}: {exc.strerror}") from exc
    ok = False
    try:
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    if max_size is not None and size + len(chunk) > max_size:
                        fh.write(chunk[: max_size + 1 - size])  # the one extra byte that proves it, no more
                        raise SizeExceeded(f"{label}: the source holds more than the pinned {max_size} bytes"
                                           f" (stopped after {max_size + 1}); nothing was cached", sha256,
                                           f"more than the pinned {max_size} bytes", max_size + 1)
                    fh.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
                fh.flush()
                if durable:
                    os.fsync(fh.fileno())
        except OSError as exc:  # ENOSPC, EFBIG (RLIMIT_FSIZE), EDQUOT, EIO: nothing is published
            raise CacheWriteError(
                f"{label}: cannot write to the cache {store} after {size} bytes:"
                f" {exc.strerror or exc}; nothing was cached (free space or set PEDATA_CACHE_DIR)"
            ) from exc
        actual = h.hexdigest()
        if actual != sha256:
            raise DigestMismatch(f"{label}: expected sha256 {sha256}, got {actual}", sha256, actual, size)
        ok = True
        return Path(tmp)
    finally:
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def publish_staged(tmp: Path, sha256: str, *, root: Path | None = None, sync_dir: bool = True) -> Stored:
    """Give a verified, durable temporary file (:func:`stage_stream`) its object name; removes ``tmp``.

    ``link`` fails atomically when the name exists (another writer's object: a dedup hit).
    ``sync_dir=False``: the caller syncs the folder (or the filesystem) itself before relying on it.
    """
    target = object_name(sha256, root)
    try:
        os.chmod(tmp, 0o444)
        try:
            os.link(tmp, target)
            created = True
        except FileExistsError:
            created = False
        path = Path(target)
        if sync_dir:
            fsync_dir(path.parent)
        return Stored(path, created)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def sync_filesystem(path: Path) -> None:
    """Flush every written byte and name of the filesystem holding ``path`` (``syncfs``; else ``sync``).

    One call makes a batch of staged objects durable: a few hundred per-file fsyncs and folder
    fsyncs cost several times more on the same disk (bench/RESULTS.md, folder get).
    """
    import ctypes

    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    except (OSError, AttributeError):
        os.sync()
    finally:
        os.close(fd)


def store_stream(
    sha256: str,
    chunks: Iterable[bytes],
    *,
    root: Path | None = None,
    progress: Callable[[int], None] | None = None,
    label: str = "object",
    max_size: int | None = None,
) -> Stored:
    """Stream ``chunks`` into the store as ``sha256``, verifying the digest before publication.

    Raises :class:`DigestMismatch` (nothing stored) when the bytes hash to anything else, and
    :class:`SizeExceeded` past ``max_size`` + 1 bytes (see :func:`stage_stream`).
    """
    tmp = stage_stream(sha256, chunks, root=root, progress=progress, label=label, max_size=max_size)
    return publish_staged(tmp, sha256, root=root)


def store_file(sha256: str, source: Path, *, root: Path | None = None, label: str = "object") -> Stored:
    """Copy a local file into the store through the same verified, staged path."""
    return store_stream(sha256, iter_file(source), root=root, label=label)
