"""Times as RFC 3339 UTC strings (``2026-11-21T10:00:00Z``) and durations like ``30d``, ``12h``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .errors import UsageError

_DURATION_RE = re.compile(r"^(\d+)([smhdw])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    try:
        return datetime.strptime(text.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except (ValueError, AttributeError):
        raise UsageError(f"invalid time {text!r}: expected YYYY-MM-DDTHH:MM:SSZ") from None


def parse_duration(text: str) -> timedelta:
    m = _DURATION_RE.match(text or "")
    if not m:
        raise UsageError(f"invalid duration {text!r}: use a number and a unit, e.g. 30d, 12h, 2w")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def expires_in(text: str | None) -> str | None:
    """RFC 3339 time ``text`` (a duration) from now, or None."""
    return format_time(now() + parse_duration(text)) if text else None


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)
