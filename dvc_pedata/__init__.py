"""dvc-pedata: a git + DVC data registry for citable, signed, revocable scientific microdata.

``get_path`` and ``open`` try the warm-cache memo (:mod:`dvc_pedata.resolver.warm`) before importing the
resolver, so that a repeated resolution in a fresh process costs little more than Python's own
start-up. ``import dvc_pedata`` never imports DVC (nor ``typing``: it is on that path too), nor pandas,
DuckDB or Dask: ``read_table`` and ``read_policyengine`` (:mod:`dvc_pedata.dataframes.readers`) load on first use.
"""

from __future__ import annotations

from dvc_pedata.base.version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from pathlib import Path
    from typing import IO, Any


__all__ = ["get_path", "open", "schema", "read_table", "read_policyengine", "__version__"]


def get_path(
    uri: str,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
) -> Path:
    """The local path of ``uri``'s verified bytes (read-only; do not modify it)."""
    from dvc_pedata.resolver import warm

    hit = warm.lookup(uri, registry, rev, trusted_root)
    if hit is not None:
        import sys
        from pathlib import Path

        path, warnings = hit
        for w in warnings:  # the warnings the full resolution gave, repeated as it would
            print(f"pedata: warning: {w}", file=sys.stderr)
        return Path(path)
    from dvc_pedata.resolver import api

    return api.resolved_path(uri, registry, rev, offline=offline, trusted_root=trusted_root)


def open(  # noqa: A001 - mirrors builtins.open / dvc.api.open on purpose
    uri: str,
    mode: str = "rb",
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
    encoding: str | None = None,
) -> IO[Any]:
    """Open ``uri``'s verified bytes for reading (``"rb"`` or ``"r"``)."""
    from dvc_pedata.resolver import api

    return api.open(uri, mode, registry, rev, offline=offline, trusted_root=trusted_root, encoding=encoding)


def __getattr__(name: str) -> Any:
    if name == "schema":
        from dvc_pedata.resolver import api

        return api.schema
    if name in ("read_table", "read_policyengine"):  # lazy: pyarrow.dataset / pandas only when called
        from dvc_pedata.dataframes import readers

        return getattr(readers, name)
    raise AttributeError(f"module 'dvc_pedata' has no attribute {name!r}")
