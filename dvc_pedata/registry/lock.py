"""An advisory lock per registry, so two pedata processes never interleave document updates."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dvc_pedata.errors import PedataError


@contextmanager
def registry_lock(state_dir: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold ``<state_dir>/lock`` exclusively; with ``wait=False`` a busy lock is a clear error."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise PedataError("another pedata process is updating this registry; try again when it finishes") from None
        yield
    finally:
        os.close(fd)
