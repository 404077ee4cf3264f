"""Fetch every file of a directory artifact into the cache: in parallel, verified, resumable.

One DVC repository is opened for the whole folder (not one per file), and up to ``JOBS`` files
stream at once through DVC's filesystems, each hashed while it is written and published under
its sha256 only if it matches its entry in the verified listing. Progress is one bar over the
bytes still missing. Files already in the cache are skipped, so a get that was interrupted (a
killed process, a dropped connection) resumes where it stopped: each finished file is a whole,
verified object, and a half-written one is only a temp file that the next run removes. Objects
are made durable a batch at a time (one ``syncfs`` for a batch's bytes, then their names, then
one more), never one fsync per small file.

A file whose remote bytes hash wrong is named by its path; the other files are still stored.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.base.progress import bar
from dvc_pedata.errors import IntegrityError, NotFoundError, PedataError
from dvc_pedata.model.merkle import FileEntry
from dvc_pedata.registry.source import RegistryView
from dvc_pedata.resolver import cache
from dvc_pedata.resolver.dirresolve import build_tree, missing_objects
from dvc_pedata.resolver.fetch import Source, sources

JOBS = 8
BATCH = 64  # objects per batch: one stream, its locks held, two filesystem syncs


@dataclass(frozen=True)
class FetchedTree:
    path: Path
    source: str
    fetched: int  # objects downloaded by this call


class _Problem(Exception):
    def __init__(self, entry: FileEntry, integrity: bool, text: str) -> None:
        super().__init__(text)
        self.entry, self.integrity, self.text = entry, integrity, text


def _stage_one(repo: Any, srcs: list[Source], uri: str, e: FileEntry, advance: Any, root: Path,
               stale: dict[str, list[str]]) -> tuple[Path | None, str]:
    """Stage one object from the first source whose bytes hash right: (temp path or None if cached, label).

    Call under the object's lock; the temp file is verified but not yet durable nor named.
    """
    if cache.lookup(e.sha256, e.size, root) is not None:
        return None, "cache"
    cache.remove_stale(stale.get(e.sha256, ()))  # a killed writer's, before ours (found by one scan per folder)
    if not e.md5:
        raise _Problem(e, False, f"{e.path}: the listing records no md5, so its DVC object cannot be located")
    problems: list[str] = []
    bad: str | None = None
    for src in srcs:
        try:
            tmp = cache.stage_stream(e.sha256, repo.iter_remote_object(e.md5, src.remote), progress=advance, root=root,
                                     label=f"{uri};path={e.path}", max_size=e.size, durable=False)
            return tmp, src.label
        except cache.DigestMismatch as exc:
            bad = bad or exc.actual
            problems.append(f"{src.label} holds {exc.what}")
        except (NotFoundError, PedataError) as exc:
            problems.append(f"{src.label}: {exc.message}")
    if bad is not None:
        raise _Problem(e, True, f"file {e.path}: corrupted bytes in the remote: expected sha256 {e.sha256}, got {bad} (md5 object {e.md5})")
    raise _Problem(e, False, f"file {e.path}: bytes sha256 {e.sha256} not found: {'; '.join(problems)}")


def _fetch_batch(repo: Any, srcs: list[Source], uri: str, batch: list[FileEntry], advance: Any,
                 root: Path, stale: dict[str, list[str]]) -> list[str | _Problem]:
    """Bring a batch of objects in: each staged and verified under its lock, then one filesystem
    sync, then every name, then one more sync before the locks go.

    Crash ordering is that of :func:`cache.store_stream` (no name before its bytes are durable;
    a killed run leaves only temp files, which the next writer of that object removes), with two
    ``syncfs`` per batch instead of two fsyncs per object.
    """
    out: list[str | _Problem] = []
    staged: list[tuple[FileEntry, Path, str]] = []
    with contextlib.ExitStack() as locks:
        try:
            for e in batch:
                locks.enter_context(cache.object_lock(e.sha256, root))
                try:
                    tmp, label = _stage_one(repo, srcs, uri, e, advance, root, stale)
                except _Problem as p:
                    out.append(p)
                    continue
                if tmp is None:
                    out.append(label)
                else:
                    staged.append((e, tmp, label))
            if staged:
                cache.sync_filesystem(root)  # the bytes, before any name
                for e, tmp, label in staged:
                    cache.publish_staged(tmp, e.sha256, root=root, sync_dir=False)
                    out.append(label)
                cache.sync_filesystem(root)  # the names, before the locks go
        finally:
            for _, tmp, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
    return out


def fetch_directory(view: RegistryView, uri: str, sha256: str, entries: list[FileEntry], jobs: int = JOBS) -> FetchedTree:
    """Make every file of the directory ``sha256`` present in the cache, then its tree."""
    root = cache.cache_dir()  # once: per file, reading the environment cost more than the stat
    todo = missing_objects(entries, root)
    label = "cache"
    if todo:
        from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
            DvcRepo,
        )

        errors: list[_Problem] = []
        labels: set[str] = set()
        lock = threading.Lock()
        with DvcRepo(view.root, rev=view.rev) as repo, bar(f"get {uri} ({len(todo)} files)", sum(e.size for e in todo)) as adv:
            srcs = sources(view, repo.default_remote())

            def advance(n: int) -> None:
                if adv is not None:
                    with lock:
                        adv(n)

            # Batches of files per stream (bounded: ``jobs`` streams, BATCH locks each): the
            # per-object cost of a many-small-files folder is its syncs, paid once per batch.
            stale = cache.stale_temps((e.sha256 for e in todo), root)
            size = max(1, min(BATCH, -(-len(todo) // max(1, jobs))))
            batches = [todo[i:i + size] for i in range(0, len(todo), size)]
            with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
                futures = [pool.submit(_fetch_batch, repo, srcs, uri, b, advance, root, stale) for b in batches]
                for fut in concurrent.futures.as_completed(futures):
                    for got in fut.result():
                        if isinstance(got, _Problem):
                            errors.append(got)
                        else:
                            labels.add(got)
        if errors:
            errors.sort(key=lambda p: (not p.integrity, p.entry.path))
            first = errors[0]
            more = f" ({len(errors) - 1} more files failed)" if len(errors) > 1 else ""
            cls = IntegrityError if first.integrity else NotFoundError
            done = len(todo) - len(errors)
            raise cls(f"{uri}: {first.text}{more}; nothing was cached for it ({done} other files were, a rerun resumes)")
        labels.discard("cache")
        label = sorted(labels)[0] if labels else "cache"
    return FetchedTree(build_tree(sha256, entries, root), label, len(todo))
