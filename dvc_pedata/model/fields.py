"""The complete field list of a wide table, in a content-addressed file beside its manifest.

A file manifest lists at most ``INLINE_FIELDS`` fields inline. For a wider table the manifest's
``schema`` keeps a summary — the first ``INLINE_FIELDS`` fields (with their parquet statistics
and HDF5 variable details), ``field_count``, ``fields_truncated: true``, the ``fingerprint`` over
all fields, rows, entities and weights — and names the rest by digest::

    "fields_sidecar": "<sha256>.fields.json",
    "fields_sidecar_sha256": "<sha256>"

``manifests/<ns>/<name>/<sha256>.fields.json`` holds ``{"fields": [...every field...],
"stats": {...every leaf column...}, "format_details": {"variables": {...every variable...}}}``
(``stats`` and ``format_details`` only when the format has them); its name is the sha256 of its
RFC 8785 canonical JSON, like a directory's ``.files.json`` listing (:mod:`dvc_pedata.companion`). The manifest pins it, and
the manifest is pinned by digest, so the complete list is as immutable as the manifest.

Whoever needs the complete schema (``pedata schema``, ``diff``, ``dvc_pedata.schema``, the site,
exports) calls :func:`complete_schema`, which checks the file against the manifest before using
it: name and digest, field count, fingerprint, and that the inline summary is its prefix.
Manifests written before this rule (up to 256 fields inline, the rest only fingerprinted) have no
companion and are returned as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dvc_pedata.errors import DocumentError, IntegrityError
from dvc_pedata.model.canonical import digest
from dvc_pedata.model.companion import FIELDS, Reader

__all__ = ["INLINE_FIELDS", "POINTER", "POINTER_SHA", "beside", "companion_of", "complete_schema", "has_companion", "split"]

INLINE_FIELDS = 8  # more fields than this: the complete lists go to the companion file
POINTER = "fields_sidecar"
POINTER_SHA = "fields_sidecar_sha256"


def _variables(schema: dict[str, Any]) -> dict[str, Any] | None:
    details = schema.get("format_details")
    if isinstance(details, dict) and isinstance(details.get("variables"), dict):
        return details["variables"]
    return None


def split(namespace: str, name: str, schema: dict[str, Any], limit: int = INLINE_FIELDS) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(the schema a manifest stores, {registry path: bytes} of its companion file, if any).

    ``schema`` must be complete (``describe(..., limit=None)``). Up to ``limit`` entries in every
    per-column list, it is stored inline as it is.
    """

    fields = list(schema.get("fields") or [])
    stats = schema.get("stats") or {}
    variables = _variables(schema)
    if schema.get("fields_truncated"):
        raise ValueError("split() needs the complete schema (describe with limit=None)")
    if max(len(fields), len(stats), len(variables or {})) <= limit:
        return schema, {}
    complete: dict[str, Any] = {"fields": fields}
    if stats:
        complete["stats"] = stats
    if variables is not None:
        complete["format_details"] = {"variables": variables}
    sha, rel, data = FIELDS.write(namespace, name, complete)
    summary = cap_schema(schema, limit)
    summary[POINTER] = FIELDS.filename(sha)
    summary[POINTER_SHA] = sha
    return summary, {rel: data}


def has_companion(schema: Any) -> bool:
    return isinstance(schema, dict) and (POINTER in schema or POINTER_SHA in schema)


def companion_of(manifest: Any) -> str | None:
    """The registry path of ``manifest``'s companion field list, or None."""
    s = manifest.schema
    if not has_companion(s):
        return None
    return FIELDS.rel(manifest.namespace, manifest.name, str(s.get(POINTER_SHA, "")))


def complete_schema(manifest: Any, read: Reader | None) -> dict[str, Any]:
    """``manifest``'s schema with every field, checked against the manifest.

    ``read(rel)`` returns a registry file's bytes (work tree or commit) or None; with
    ``read=None`` a summarised schema is returned as stored. Raises :class:`IntegrityError` when
    the companion is missing, modified or does not belong to the manifest.
    """
    s = manifest.schema
    if not has_companion(s) or read is None:
        return dict(s)
    where = f"{manifest.namespace}/{manifest.name} sha256:{manifest.sha256[:12]}"
    rel, obj = FIELDS.load(read, where, manifest.namespace, manifest.name, s.get(POINTER), str(s.get(POINTER_SHA, "")))
    fields = obj.get("fields") if isinstance(obj, dict) else None
    if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("type"), str) for f in fields):
        raise DocumentError(f"{rel}: not a field list (needs fields: [{{name, type, ...}}])")
    if len(fields) != s.get("field_count"):
        raise IntegrityError(f"{where}: field list {rel} has {len(fields)} fields, the manifest says {s.get('field_count')}")

    if fingerprint(fields) != s.get("fingerprint"):
        raise IntegrityError(f"{where}: field list {rel} does not match the manifest's fingerprint {str(s.get('fingerprint'))[:12]}…")
    inline = s.get("fields") or []
    if fields[: len(inline)] != inline:
        raise IntegrityError(f"{where}: the manifest's inline fields are not the first {len(inline)} of {rel}")
    stats = obj.get("stats", {})
    details = obj.get("format_details", {})
    variables = details.get("variables", {}) if isinstance(details, dict) else None
    if not isinstance(stats, dict) or not isinstance(variables, dict):
        raise DocumentError(f"{rel}: stats and format_details.variables must be objects")
    for label, part, full in (("statistics", s.get("stats") or {}, stats), ("variables", _variables(s) or {}, variables)):
        if any(full.get(k) != v for k, v in part.items()):
            raise IntegrityError(f"{where}: the manifest's inline {label} disagree with {rel}")
    out = dict(s)
    out["fields"] = fields
    out["fields_truncated"] = False
    out["stats"] = stats
    if variables:
        out["format_details"] = {**(s.get("format_details") or {}), "variables": variables}
    return out


def beside(manifest_path: Path) -> Reader:
    """A reader for a manifest opened by its file path: its companion lives in the same folder."""
    folder = Path(manifest_path).parent

    def read(rel: str) -> bytes | None:
        try:
            return (folder / rel.rsplit("/", 1)[-1]).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    return read


def cap_schema(schema: dict[str, Any], limit: int) -> dict[str, Any]:
    """``schema`` with its per-column lists cut to their first ``limit`` entries.

    The lists are ``fields``, ``stats`` (per parquet leaf column, in file order) and HDF5's
    ``format_details.variables``; ``field_count`` and ``fingerprint`` still describe every field.
    """
    out = dict(schema)
    fields = schema.get("fields") or []
    out["fields"] = fields[:limit]
    out["fields_truncated"] = bool(schema.get("fields_truncated")) or len(fields) > limit
    stats = schema.get("stats") or {}
    out["stats"] = dict(list(stats.items())[:limit]) if len(stats) > limit else stats
    details = schema.get("format_details")
    if isinstance(details, dict) and isinstance(details.get("variables"), dict) and len(details["variables"]) > limit:
        out["format_details"] = {**details, "variables": dict(list(details["variables"].items())[:limit])}
    return out


def fingerprint(fields: Iterable[Mapping[str, Any]]) -> str:
    """sha256 of the canonical JSON of ``[{name, type}, ...]`` in file order."""
    return digest([{"name": f["name"], "type": f["type"]} for f in fields])
