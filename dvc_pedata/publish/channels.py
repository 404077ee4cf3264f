"""Channel documents: advancing a channel keeps its version rising and its ``prev`` chain intact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import DocumentError
from dvc_pedata.model.documents import Channel, new_body
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust.judge import room_problem


def pin_of(sha256: str, manifest_sha256: str, size: int, location: dict[str, Any] | None = None) -> dict[str, Any]:
    pin: dict[str, Any] = {"sha256": sha256, "manifest_sha256": manifest_sha256, "size": size}
    if location:
        pin["location"] = location
    return pin


def _next_position(reg: Registry, ns: str, channel: str, current: Channel | None) -> tuple[int, str | None]:
    """(version, prev) for the next document of a channel.

    ``verify`` requires every ``prev`` to name a version in git history, so a version that was
    written but never committed (two publishes before one commit) is replaced, not chained onto:
    one commit adds one version.
    """
    if current is None:
        return 1, None
    rel = reg.rel(reg.channel_path(ns, channel))
    data = gitio.show(reg.root, "HEAD", rel)
    if data is None:
        if current.version == 1 and current.prev is None:  # never committed at all
            return 1, None
    else:
        committed = Channel.from_bytes(data, f"HEAD:{rel}")
        if committed.digest != current.digest and current.version == committed.version + 1 and current.prev == committed.digest:
            return current.version, current.prev
    return current.version + 1, current.digest


def advance(
    reg: Registry,
    ns: str,
    channel: str,
    artifacts: Mapping[str, Mapping[str, Any]],
    *,
    replace: bool = False,
    expires: str | None = None,
) -> Channel | None:
    """The next version of ``channels/<ns>/<channel>.json`` with ``artifacts`` applied.

    With ``replace=False`` the given pins are merged into the current ones (publish adds or
    updates artifacts); with ``replace=True`` they become the whole set. Returns None when nothing
    would change, so re-running a command is a no-op rather than a new version.
    """
    current = reg.load_channel(ns, channel)
    base = dict(current.artifacts) if (current and not replace) else {}
    merged = {**base, **artifacts}
    if current is not None and merged == current.artifacts and expires == current.expires:
        return None
    version, prev = _next_position(reg, ns, channel, current)
    if current is not None:
        problem = room_problem(current) or room_problem(Channel({**current.body, "version": version}))
        if problem:  # never write a version the strict reader refuses, or one that bricks the next write

            raise DocumentError(f"{reg.rel(reg.channel_path(ns, channel))}: {problem}; nothing written")
    body = new_body(
        "channel",
        namespace=ns,
        channel=channel,
        version=version,
        prev=prev,
        expires=expires,
        artifacts=dict(sorted(merged.items())),
    )
    return Channel(body, [])
