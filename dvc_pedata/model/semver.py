"""Semantic versions (semver.org 2.0.0): parsing, validation and precedence."""

from __future__ import annotations

import re
from functools import total_ordering

from dvc_pedata.errors import InvalidNameError

SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)


def check_semver(value: str) -> str:
    """Return ``value`` (without a leading ``v``) if it is semver, else raise a one-line error."""
    if isinstance(value, str) and value.startswith("v"):
        value = value[1:]
    if not isinstance(value, str) or not SEMVER_RE.match(value):
        raise InvalidNameError(f"invalid version {value!r}: expected semver such as 1.3.0")
    return value


@total_ordering
class Version:
    def __init__(self, text: str) -> None:
        self.text = check_semver(text)
        m = SEMVER_RE.match(self.text)
        assert m
        self.core = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        self.pre = tuple(m.group(4).split(".")) if m.group(4) else ()

    def _key(self) -> tuple:
        # A pre-release sorts before its release; numeric identifiers before alphanumeric ones.
        pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.core, 0 if self.pre else 1, pre_key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text
