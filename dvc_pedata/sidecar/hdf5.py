"""HDF5 sidecar from object headers only (names, shapes, dtypes; no dataset values are read).

Recognises the PolicyEngine layout: one group per variable, one dataset per period
(``<variable>/<period>``, every period string PolicyEngine accepts: ``eternity``, ``2022``,
``2022-01``, ``2022-01-15``, ``year:2022:3``…, see :mod:`.pe_periods`); entity row counts come from
the shapes of ``<entity>_id/<period>`` (ids are usually stored under ``eternity``). Each
variable's ``format_details.variables[v].periods`` lists its periods. Any other HDF5 file still
gets its datasets listed ("generic" layout).

Compatibility: a file whose periods are all years (or the ``YYYY-MM[-DD]`` forms read before)
describes to the same bytes as before: periods sort as strings, and the latest period is the one
with the latest start (ties broken by the string, as the string maximum did).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.errors import FormatError
from dvc_pedata.sidecar.common import (
    PE_ENTITIES,
    build_schema,
    classify,
    known_entities,
    reason,
    weight_column,
)
from dvc_pedata.sidecar.common import field as make_field
from dvc_pedata.sidecar.pe_periods import is_period, latest_key


@dataclass
class _Var:
    """One variable: its datasets by period (shape, dtype), in file order."""

    name: str
    periods: dict[str, tuple[tuple[int, ...], Any]] = field(default_factory=dict)

    def latest(self) -> tuple[str, tuple[int, ...], Any]:
        period = max(self.periods, key=latest_key) if self.periods else ""
        shape, dtype = self.periods[period]
        return period, shape, dtype


def describe_hdf5(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    import h5py

    datasets: list[tuple[str, tuple[int, ...], Any]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            datasets.append((name, tuple(int(n) for n in obj.shape or ()), obj.dtype))

    try:
        with h5py.File(path, "r") as fh:
            fh.visititems(visit)
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise FormatError(f"{path}: not a valid HDF5 file ({reason(exc)})") from exc

    variables = _variables(datasets)
    entity_rows = _entity_rows(variables)
    layout = "policyengine" if entity_rows else "generic"
    if meta.get("layout") == "policyengine" and layout != "policyengine":
        raise FormatError(
            f"{path}: declared layout policyengine, but no <entity>_id/<period> datasets found"
            " (periods: eternity, YYYY, YYYY-MM, …)"
        )

    known = known_entities(meta)
    declared = meta.get("entities") if isinstance(meta.get("entities"), Mapping) else {}
    fields: list[dict[str, Any]] = []
    details_vars: dict[str, Any] = {}
    for var in variables:
        period, shape, dtype = var.latest()
        entity = (
            _entity_of(var, shape, entity_rows, declared, known)
            if layout == "policyengine"
            else None
        )
        role, refs = _role(var.name, entity, known, meta)
        fields.append(make_field(var.name, arrow_type(dtype), False, entity, role, refs))
        details_vars[var.name] = {
            "periods": sorted(var.periods) if period else [],
            "dtype": str(dtype),
            "shape": list(shape),
            "entity": entity,
        }

    names = [v.name for v in variables]
    present = set(names)
    entities = {
        e: {
            "rows": n,
            "key": f"{e}_id",
            "weight": f"{e}_weight" if f"{e}_weight" in present else None,
        }
        for e, n in entity_rows.items()
    }
    periods = sorted({p for v in variables for p in v.periods if p})
    return build_schema(
        fields,
        rows=entity_rows.get("person"),
        entities=entities,
        weight=weight_column(names, meta, str(path)),
        stats={},
        details={
            "layout": layout,
            "periods": periods,
            "datasets": len(datasets),
            "variables": details_vars,
        },
    )


def _variables(datasets: list[tuple[str, tuple[int, ...], Any]]) -> list[_Var]:
    """Group ``<variable>/<period>`` datasets; any other dataset is a variable of its own path."""
    out: dict[str, _Var] = {}
    for name, shape, dtype in datasets:
        head, _, tail = name.rpartition("/")
        if head and "/" not in head and is_period(tail):
            out.setdefault(head, _Var(head)).periods[tail] = (shape, dtype)
        else:
            out.setdefault(name, _Var(name)).periods[""] = (shape, dtype)
    return list(out.values())


def _entity_rows(variables: list[_Var]) -> dict[str, int]:
    """Row count per entity from the latest period of ``<entity>_id`` (PolicyEngine order)."""
    by_name = {v.name: v for v in variables}
    rows: dict[str, int] = {}
    for entity in (*PE_ENTITIES, "benunit"):
        var = by_name.get(f"{entity}_id")
        if var is None:
            continue
        period, shape, _ = var.latest()
        if period and len(shape) == 1:
            rows[entity] = shape[0]
    return rows


def _entity_of(
    var: _Var,
    shape: tuple[int, ...],
    rows: dict[str, int],
    declared: Mapping[str, Any],
    known: set[str],
) -> str | None:
    """Declared mapping first, then what the name says, then the unique entity with that length."""
    if isinstance(declared.get(var.name), str):
        return str(declared[var.name])
    name = var.name
    for suffix in ("_id", "_weight"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if base in rows:
                return base
            if suffix == "_id" and base.startswith("person_") and base[len("person_") :] in known:
                return "person"
    if not shape:
        return None
    matches = [e for e, n in rows.items() if n == shape[0]]
    return matches[0] if len(matches) == 1 else None


def _role(
    name: str, entity: str | None, known: set[str], meta: Mapping[str, Any]
) -> tuple[str | None, str | None]:
    weight = meta.get("weight") if isinstance(meta.get("weight"), str) else None
    if entity is None and name.endswith("_id") and name[: -len("_id")] in known:
        entity = name[: -len("_id")]  # an id whose entity could not be placed is still a key
    return classify(name, entity, known, weight)


def arrow_type(dtype: Any) -> str:
    """Arrow type string for a numpy/h5py dtype: text → string, raw bytes → binary."""
    import h5py
    import numpy as np
    import pyarrow as pa

    info = h5py.check_string_dtype(dtype)
    if info is not None:
        return "string" if info.encoding == "utf-8" else "binary"
    if dtype.kind == "U":
        return "string"
    if dtype.kind in ("S", "V") and dtype.names is None:
        return "binary"
    if dtype.names:
        inner = ", ".join(f"{n}: {arrow_type(dtype.fields[n][0])}" for n in dtype.names)
        return f"struct<{inner}>"
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        size = int(np.prod(shape))
        return f"fixed_size_list<item: {arrow_type(base)}>[{size}]"
    try:
        return str(pa.from_numpy_dtype(dtype))
    except (pa.ArrowNotImplementedError, NotImplementedError, TypeError):
        return f"numpy<{dtype.str}>"
