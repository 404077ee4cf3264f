"""Streaming sha256 (and md5) of files, with a state cache so unchanged files are not re-hashed.

Reads in 1 MiB blocks (the measured sweet spot for hashlib with SHA-NI on this kind of CPU).
The state cache works like DVC's own: a file whose (inode, mtime_ns, size) is unchanged keeps
its recorded digest, so a second publish of unchanged outputs costs a ``stat`` per file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.base.progress import bar
from dvc_pedata.base.progress import enabled as progress_enabled

BLOCK = 1 << 20
CHILD_MIN_FILES = 256  # fewer files to hash: threads here cost less than starting a process

Progress = Callable[[int], None]
Stat = tuple[int, int, int]  # (inode, mtime_ns, size) before the read: the memo's key


class Stopped(Exception):
    """A hash pass given up because its caller asked it to (:class:`Stop`)."""


class Stop:
    """Ask a hash pass running on another thread to give up: its child process is killed.

    ``publish`` starts hashing before its checks finish; a refusal must not wait for a folder
    of thousands of files to be read.
    """

    def __init__(self) -> None:
        import threading  # not on the resolver's warm path, which imports this module

        self._event = threading.Event()
        self._lock = threading.Lock()
        self._procs: set[Any] = set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            for proc in self._procs:
                with contextlib.suppress(OSError):
                    proc.kill()

    def is_set(self) -> bool:
        return self._event.is_set()

    def watch(self, proc: Any) -> bool:
        """Kill ``proc`` on :meth:`set`; False (and killed) if already set."""
        with self._lock:
            if self._event.is_set():
                with contextlib.suppress(OSError):
                    proc.kill()
                return False
            self._procs.add(proc)
            return True

    def forget(self, proc: Any) -> None:
        with self._lock:
            self._procs.discard(proc)


@dataclass(frozen=True)
class FileDigest:
    sha256: str
    size: int
    md5: str | None = None


def hash_stream(chunks: Iterable[bytes], *, md5: bool = False, progress: Progress | None = None) -> FileDigest:
    """Hash an iterable of byte chunks (sha256, optionally md5 in the same pass).

    With md5, each large chunk's md5 runs on a second thread while this one takes its sha256
    and reads the next (hashlib releases the GIL): md5 is the slower of the two (0.6 GB/s
    against 1.5 GB/s with SHA-NI), so one after the other cost their sum, 2.4 s for 1 GB beside
    ``dvc push`` in ``publish``; side by side they cost the md5's time.
    """
    h = hashlib.sha256()
    m = hashlib.md5() if md5 else None
    size = 0
    pool: Any = None
    pending: Any = None  # the md5 of the previous chunk, still running
    try:
        for chunk in chunks:
            if m is not None:
                if pending is not None:
                    pending.result()
                    pending = None
                if len(chunk) >= BLOCK // 4:
                    if pool is None:
                        import concurrent.futures  # lazy: the resolver's warm path imports this module

                        pool = concurrent.futures.ThreadPoolExecutor(1)
                    pending = pool.submit(m.update, chunk)  # chunks are immutable bytes
                else:
                    m.update(chunk)
            h.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
        if pending is not None:
            pending.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return FileDigest(h.hexdigest(), size, m.hexdigest() if m is not None else None)


def iter_file(path: Path | str, block: int = BLOCK) -> Iterable[bytes]:
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(block)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                return
            yield bytes(view[:n]) if n < block else view.tobytes()


def hash_file(path: Path | str, *, md5: bool = False, progress: Progress | None = None) -> FileDigest:
    """sha256 (and optionally md5) of a file in one read."""
    if not md5 and progress is None:
        # hashlib.file_digest avoids Python-level copies; about as fast as `openssl dgst`.
        with open(path, "rb") as fh:
            h = hashlib.file_digest(fh, "sha256")
            return FileDigest(h.hexdigest(), fh.tell())
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < BLOCK:
            # A small file in one read: no 1 MiB buffer per call, which threads hashing thousands
            # of files (a folder's) would each keep in their own malloc arena (12 MB at 5,000 files).
            data = fh.read()
            if len(data) == size and not fh.read(1):
                if progress is not None:
                    progress(len(data))
                return FileDigest(hashlib.sha256(data).hexdigest(), len(data),
                                  hashlib.md5(data).hexdigest() if md5 else None)
    return hash_stream(iter_file(path), md5=md5, progress=progress)


class HashState:
    """sqlite-backed memo of file digests keyed by (path, inode, mtime_ns, size).

    Lives in ``.dvc/tmp/pedata/`` (ignored by git, like DVC's own state). Losing it only costs a
    re-hash; a stale entry can't be served because any write changes mtime or size.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        # Files whose bytes this connection read (not answered by the memo): a caller that hashes
        # in several steps (publish: the locks, then the artifacts) reports what was really read.
        self.read_paths: set[str] = set()  # resolved paths, as the memo keys them
        # What this connection hashed or found valid in the memo, by resolved path: a second
        # step of the same command (publish: the locks, then the folder) asks again for free.
        self._seen: dict[str, FileDigest] = {}
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, inode INTEGER, "
            "mtime_ns INTEGER, size INTEGER, sha256 TEXT, md5 TEXT)"
        )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> HashState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lookup(self, path: Path) -> FileDigest | None:
        st = os.stat(path)
        row = self._conn.execute(
            "SELECT inode, mtime_ns, size, sha256, md5 FROM digests WHERE path = ?", (str(Path(path).resolve()),)
        ).fetchone()
        if row and row[0] == st.st_ino and row[1] == st.st_mtime_ns and row[2] == st.st_size:
            return FileDigest(row[3], row[2], row[4])
        return None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group many :meth:`record` calls into one transaction.

        The connection autocommits, so each record alone is one WAL commit (an fsync): 5,000 files
        of a folder cost ~26 s of commits where one transaction costs one. A crash inside the
        batch loses only memo entries (a re-hash next time), never a wrong one.
        """
        try:
            self._conn.execute("BEGIN")
        except sqlite3.Error:
            yield  # memo unavailable (locked, read-only): records fail one by one, harmlessly
            return
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("COMMIT")

    def hash_many(self, folder: Path, rels: list[str], *, md5: bool = False, label: str = "sha256",
                  stop: Stop | None = None) -> tuple[dict[str, FileDigest], list[str]]:
        """(digest of every file of ``folder`` named in ``rels``, the rels whose bytes were read).

        Files this connection already hashed or checked cost nothing, memoised ones a ``stat``;
        the rest are read once. Many of them (``CHILD_MIN_FILES``) are hashed in a child process
        (:func:`hash_in_child`), else on threads here. The memo is read in one query and written
        in one transaction, only from this thread: 5,000 files hashed one :meth:`hash_file` at a
        time cost 3 s of per-file commits and path resolution. Each file is stat'ed before it is
        read, so a file written meanwhile never matches the entry recorded for it. ``md5``: a memo
        entry without an md5 is a miss. ``stop``: raises :class:`Stopped` once it is set.
        """
        base = str(Path(folder).resolve())  # then plain strings: pathlib costs more than the hashing of a small file
        out: dict[str, FileDigest] = {}
        for rel in rels:
            fd = self._seen.get(f"{base}/{rel}")
            if fd is not None and (fd.md5 is not None or not md5):
                out[rel] = fd
        rest = [rel for rel in rels if rel not in out]
        if not rest:  # a second step of the same command (publish: the folder after the lock step)
            return out, []
        out.update((r, fd) for r, fd in self.lookup_many(Path(base), rest).items() if fd.md5 is not None or not md5)
        todo = [rel for rel in rest if rel not in out]
        if not todo:
            return out, []
        total = sum(os.stat(f"{base}/{r}").st_size for r in todo) if progress_enabled() else None
        with bar(f"{label} {len(todo)} files", total) as advance:
            fresh = hash_in_child(base, todo, md5, advance, stop) if len(todo) >= CHILD_MIN_FILES else None
            if stop is not None and stop.is_set():
                raise Stopped
            if fresh is None:
                fresh = _hash_on_threads(base, todo, md5, advance)
        for rel, fd, _st in fresh:
            out[rel] = fd
            key = f"{base}/{rel}"  # one string for both maps (50,000 files: 6 MB each)
            self._seen[key] = fd
            self.read_paths.add(key)
        self.record_many(Path(base), fresh)
        return out, todo

    def lookup_many(self, folder: Path, rels: list[str]) -> dict[str, FileDigest]:
        """:meth:`lookup` for many files of one folder: one query, the folder resolved once."""
        base = str(Path(folder).resolve())
        try:
            rows = {r[0]: r[1:] for r in self._conn.execute(
                "SELECT path, inode, mtime_ns, size, sha256, md5 FROM digests WHERE path > ? AND path < ?",
                (base + "/", base + "0"))}  # "0" follows "/": every key under the folder
        except sqlite3.Error:
            return {}
        out: dict[str, FileDigest] = {}
        for rel in rels:
            row = rows.get(f"{base}/{rel}")
            if row is None:
                continue
            st = os.stat(f"{base}/{rel}")
            if row[0] == st.st_ino and row[1] == st.st_mtime_ns and row[2] == st.st_size:
                out[rel] = self._seen[f"{base}/{rel}"] = FileDigest(row[3], row[2], row[4])
        return out

    def record_many(self, folder: Path, items: list[tuple[str, FileDigest, Stat]]) -> None:
        """:meth:`record` for many files of one folder, in one transaction (keys as :meth:`lookup_many`)."""
        base = str(Path(folder).resolve())
        with contextlib.suppress(sqlite3.Error), self.batch():
            self._conn.executemany(
                "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?)",
                [(f"{base}/{rel}", st[0], st[1], st[2], fd.sha256, fd.md5) for rel, fd, st in items],
            )

    def record(self, path: Path, fd: FileDigest, st: os.stat_result) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute(
                "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?)",
                (str(Path(path).resolve()), st.st_ino, st.st_mtime_ns, st.st_size, fd.sha256, fd.md5),
            )

    def record_if_stable(self, path: Path, fd: FileDigest, before: os.stat_result, after: os.stat_result) -> None:
        """Memoise ``fd`` only if the file did not change while it was being hashed."""
        if (before.st_mtime_ns, before.st_size, before.st_ino) == (after.st_mtime_ns, after.st_size, after.st_ino):
            self.record(path, fd, after)

    def hash_file(self, path: Path, *, md5: bool = False, progress: Progress | None = None) -> tuple[FileDigest, bool]:
        """Return ``(digest, cached)``; hashes only when the file changed since last seen."""
        hit = self.lookup(path)
        if hit is not None and (hit.md5 is not None or not md5):
            return hit, True
        before = os.stat(path)
        fd = hash_file(path, md5=md5, progress=progress)
        self.read_paths.add(str(Path(path).resolve()))
        after = os.stat(path)
        if (before.st_mtime_ns, before.st_size) == (after.st_mtime_ns, after.st_size):
            self.record(path, fd, after)
        return fd, False


def _hash_on_threads(base: str, rels: list[str], md5: bool, advance: Progress | None) -> list[tuple[str, FileDigest, Stat]]:
    """Hash ``rels`` on a few threads here (hashlib releases the GIL for large updates)."""
    import concurrent.futures  # not on the resolver's warm path, which imports this module

    workers = max(2, os.cpu_count() or 1)

    def run(chunk: list[str]) -> list[tuple[str, FileDigest, Stat]]:
        done = []
        for r in chunk:
            path = f"{base}/{r}"
            st = os.stat(path)
            done.append((r, hash_file(path, md5=md5), (st.st_ino, st.st_mtime_ns, st.st_size)))
        return done

    fresh: list[tuple[str, FileDigest, Stat]] = []
    # Tasks of up to 64 files: one future per file cost 14 MB of peak memory at 5,000 files.
    size = max(1, min(64, -(-len(rels) // workers)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for done in pool.map(run, [rels[i:i + size] for i in range(0, len(rels), size)]):
            fresh += done
            if advance is not None:
                for _r, fd, _st in done:
                    advance(fd.size)
    return fresh


def hash_in_child(base: str, rels: list[str], md5: bool, advance: Progress | None,
                  stop: Stop | None = None) -> list[tuple[str, FileDigest, Stat]] | None:
    """Hash many files in a child Python process; None if it could not do them all.

    Why a process: hashing thousands of small files is mostly short syscalls, each of which hands
    the GIL over. Beside ``dvc push`` (publish) or any other busy thread of this process, threads
    here make two futex calls per hand-over: 237,000 of them for 5,000 files, more system time
    than the push itself. A child has its own interpreter and a core of its own. It only reads
    and hashes; the memo stays with the caller. On any failure of the child (a file that cannot
    be read, no interpreter) the caller hashes here and meets the same error itself.
    """
    import json
    import subprocess
    import sys

    package_root = str(Path(__file__).resolve().parents[2])
    code = f"import sys; sys.path.insert(0, {package_root!r}); from dvc_pedata.base.hashing import _child; _child()"
    try:
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, encoding="utf-8")
    except OSError:
        return None
    assert proc.stdin is not None and proc.stdout is not None
    if stop is not None and not stop.watch(proc):
        proc.stdin.close()
        proc.stdout.close()
        proc.wait()
        return None
    fresh: list[tuple[str, FileDigest, Stat]] = []
    try:
        with proc.stdin:
            proc.stdin.write(json.dumps({"base": base, "rels": rels, "md5": md5}))
        for line in proc.stdout:  # split, not json.loads: 50,000 lines cost 0.45 s of this thread as JSON
            i, sha, size, md5_hex, ino, mtime_ns, st_size = line.split()
            fresh.append((rels[int(i)], FileDigest(sha, int(size), None if md5_hex == "-" else md5_hex),
                          (int(ino), int(mtime_ns), int(st_size))))
            if advance is not None:
                advance(int(size))
    except (OSError, ValueError, IndexError):  # a line that is not the protocol: hash here instead
        proc.kill()
        fresh = []
    finally:
        proc.stdout.close()
        code_ = proc.wait()
        if stop is not None:
            stop.forget(proc)
    if code_ != 0 or len(fresh) != len(rels):
        return None
    return fresh


def _child() -> None:
    """The child of :func:`hash_in_child`: one JSON request on stdin, one line per file out: its
    index in the request (so the caller keeps its own strings), sha256, size, md5 (``-`` when not
    asked), inode, mtime_ns and size as stat'ed before the read, separated by spaces."""
    import json
    import sys

    req = json.loads(sys.stdin.buffer.read())
    base, md5 = req["base"], bool(req["md5"])
    # Written in 64 KB blocks whatever the environment says: under PYTHONUNBUFFERED (set in many
    # CI images) sys.stdout wrote each line on its own, and the caller's thread woke for each of
    # them and took the GIL from the push beside it (0.94 s of that thread at 50,000 files, 0.13 s
    # in blocks). The caller's progress moves every few hundred files instead of every file.
    out = open(sys.stdout.fileno(), "w", buffering=1 << 16, encoding="utf-8", closefd=False)  # noqa: SIM115
    for i, rel in enumerate(req["rels"]):
        path = f"{base}/{rel}"
        try:
            st = os.stat(path)
            fd = hash_file(path, md5=md5)
        except OSError:
            sys.exit(1)  # the caller hashes in its own process and reports the error itself
        out.write(f"{i} {fd.sha256} {fd.size} {fd.md5 or '-'} {st.st_ino} {st.st_mtime_ns} {st.st_size}\n")
    out.flush()
