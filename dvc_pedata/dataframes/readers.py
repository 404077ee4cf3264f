"""Tables from verified bytes: ``read_table`` (pyarrow) and ``read_policyengine`` (pandas per entity).

Both resolve the URI with the resolver (signatures, tombstones, sha256 checked while the bytes
enter the cache) and then read the verified cache object in place: only the requested columns
(and, with ``filters``, only the matching row groups of a parquet file) are decoded. Nothing is
read from anywhere but that object, so what a caller gets always came from bytes that matched the
pin. pandas is imported only by ``read_policyengine``; ``import dvc_pedata`` imports neither.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dvc_pedata.errors import FormatError, PedataError

_TABULAR = ("parquet", "csv")


def _resolve(uri: str, registry: Any, rev: str | None, offline: bool, trusted_root: str | None) -> Any:
    from dvc_pedata.resolver import api, resolve  # lazy: the resolver only when a table is read

    res = resolve.resolve(uri, registry, rev, offline=offline, trusted_root=trusted_root)
    api.report_warnings(res.warnings)
    return res


def _format(res: Any) -> str:
    """The format of the resolved bytes: the manifest's, or a member's layout for ``;path=``."""
    if res.inner_path is None and res.entries is None:
        return str(res.manifest.format)
    from dvc_pedata.model.listing import file_view  # lazy: the model only when a member is read

    if res.inner_path is not None:
        entry = next(e for e in res.entries if e.path == res.inner_path)
        return str(file_view(res.manifest, entry).format)
    formats = {str(file_view(res.manifest, e).format) for e in res.entries}
    return formats.pop() if len(formats) == 1 else "mixed"


def read_table(
    uri: str,
    columns: Sequence[str] | None = None,
    filters: Any = None,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
) -> Any:
    """A ``pyarrow.Table`` of a parquet or CSV artifact (or a folder of one format), verified first.

    ``columns`` selects columns (only those are decoded); ``filters`` is a pyarrow expression or
    the DNF list form ``pq.read_table`` takes (``[("age", ">", 30)]``).
    """
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    res = _resolve(uri, registry, rev, offline, trusted_root)
    fmt = _format(res)
    if fmt not in _TABULAR:
        raise FormatError(
            f"{res.uri}: read_table reads parquet or CSV, and this artifact is {fmt}"
            + ("; use read_policyengine for PolicyEngine HDF5" if fmt == "hdf5" else "")
        )
    expr = filters
    if filters is not None and not isinstance(filters, ds.Expression):
        expr = pq.filters_to_expression(filters)
    try:
        dataset = ds.dataset(str(res.path), format=fmt)
        missing = [c for c in columns or () if c not in dataset.schema.names]
        if missing:
            raise PedataError(f"{res.uri}: no column {', '.join(map(repr, missing))} (columns: {', '.join(dataset.schema.names)})")
        return dataset.to_table(columns=list(columns) if columns is not None else None, filter=expr)
    except (OSError, ValueError) as exc:
        raise FormatError(f"{res.uri}: cannot read the verified {fmt} bytes at {res.path}: {exc}") from exc


def read_policyengine(
    uri: str,
    period: str | int,
    entity: str | None = None,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
) -> Any:
    """One pandas DataFrame per entity of a PolicyEngine HDF5 artifact for ``period``.

    Layout (as :mod:`sidecar.hdf5` reads it): one group per variable, one dataset per period
    (``<variable>/<period>``); ``<entity>_id`` gives an entity's rows. Each frame holds the
    entity's ids, its links (``person_household_id`` ...), weights and every variable that has
    ``period`` (or ``eternity``, PolicyEngine's period for time-invariant ids and links). Returns
    ``{entity: DataFrame}``, or just that frame when ``entity`` is given.
    """
    import h5py
    import pandas as pd

    from dvc_pedata.sidecar.hdf5 import describe_hdf5  # lazy: h5py only for an HDF5 read

    res = _resolve(uri, registry, rev, offline, trusted_root)
    fmt = _format(res)
    if fmt != "hdf5":
        raise FormatError(f"{res.uri}: read_policyengine reads PolicyEngine HDF5, and this artifact is {fmt}")
    path = str(res.path)
    details = describe_hdf5(res.path, {})["format_details"]  # headers only: which entity each variable is
    if details["layout"] != "policyengine":
        raise FormatError(f"{res.uri}: not in the PolicyEngine layout (no <entity>_id/<period> datasets)")
    period = str(period)
    available = details["periods"]
    if period not in available:
        raise PedataError(f"{res.uri}: no period {period!r} in the file (periods: {', '.join(available) or 'none'})")
    columns: dict[str, dict[str, Any]] = {}
    with h5py.File(path, "r") as fh:
        for name, var in details["variables"].items():
            ent = var["entity"]
            if ent is None or (entity is not None and ent != entity):
                continue
            chosen = period if period in var["periods"] else ("eternity" if "eternity" in var["periods"] else None)
            if chosen is None:
                continue
            data = fh[f"{name}/{chosen}"][()]
            if data.dtype.kind == "S":
                data = data.astype(str)
            columns.setdefault(ent, {})[name] = data
    entities = sorted(columns)
    if entity is not None and entity not in columns:
        raise PedataError(f"{res.uri}: no entity {entity!r} in period {period} (entities: {', '.join(sorted(e for e in {v['entity'] for v in details['variables'].values()} if e)) or 'none'})")
    frames = {}
    for ent in entities:
        cols = columns[ent]
        order = sorted(cols, key=lambda c: (c != f"{ent}_id", not c.endswith("_id"), not c.endswith("_weight"), c))
        try:  # ids first, then links, then weights, then the variables, by name
            frames[ent] = pd.DataFrame({c: cols[c] for c in order})
        except ValueError as exc:  # variables of one entity with different lengths
            raise FormatError(f"{res.uri}: entity {ent} in period {period}: {exc}") from exc
    return frames[entity] if entity is not None else frames
