"""The public Python API (``dvc_pedata.get_path``, ``open``, ``schema``) over the resolver.

Like the CLI, this layer renders: warnings the resolver returns in its results are reported on
stderr as ``pedata: warning: …`` (a retired release, a revoked artifact's schema). Everything
below it returns data. A warm-cache hit (:mod:`dvc_pedata.resolver.warm`) answers first and
replays the warnings its memo recorded.
"""

from __future__ import annotations

import builtins
import io
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from dvc_pedata.errors import PedataError
from dvc_pedata.model.fields import complete_schema
from dvc_pedata.resolver import warm
from dvc_pedata.resolver.resolve import describe, resolve


def report_warnings(warnings: Iterable[str]) -> None:
    """Say each warning on stderr, as the CLI does (``pedata: warning: …``)."""
    for w in warnings:
        print(f"pedata: warning: {w}", file=sys.stderr)


def get_path(
    uri: str,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
) -> Path:
    """The local path of ``uri``'s verified bytes (read-only; do not modify it)."""
    hit = warm.lookup(uri, registry, rev, trusted_root)
    if hit is not None:
        path, warnings = hit
        report_warnings(warnings)
        return Path(path)
    return resolved_path(uri, registry, rev, offline=offline, trusted_root=trusted_root)


def resolved_path(
    uri: str,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
) -> Path:
    """:func:`get_path` after a warm-memo miss the caller already had (the facade, the fsspec
    filesystem): the full resolution, without asking the memo a second time."""
    res = resolve(uri, registry, rev, offline=offline, trusted_root=trusted_root)
    report_warnings(res.warnings)
    assert res.path is not None
    return res.path


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
    if mode not in ("rb", "r", "rt"):
        raise PedataError(f"pedata.open: mode {mode!r} is not allowed; artifacts are read-only ('rb' or 'r')")
    path = get_path(uri, registry, rev, offline=offline, trusted_root=trusted_root)
    fh = builtins.open(path, "rb")  # noqa: SIM115 - returned to the caller
    return fh if mode == "rb" else io.TextIOWrapper(fh, encoding=encoding or "utf-8")


def schema(
    uri: str,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
) -> dict[str, Any]:
    """The artifact's schema from its (checked) manifest; never downloads bytes.

    A revoked artifact still answers (with a warning on stderr): revocation withdraws bytes, not
    the record of what they were. A wide table's complete field list (the companion file its
    manifest names by digest) is read from the same registry state and checked.
    """
    res = describe(uri, registry, rev, offline=offline, trusted_root=trusted_root, revoked_ok=True)
    report_warnings(res.warnings)
    return complete_schema(res.manifest, res.view.read if res.view is not None else None)
