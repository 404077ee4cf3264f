"""A registry's settings file, ``pedata.json``: strict JSON, checked key by key.

Every reader of a registry (a work tree, a commit, a cached clone) parses it here, so the rules and
the one-line errors are the same whoever reads it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dvc_pedata.errors import DocumentError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import loads_strict
from dvc_pedata.model.names import MAX_NAME_LEN, NAME_PATTERN

CONFIG_FILE = layout.CONFIG


_NAME_RE = re.compile(rf"{NAME_PATTERN}\Z")


_REMOTE_RE = re.compile(r"[^\x00-\x1f\x7f]{1,256}\Z")


def _is_name(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_NAME_LEN and ".." not in v and bool(_NAME_RE.match(v))  # as check_name


def _is_remote(v: Any) -> bool:
    return isinstance(v, str) and bool(_REMOTE_RE.match(v))


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _is_int(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_author(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))


_SETTINGS: dict[str, tuple[Any, str]] = {
    "namespaces": (lambda v: isinstance(v, list) and all(_is_name(n) for n in v), "a list of lowercase names"),
    "default_namespace": (lambda v: v is None or _is_name(v), "a lowercase name or null"),
    "remote": (lambda v: v is None or _is_remote(v), "a DVC remote name or null"),
    "mirrors": (lambda v: isinstance(v, list) and all(_is_remote(m) for m in v), "a list of DVC remote names"),
    "audit": (lambda v: isinstance(v, dict) and isinstance(v.get("remote", False), bool), 'an object like {"remote": false}'),
    "licence": (_opt_str, "a string or null"),
    "title": (_opt_str, "a string or null"),
    "directory_inline_files": (lambda v: _is_int(v, 0, 10_000_000), "a whole number from 0 to 10000000"),
    "replay": (lambda v: isinstance(v, dict) and isinstance(v.get("enabled", True), bool), 'an object like {"enabled": true}'),
    "citation": (
        lambda v: isinstance(v, dict)
        and all(_opt_str(v.get(k)) for k in ("title", "abstract", "url", "publisher", "package"))
        and (v.get("authors") is None or (isinstance(v["authors"], list) and all(map(_is_author, v["authors"])))),
        "an object of strings (title, abstract, url, publisher, package) and authors (a list)",
    ),
}


def load_config(data: bytes, source: str = CONFIG_FILE) -> dict[str, Any]:
    """Parse and check registry settings: strict JSON, ``kind: registry``, ``schema_version: 1``
    and every known setting of the right type, so a bad value is one clear error at load time
    instead of a failure deep inside a command. Plain Python: this runs on the resolver's path."""
    cfg = loads_strict(data, source=source)
    if not isinstance(cfg, dict) or cfg.get("kind") != "registry":
        raise DocumentError(f"{source}: not a pedata registry settings file")
    version = cfg.get("schema_version")
    if not _is_int(version, 1, 1):
        raise DocumentError(f"{source}: unsupported schema_version {str(version)[:40]!r} (this pedata reads version 1)")
    for key, (ok, want) in _SETTINGS.items():
        if key in cfg and not ok(cfg[key]):
            raise DocumentError(f"{source}: setting {key!r} must be {want}, not {_show(cfg[key])}")
    return cfg


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
