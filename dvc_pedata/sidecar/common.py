"""Pieces shared by the format readers: field roles, JSON-safe scalars, the final schema dict.

Every reader produces the same ``schema`` contract (see ``dvc_pedata.sidecar``), so the manifest,
``schema`` and ``diff`` commands never need to know which format a file had.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from dvc_pedata.errors import FormatError
from dvc_pedata.model.fields import fingerprint

# ``describe`` caps its per-column lists at this many entries by default (a directory manifest's
# layout keeps one capped example schema). File manifests keep fewer inline and put the complete
# lists in a companion file (``dvc_pedata.fieldsfile``), so they stay a few KB however wide.
FIELD_LIMIT = 256

# PolicyEngine entities (US), plus the UK's benefit unit so a UK file is recognised too.
PE_ENTITIES: tuple[str, ...] = (
    "person",
    "tax_unit",
    "spm_unit",
    "family",
    "marital_unit",
    "household",
)
EXTRA_ENTITIES: tuple[str, ...] = ("benunit",)

# Statistics values longer than this are dropped (null): a truncated max is no longer a bound.
MAX_STAT_STR = 64
MAX_STAT_BYTES = 32
EXACT_INT = 2**53


def known_entities(meta: Mapping[str, Any]) -> set[str]:
    """Entity names that ``<e>_id`` / ``<e>_weight`` columns may refer to."""
    names = set(PE_ENTITIES) | set(EXTRA_ENTITIES)
    if isinstance(meta.get("entity"), str):
        names.add(meta["entity"])
    mapping = meta.get("entities")
    if isinstance(mapping, Mapping):
        names.update(v for v in mapping.values() if isinstance(v, str))
    return names


def classify(
    name: str, owner: str | None, known: set[str], weight: str | None = None
) -> tuple[str | None, str | None]:
    """(role, references) of a column named ``name`` in a table of entity ``owner``.

    ``<owner>_id`` is the key; ``person_<e>_id`` and ``<e>_id`` of another known entity are links
    to ``<e>.<e>_id``; ``<e>_weight`` (or the declared weight) is a weight. Without an owner entity
    an ``_id`` column is ambiguous (key or link?), so it gets no role.
    """
    if name == weight:
        return "weight", None
    if name.endswith("_weight") and name[: -len("_weight")] in known:
        return "weight", None
    if not name.endswith("_id") or owner is None:
        return None, None
    base = name[: -len("_id")]
    if base == owner:
        return "id", None
    if base.startswith("person_") and base[len("person_") :] in known:
        target = base[len("person_") :]
        return "link", f"{target}.{target}_id"
    if base in known:
        return "link", f"{base}.{base}_id"
    return None, None


def field(
    name: str,
    type_: str,
    nullable: bool,
    entity: str | None = None,
    role: str | None = None,
    references: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "nullable": bool(nullable),
        "entity": entity,
        "role": role,
        "references": references,
    }


def table_fields(
    columns: Iterable[tuple[str, str, bool]], meta: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Fields of a flat table (parquet, CSV): every column belongs to the table's entity."""
    owner = meta.get("entity") if isinstance(meta.get("entity"), str) else None
    known = known_entities(meta)
    weight = meta.get("weight") if isinstance(meta.get("weight"), str) else None
    out = []
    for name, type_, nullable in columns:
        role, refs = classify(name, owner, known, weight)
        out.append(field(name, type_, nullable, owner, role, refs))
    return out


def table_entities(
    fields: list[dict[str, Any]], rows: int, meta: Mapping[str, Any]
) -> dict[str, Any]:
    """``{entity: {rows, key, weight}}`` for a one-entity table (nothing counted from data)."""
    owner = meta.get("entity")
    if not isinstance(owner, str):
        return {}
    names = {f["name"] for f in fields}
    key = f"{owner}_id"
    weight = f"{owner}_weight"
    return {
        owner: {
            "rows": rows,
            "key": key if key in names else None,
            "weight": weight if weight in names else None,
        }
    }


def weight_column(names: Iterable[str], meta: Mapping[str, Any], where: str) -> str | None:
    """The main weight: the declared one (which must exist), else ``<entity>_weight``, else household's."""
    present = set(names)
    declared = meta.get("weight")
    if declared is not None:
        if declared not in present:
            raise FormatError(f"{where}: declared weight column {declared!r} not found")
        return str(declared)
    owner = meta.get("entity")
    for candidate in (f"{owner}_weight" if isinstance(owner, str) else None, "household_weight"):
        if candidate and candidate in present:
            return candidate
    return None


def json_scalar(value: Any) -> Any:
    """A statistics value as JSON that RFC 8785 can canonicalise (NaN/inf → null, bytes → hex)."""
    if hasattr(value, "item") and not isinstance(value, bytes | str):  # numpy scalars
        value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < EXACT_INT else str(value)
    if isinstance(value, float):
        return (
            value + 0.0 if math.isfinite(value) else None
        )  # -0.0 → 0.0 (parquet writes -0.0 as a min)
    if isinstance(value, str):
        return value if len(value) <= MAX_STAT_STR else None
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return raw.hex() if len(raw) <= MAX_STAT_BYTES else None
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None
    return str(value)


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def reason(exc: BaseException | str, limit: int = 160) -> str:
    """A library's error message made short, printable and one line (garbage bytes stay out)."""
    text = _UNPRINTABLE.sub("?", " ".join(str(exc).split()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def build_schema(
    fields: list[dict[str, Any]],
    *,
    rows: int | None,
    entities: dict[str, Any],
    weight: str | None,
    stats: dict[str, Any],
    details: dict[str, Any],
) -> dict[str, Any]:
    """The complete schema dict of the contract (no list capped; see :func:`cap_schema`)."""
    return {
        "fields": fields,
        "field_count": len(fields),
        "fields_truncated": False,
        "fingerprint": fingerprint(fields),
        "rows": rows,
        "entities": entities,
        "weight_column": weight,
        "stats": stats,
        "format_details": details,
    }




