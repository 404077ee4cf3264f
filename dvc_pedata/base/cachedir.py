"""Where pedata's per-user cache lives: ``$PEDATA_CACHE_DIR``, else ``$XDG_CACHE_HOME/pedata``,
else ``~/.cache/pedata``.

One folder holds the verified objects (``sha256/``), cached registry clones (``registries/``),
validated-document memos (``validated/``) and warm-cache memos (``warm/``): one trust domain.
Only ``os`` is imported here: the warm-cache hit path reads this before anything else.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def cache_dir_text() -> str:
    """The cache folder as a string (no pathlib: the warm path does not import it)."""
    explicit = os.environ.get("PEDATA_CACHE_DIR")
    if explicit:
        return os.path.expanduser(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return os.path.join(os.path.expanduser(xdg) if xdg else os.path.join(os.path.expanduser("~"), ".cache"), "pedata")


def cache_dir() -> Path:
    """The cache folder."""
    from pathlib import Path  # lazy: the warm path avoids pathlib

    return Path(cache_dir_text())
