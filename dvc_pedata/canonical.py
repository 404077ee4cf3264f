"""RFC 8785 canonical JSON, document digests, and strict JSON parsing.

Signatures and digests are computed over canonical bytes, never over the pretty-printed file, so
reformatting a document does not change its identity, while any change to its content does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from .errors import DocumentError


def _plain(obj: Any, depth: int = 0) -> bool:
    """True if ``json.dumps(sort_keys=True)`` already produces RFC 8785 bytes for ``obj``.

    That holds without floats (JCS formats numbers the ECMAScript way) and with keys below
    U+D800 (JCS sorts keys by UTF-16 code units, Python by code points; they only disagree
    beyond the BMP). String escaping is identical: JCS and ``json`` both escape only ``"``, ``\\``
    and control characters, with lowercase ``\\u00xx``.
    """
    if depth > 64:
        return False
    if obj is None or isinstance(obj, (bool, str)):
        return True
    if isinstance(obj, int):
        return abs(obj) <= 2**53 - 1
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str) or (key and max(key) >= "\ud800") or not _plain(value, depth + 1):
                return False
        return True
    if isinstance(obj, list):
        return all(_plain(v, depth + 1) for v in obj)
    return False


def canonical_bytes(obj: Any) -> bytes:
    """The RFC 8785 (JCS) serialisation of ``obj``.

    Float-free documents (channels, releases, roots, most manifests) take a C-speed path that
    is byte-identical to the reference implementation (a hypothesis property checks this);
    everything else goes through ``rfc8785``.
    """
    if _plain(obj):
        try:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DocumentError(f"cannot canonicalise document: {exc.reason}") from exc
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise DocumentError(f"cannot canonicalise document: {exc}") from exc


def digest(obj: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``obj``: the identity of a document."""
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


def pretty_bytes(obj: Any) -> bytes:
    """The on-disk form: sorted keys, two-space indent, UTF-8, trailing newline.

    Deterministic, so a rebuilt manifest is byte-identical and a pull request diff is readable.
    """
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode(
        "utf-8"
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DocumentError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise DocumentError(f"non-standard JSON constant {name}")


def loads_strict(data: bytes | str, *, source: str = "document") -> Any:
    """Parse JSON, refusing what could make two readers disagree.

    Duplicate keys, NaN/Infinity, invalid UTF-8 and integers beyond I-JSON's exact range
    (|n| > 2**53 - 1) are rejected, because canonicalisation could not represent them identically.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"{source}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    else:
        text = data
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except DocumentError as exc:
        raise DocumentError(f"{source}: {exc}") from exc
    except RecursionError as exc:
        raise DocumentError(f"{source}: JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{source}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    _check_numbers(obj, source)
    return obj


def _check_numbers(obj: Any, source: str, depth: int = 0) -> None:
    if depth > 64:
        raise DocumentError(f"{source}: JSON nested too deeply (more than 64 levels)")
    if isinstance(obj, bool):
        return
    if isinstance(obj, int):
        if abs(obj) > 2**53 - 1:
            raise DocumentError(f"{source}: integer {obj} is outside the exact JSON range")
    elif isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise DocumentError(f"{source}: non-finite number")
    elif isinstance(obj, dict):
        for value in obj.values():
            _check_numbers(value, source, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            _check_numbers(value, source, depth + 1)
