"""Crash-safe writes: a reader sees the old file or the whole new one, never half of either.

Every write goes to a temporary name in the destination folder, is fsynced, renamed over the
target, and the folder is fsynced so the rename itself survives a power cut.

A writer killed mid-write leaves its temporary file behind. Its name carries the writer's process
id and pid namespace (``.pedata-tmp-p<pid>n<ns>-…``), so the next write into that folder removes
the temporary files of writers of our namespace that no longer run (never a live writer's, nor
one another container's pids could not tell about), and ``pedata verify`` reports any left in the
registry's document folders.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

TMP_PREFIX = ".pedata-tmp-"


def _namespace_tag() -> str:
    """Which process-id space our pid belongs to: the pid namespace's inode on Linux, else the
    host name. Two containers writing one mounted registry reuse pids; neither may judge the
    other's temporary files by a pid it cannot see."""
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
        tag = link[link.index("[") + 1 : link.index("]")]
    except (OSError, ValueError):
        tag = os.uname().nodename if hasattr(os, "uname") else "host"
    return "".join(c for c in tag if c.isalnum())[:24] or "host"


_TAG = _namespace_tag()


def _own_prefix() -> str:
    return f"{TMP_PREFIX}p{os.getpid()}n{_TAG}-"


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
    """The process id in a temporary file name this module made in our pid namespace, else None
    (another namespace's pid says nothing about which of our processes live)."""
    if not name.startswith(f"{TMP_PREFIX}p"):
        return None
    pid, sep, rest = name[len(TMP_PREFIX) + 1 :].partition("n")
    if not sep or rest.split("-", 1)[0] != _TAG:
        return None
    return int(pid) if pid.isdigit() and len(pid) < 10 else None


def clean_dead_temps(folder: Path) -> int:
    """Remove temporary files in ``folder`` whose writer no longer runs; returns how many.
    One file that cannot be removed does not stop the sweep."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        pid = writer_pid(entry.name)
        if pid is not None and pid != os.getpid() and not _alive(pid):
            with contextlib.suppress(OSError):
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
