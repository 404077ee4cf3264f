"""Times and durations as documents store them: RFC 3339 UTC ``YYYY-MM-DDTHH:MM:SSZ``.

One textual form only, so two tools never disagree about whether a document has expired, and a
signed time compares correctly even as a string. Durations (``30d``, ``12h``, ``2w``) are what
people type on the command line for expiries.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from dvc_pedata.errors import DocumentError, UsageError

_DURATION_RE = re.compile(r"^([1-9][0-9]{0,6})([smhdw])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\Z")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, truncated to whole seconds (what documents hold)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def format_time(when: datetime) -> str:
    """``2025-01-31T12:00:00Z`` (UTC, whole seconds)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str, what: str = "time") -> datetime:
    """Parse the RFC 3339 UTC form documents use; anything else is a :class:`DocumentError`."""
    if not isinstance(text, str) or not _TIME_RE.match(text):
        raise DocumentError(f"invalid {what} {text!r}: expected YYYY-MM-DDTHH:MM:SSZ (UTC)")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise DocumentError(f"invalid {what} {text!r}: {exc}") from None


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s`` -> timedelta; a one-line usage error otherwise."""
    m = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise UsageError(f"invalid duration {text!r}: use a number and a unit (s, m, h, d, w), like 30d, 12h or 2w")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def expires_in(text: str | None, now: datetime | None = None) -> str | None:
    """The expiry time for a duration from now; ``never`` (or None) means no expiry."""
    if text is None or text == "never":
        return None
    return format_time((now or utcnow()) + parse_duration(text))


def is_expired(expires: str | None, now: datetime | None = None) -> bool:
    """True if ``expires`` is set and not after ``now`` (an expiry instant is already too late)."""
    if expires is None:
        return False
    return parse_time(expires, "expiry") <= (now or utcnow())


def now() -> datetime:
    """Alias of :func:`utcnow`."""
    return utcnow()


def from_epoch(seconds: int) -> datetime:
    """A git commit time (seconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(seconds, timezone.utc)
