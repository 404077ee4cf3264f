"""Channel documents: advancing a channel keeps its version rising and its ``prev`` chain intact."""

from __future__ import annotations

from typing import Any

from .documents import Channel, new_body
from .registry import Registry


def pin_of(sha256: str, manifest_sha256: str, size: int, location: dict[str, Any] | None = None) -> dict[str, Any]:
    pin: dict[str, Any] = {"sha256": sha256, "manifest_sha256": manifest_sha256, "size": size}
    if location:
        pin["location"] = location
    return pin


def advance(
    reg: Registry,
    ns: str,
    channel: str,
    artifacts: dict[str, dict[str, Any]],
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
    body = new_body(
        "channel",
        namespace=ns,
        channel=channel,
        version=(current.version + 1) if current else 1,
        prev=current.digest if current else None,
        expires=expires,
        artifacts=dict(sorted(merged.items())),
    )
    return Channel(body, [])
