"""Validation of namespaces, artifact names and channel names.

Names become path segments (``manifests/<ns>/<name>/``) and git tag parts, so only a safe,
lowercase alphabet is accepted: no traversal, no separators, no case-folding collisions.
"""

from __future__ import annotations

import re

from dvc_pedata.errors import InvalidNameError

NAME_PATTERN = r"[a-z0-9][a-z0-9_.-]*"
_NAME_RE = re.compile(rf"^{NAME_PATTERN}\Z")
SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
MAX_NAME_LEN = 128
SHORT_DIGEST = 12  # hex digits shown for a sha256 in messages and listings (git-style)

# The channel `pedata publish` writes after every build. It may be unsigned: CI writes it.
LATEST = "latest"
# The roles a trust root assigns, in the order documents name them.
ROLES = ("root", "promoter", "certifier", "revoker")


def short(sha256: str) -> str:
    """A digest as messages show it (its first hex digits)."""
    return sha256[:SHORT_DIGEST]


def check_name(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid name, else raise a one-line :class:`InvalidNameError`."""
    if not isinstance(value, str) or not value:
        raise InvalidNameError(f"invalid {what}: empty")
    if len(value) > MAX_NAME_LEN:
        raise InvalidNameError(f"invalid {what} {value[:40]!r}...: longer than {MAX_NAME_LEN} characters")
    if ".." in value or not _NAME_RE.match(value):
        raise InvalidNameError(
            f"invalid {what} {value!r}: use lowercase letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, no '/' or '..')"
        )
    return value


def check_namespace(value: str) -> str:
    return check_name(value, "namespace")


def check_sha256(value: str, what: str = "sha256") -> str:
    if not isinstance(value, str) or not SHA256_RE.match(value):
        raise InvalidNameError(f"invalid {what} {value!r}: expected 64 lowercase hex digits")
    return value
