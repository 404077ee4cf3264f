"""Git's lock files after a killed pedata command: clear the ones that command left, never others.

A ``git commit`` or ``git checkout -b`` that is killed (SIGKILL, OOM, a closed CI runner) leaves
``.git/index.lock`` (or ``HEAD.lock``, a branch's ``.lock``) behind, and every later git command
in the repository fails with "Unable to create '…/index.lock': File exists" until someone removes
it by hand. Git cannot tell a stale lock from a live one, and neither can pedata in general: the
user's own git (an editor, a shell) may hold it right now.

So pedata writes down that it is about to run git writes: ``<state dir>/git-writes`` holds its
pid (and pid namespace, as :mod:`atomic` names temporary files) and is created *before* the first
git write and removed after the last. Crash ordering: marker, git writes (each takes and drops its
locks), marker removed. A marker that survives therefore means a pedata process died during its
git writes; if that process is gone (same pid namespace, pid not alive), a git lock file that is
*newer than the marker* was taken by one of its git commands and is removed by the next run, which
says so on stderr. A lock older than the marker, a marker of a live process or of another pid
namespace is left alone (git's own message then stands). Callers hold the registry lock, so two
pedata writers never race here.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from dvc_pedata.base import gitio
from dvc_pedata.base.atomic import _TAG, _alive
from dvc_pedata.registry.repo import Registry

MARKER = "git-writes"


def _marker(reg: Registry) -> Path:
    return reg.state_dir / MARKER


def _lock_paths(reg: Registry, refs: tuple[str, ...]) -> list[Path]:
    names = ["index.lock", "HEAD.lock", *(f"{r}.lock" for r in refs)]
    out = gitio.git(reg.root, "rev-parse", "--git-path", *names, check=False).splitlines()
    return [Path(p) if os.path.isabs(p) else reg.root / p for p in out]


def recover(reg: Registry, refs: tuple[str, ...] = ()) -> list[str]:
    """Remove the git locks a killed pedata run left (see the module doc); returns what was removed."""
    marker = _marker(reg)
    try:
        text = marker.read_text()
        since = marker.stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return []
    pid_text, _, tag = text.strip().partition(" ")
    if tag != _TAG or not pid_text.isascii() or not pid_text.isdigit() or _alive(int(pid_text)):
        return []  # another pid namespace, or still running: not ours to judge
    removed = []
    for lock in _lock_paths(reg, refs):
        with contextlib.suppress(FileNotFoundError):
            if lock.stat().st_mtime >= since:
                lock.unlink()
                removed.append(os.path.relpath(lock, reg.root))
    marker.unlink(missing_ok=True)
    for rel in removed:
        print(f"pedata: note: removed {rel}, left by a pedata run that was killed during a git write", file=sys.stderr)
    return removed


@contextlib.contextmanager
def git_writes(reg: Registry) -> Iterator[None]:
    """Mark the git writes inside as pedata's, so a run killed meanwhile can be cleaned up."""
    marker = _marker(reg)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{os.getpid()} {_TAG}\n")
    try:
        yield
    finally:
        # git exited (done or failed) and released its locks: nothing of ours is left
        marker.unlink(missing_ok=True)
