"""``pedata audit``: the access log to show, this machine's or a registry's remote trail."""

from __future__ import annotations

from typing import Any

from dvc_pedata.errors import UsageError
from dvc_pedata.registry.checkout import registry_root
from dvc_pedata.registry.repo import Registry
from dvc_pedata.resolver import access_log


def audit_entries(since: str | None = None, *, remote: bool = False, registry: str | None = None) -> list[dict[str, Any]]:
    """The access-log entries from ``since`` on: with ``remote``, the append-only trail in the DVC
    remote of ``registry`` (a checkout or git URL; default ``$PEDATA_REGISTRY``, else the one
    containing the current folder); otherwise this machine's log, which covers every registry."""
    if remote:
        reg = Registry.find(registry_root(registry))  # a URL: a work tree of the cached clone
        return access_log.read_remote(reg.root, since, reg.config.get("remote"))
    if registry:
        raise UsageError("--registry goes with --remote (the local log is this machine's, for every registry)")
    return access_log.read(since)
