"""Crash-safe writes: a reader sees the old file or the whole new one, never half of either.

Every write goes to a temporary name in the destination folder, is fsynced, renamed over the
target, and the folder is fsynced so the rename itself survives a power cut.

A writer killed mid-write leaves its temporary file behind. Its name carries the writer's process
id (``.pedata-tmp-p<pid>-…``), so the next write into that folder removes the temporary files of
writers that no longer run (never a live writer's), and ``pedata verify`` reports any left in the
registry's document folders.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TMP_PREFIX = ".pedata-tmp-"


def _own_prefix() -> str:
    return f"{TMP_PREFIX}p{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError):  # a number no process can have
        return False
    return True


def writer_pid(name: str) -> int | None:
    """The process id in a temporary file name made by this module, else None."""
    if not name.startswith(f"{TMP_PREFIX}p"):
        return None
    digits = name[len(TMP_PREFIX) + 1 :].split("-", 1)[0]
    return int(digits) if digits.isdigit() and len(digits) < 10 else None


def clean_dead_temps(folder: Path) -> int:
    """Remove temporary files in ``folder`` whose writer no longer runs; returns how many."""
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            pid = writer_pid(entry.name)
            if pid is not None and pid != os.getpid() and not _alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def staged_file(target: Path, mode: int = 0o644) -> Iterator[tuple[IO[bytes], Path]]:
    """Yield ``(file, tmp_path)`` open for writing; on success rename onto ``target``.

    On any exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # lazy: keeps the resolver's cache-hit path light

    clean_dead_temps(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=_own_prefix(), dir=target.parent)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh, tmp_path
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace ``target`` with ``data``."""
    with staged_file(target, mode) as (fh, _):
        fh.write(data)


def write_if_changed(target: Path, data: bytes, mode: int = 0o644) -> bool:
    """Atomic write that skips identical content; returns True if the file changed.

    Keeps repeated publishes idempotent: same bytes, no write, no new mtime.
    """
    target = Path(target)
    try:
        if target.read_bytes() == data:
            clean_dead_temps(target.parent)  # what a killed writer of these same bytes left
            return False
    except FileNotFoundError:
        pass
    write_bytes(target, data, mode)
    return True


def create_exclusive(target: Path, data: bytes, mode: int = 0o644) -> bool:
    """Write ``data`` to ``target`` only if no file has that name; returns True if we created it.

    For content-addressed names: the temp file is fsynced first, then hard-linked into place,
    which fails atomically if another process got there first (a dedup hit, not an error).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # lazy: keeps the resolver's cache-hit path light

    clean_dead_temps(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=_own_prefix(), dir=target.parent)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_path, mode)
        try:
            os.link(tmp_path, target)
        except FileExistsError:
            return False
        fsync_dir(target.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def clean_stale_temps(folder: Path, prefix: str = TMP_PREFIX) -> int:
    """Remove temp files (names starting with ``prefix``) a killed writer left in ``folder``."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed
