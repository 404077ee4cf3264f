"""The lock files as documents: ``locks/inputs.manifest.json`` and ``locks/deps.lock.yaml``.

Reading and checking them is the model's business (every reader of a lock — publish, lineage,
replay, gc, verify — parses it here with the same strict rules and one-line errors); building
them is :mod:`dvc_pedata.publish.locks` (``pedata lock``, and ``publish`` when they are stale).
"""

from __future__ import annotations

import re
from typing import Any

from dvc_pedata.errors import DocumentError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import loads_strict
from dvc_pedata.model.documents import validate

INPUTS_LOCK = layout.INPUTS_LOCK
DEPS_LOCK = layout.DEPS_LOCK

def load_inputs_lock(data: bytes, source: str = INPUTS_LOCK) -> dict[str, Any]:
    """Parse and check an inputs lock (strict JSON, then its shipped schema: every entry's types)."""
    doc = loads_strict(data, source=source)
    if not isinstance(doc, dict) or doc.get("kind") != "inputs-lock" or not isinstance(doc.get("inputs"), list):
        raise DocumentError(f"{source}: not an inputs lock (expected kind 'inputs-lock' with an 'inputs' list)")
    for i, entry in enumerate(doc["inputs"]):
        if not isinstance(entry, dict) or not {"path", "source", "sha256", "size"} <= set(entry):
            raise DocumentError(f"{source}: inputs[{i}] needs path, source, sha256 and size")
    validate("inputs-lock", doc, source)
    return doc


def _plain_data(obj: Any, source: str, depth: int = 0, seen: set[int] | None = None) -> None:
    """YAML can say more than JSON: refuse what a lock written by ``pedata lock`` never holds
    (aliases, which can expand exponentially; timestamps, binary, sets; deep nesting)."""
    if depth > 64:
        raise DocumentError(f"{source}: nested too deeply (more than 64 levels)")
    if obj is None or isinstance(obj, (bool, int, str)):
        return
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise DocumentError(f"{source}: non-finite number")
        return
    if not isinstance(obj, (dict, list)):
        raise DocumentError(f"{source}: unexpected YAML value of type {type(obj).__name__}")
    seen = set() if seen is None else seen
    if id(obj) in seen:
        raise DocumentError(f"{source}: YAML aliases are not allowed in a lock")
    seen.add(id(obj))
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise DocumentError(f"{source}: mapping key {str(key)[:40]!r} is not a string")
            _plain_data(value, source, depth + 1, seen)
    else:
        for value in obj:
            _plain_data(value, source, depth + 1, seen)


def _flow_depth(text: str) -> int:
    """The deepest nesting of YAML flow brackets (``[``/``{``), counted without parsing: brackets
    inside quoted scalars count too, which only matters for a pathological lock."""
    depth = deepest = 0
    for ch in re.findall(r"[\[\]{}]", text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def load_deps_lock(data: bytes, source: str = DEPS_LOCK) -> dict[str, Any]:
    """Parse and check an environment lock (safe YAML, plain data only, then its shipped schema)."""
    from ruamel.yaml import YAML, YAMLError  # lazy: ruamel only when a deps lock is read


    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{source}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if _flow_depth(text) > 64:  # the pure-Python YAML parser takes seconds on a few KB of "[[[[..."
        raise DocumentError(f"{source}: YAML nested too deeply (more than 64 levels)")
    try:
        doc = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise DocumentError(f"{source}: not valid YAML ({' '.join(str(exc).split())[:120]})") from None
    except RecursionError:
        raise DocumentError(f"{source}: YAML nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2024-13-45
        raise DocumentError(f"{source}: not valid YAML ({' '.join(str(exc).split())[:120]})") from None
    if not isinstance(doc, dict) or doc.get("kind") != "deps-lock":
        raise DocumentError(f"{source}: not an environment lock (expected kind 'deps-lock')")
    _plain_data(doc, source)
    validate("deps-lock", doc, source)
    return doc
