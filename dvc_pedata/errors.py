"""Errors that the CLI turns into one clear line and a non-zero exit.

Everything a user can get wrong (unknown name, bad URI, missing key, tampered file, revoked
artifact) raises a subclass of :class:`PedataError`; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class PedataError(Exception):
    """An expected failure, reported as ``pedata: error: <message>`` with ``exit_code``."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        # One line: a multi-line message would defeat `grep`-able errors. DVC colours its hints
        # ("See <https://dvc.org/...>"); terminal escape codes would end up in logs and pipes.
        text = str(message)
        if "\x1b" in text:
            import re

            text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)
        super().__init__(" ".join(text.split()))
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self)


class UsageError(PedataError):
    """Bad arguments (argparse's own usage errors use exit code 2 too)."""

    exit_code = 2


class NotARegistryError(PedataError):
    """The folder is not a git + DVC repository initialised by ``pedata init``."""


class InvalidNameError(PedataError):
    """A namespace, artifact name or channel name outside ``[a-z0-9][a-z0-9_.-]*``."""


class NotFoundError(PedataError):
    """An unknown namespace, artifact, channel, release, manifest or key."""


class DocumentError(PedataError):
    """A document that is not valid JSON or fails its schema."""


class IntegrityError(PedataError):
    """Bytes that do not hash to the digest they are supposed to have."""

    exit_code = 3


class SignatureError(PedataError):
    """Missing, invalid or under-threshold signatures."""

    exit_code = 3


class RevokedError(PedataError):
    """The artifact has a tombstone: its bytes are never served (like HTTP 410 Gone)."""

    exit_code = 4


class OfflineError(PedataError):
    """Offline mode was asked for, and what is needed is not in the local cache."""

    exit_code = 5


class DvcError(PedataError):
    """A DVC operation failed; the message carries DVC's own reason."""


class FormatError(PedataError):
    """A data file that is corrupt, unreadable or not in the format it claims to be."""
