"""Progress bars for long hashes and transfers: on a terminal only, silent in pipes and CI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def enabled() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI") and os.environ.get("PEDATA_NO_PROGRESS") is None


@contextmanager
def bar(description: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """Yield an ``advance(nbytes)`` callback, or None when progress is off (callers skip it)."""
    if not enabled():
        yield None
        return
    from rich.console import Console  # rich ships with DVC; imported only when drawing
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TransferSpeedColumn,
    )

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
        console=Console(stderr=True),  # stdout carries the answer (a path, JSON): keep it clean
    ) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)
