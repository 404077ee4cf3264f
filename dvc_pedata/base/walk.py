"""Walking a folder the way pedata reads one: ``os.scandir``, symbolic links to folders not entered.

``os.scandir``, not ``Path.rglob``: the file type comes with the listing (no stat per entry), and
50,000 ``Path`` objects cost more than hashing the files. Like ``rglob``, a link to a folder is
not entered: it is reported as an entry of its own, which the caller judges (a link to a file
``is_file()``; a link to a folder, a broken link or a socket does not).
"""

from __future__ import annotations

import os
from collections.abc import Iterator


def entries_below(folder: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """``(path relative to folder with / separators, entry)`` of everything below ``folder`` that
    is not a folder, in no particular order."""
    todo = [""]
    while todo:
        sub = todo.pop()
        with os.scandir(f"{folder}/{sub}" if sub else folder) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(f"{sub}{entry.name}/")
                else:
                    yield sub + entry.name, entry
