"""Who resolved what, when, and from where: one JSON line per resolution.

The local log is ``<cache>/access.log``, opened with ``O_APPEND`` and written with a single
``write`` per line, so concurrent resolvers never interleave half lines (POSIX appends of one
small write are atomic on local filesystems). When a registry's ``pedata.json`` says
``"audit": {"remote": true}``, each access is also written as its own object under ``audit/`` in
the registry's DVC remote, with a unique name and never overwritten (an append-only trail a data
owner can read without trusting consumers' machines).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.errors import UsageError
from dvc_pedata.resolver import warm
from dvc_pedata.resolver.cache import cache_dir


@dataclass(frozen=True)
class Access:
    time: str
    user: str
    uri: str
    sha256: str
    manifest_sha256: str
    name: str  # human name of the dataset: "<ns>/<name>"
    source: str  # cache | remote:<name> | mirror:<name>
    registry: str
    rev: str | None

    def line(self) -> bytes:
        return warm.access_line(asdict(self))


now_text = warm.now_text
current_user = warm.current_user


def log_path() -> Path:
    return cache_dir() / "access.log"


def append(entry: Access) -> None:
    """Append one line with one ``write`` on an ``O_APPEND`` descriptor."""
    warm.append_access(entry.line())


def remote_object_name(entry: Access) -> str:
    """``audit/<date>/<time>-<uuid>.json``: sortable, unique, never reused."""
    stamp = entry.time.replace(":", "").replace("-", "")
    import uuid  # lazy: uuid pulls in platform; only remote audit needs it

    return f"audit/{entry.time[:10]}/{stamp}-{uuid.uuid4().hex}.json"


def append_remote(root: Path, rev: str | None, remote: str | None, entry: Access) -> str:
    """Write ``entry`` as a new object under ``audit/`` in the DVC remote (imports DVC)."""
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcRepo,
    )

    with DvcRepo(root, rev=rev) as repo:
        return repo.write_remote_new(remote, remote_object_name(entry), entry.line())


def _parse_since(since: str) -> str:
    """Accept ``YYYY-MM-DD`` or an ISO time (UTC unless it names an offset); return it as UTC text
    that compares with log times (``YYYY-MM-DDTHH:MM:SS[.ffffff]``, a prefix of their format)."""
    from datetime import datetime, timezone  # only `pedata audit` needs it

    try:
        if len(since) == 10:
            datetime.strptime(since, "%Y-%m-%d")
            return since
        t = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"invalid --since {since!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z|+HH:MM]") from None
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond:06d}" if t.microsecond else "")


def _since_filter(entries: list[dict[str, Any]], cut: str | None) -> list[dict[str, Any]]:
    return [e for e in entries if cut is None or str(e.get("time", "")) >= cut]


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for raw in data.splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # a line cut by a full disk: keep reading the rest
        if isinstance(entry, dict):
            out.append(entry)
    return out


def read(since: str | None = None) -> list[dict[str, Any]]:
    """Entries of the local log (oldest first), from ``since`` on; bad lines are skipped."""
    cut = _parse_since(since) if since else None  # a bad --since is refused even with no log yet
    try:
        data = log_path().read_bytes()
    except FileNotFoundError:
        return []
    return _since_filter(_parse_lines(data), cut)


def read_remote(root: Path, since: str | None = None, remote: str | None = None) -> list[dict[str, Any]]:
    """Entries of the registry's remote audit trail (one object each under ``audit/``), oldest first.

    This is the record a data owner keeps: written by every consumer whose registry enables
    ``audit.remote``, never overwritten, read here without trusting any consumer's local log.
    """
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcRepo,
    )

    cut = _parse_since(since) if since else None
    with DvcRepo(root) as repo:
        blobs = repo.read_remote_prefix(remote, "audit")
    entries = [e for data in blobs for e in _parse_lines(data)]
    entries.sort(key=lambda e: str(e.get("time", "")))
    return _since_filter(entries, cut)
