"""Lenient comparison of two versions of a tabular artifact: same content within a tolerance.

Used by ``pedata replay --policy lenient`` when a rebuild's bytes differ from the pin (HDF5 object
timestamps, writer versions in a footer). Rules, the same for parquet, CSV and HDF5 (dataset by
dataset): the same columns/datasets with the same types and shapes, the same row counts, equal
non-numeric values, and every numeric value within ``tolerance`` relative drift. CSV carries no
types, so an integer column in one file and a floating one in the other are both numbers there. The drift of
one value is ``|a - b| / max(|a|, |b|)`` (0 when both are 0; NaN matches NaN); each column
reports its largest drift so a reviewer sees how close "close" was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dvc_pedata.errors import FormatError


@dataclass
class Comparison:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    max_drift: dict[str, float] = field(default_factory=dict)  # column or dataset -> largest drift

    def fail(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def drift(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative difference between two equal-length numeric arrays."""
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    if a.size == 0:
        return 0.0
    both_nan = np.isnan(a) & np.isnan(b)
    if np.any(np.isnan(a) ^ np.isnan(b)):
        return float("inf")
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale == 0, 0.0, np.abs(a - b) / np.where(scale == 0, 1.0, scale))
    rel = np.where(both_nan, 0.0, rel)
    return float(np.max(rel))


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "iufb"


def _compare_column(cmp: Comparison, name: str, a: np.ndarray, b: np.ndarray, tolerance: float) -> None:
    if a.shape != b.shape:
        cmp.fail(f"{name}: shape {a.shape} became {b.shape}")
        return
    if _numeric(a.dtype) and _numeric(b.dtype):
        d = drift(a, b)
        cmp.max_drift[name] = d
        if d > tolerance:
            cmp.fail(f"{name}: largest relative drift {d:.3g} exceeds tolerance {tolerance:g}")
    elif not np.array_equal(a, b):
        cmp.fail(f"{name}: non-numeric values differ")


def _compare_tables(cmp: Comparison, ta: Any, tb: Any, tolerance: float) -> None:
    if ta.schema.names != tb.schema.names or [str(t) for t in ta.schema.types] != [str(t) for t in tb.schema.types]:
        cmp.fail(
            "schema differs: "
            + ", ".join(f"{n}:{t}" for n, t in zip(ta.schema.names, ta.schema.types, strict=True))
            + " vs "
            + ", ".join(f"{n}:{t}" for n, t in zip(tb.schema.names, tb.schema.types, strict=True))
        )
        return
    if ta.num_rows != tb.num_rows:
        cmp.fail(f"row count {ta.num_rows} became {tb.num_rows}")
        return
    import pyarrow.types as pat

    for name, col_a, col_b in zip(ta.schema.names, ta.columns, tb.columns, strict=True):
        typ = col_a.type
        if pat.is_integer(typ) or pat.is_floating(typ) or pat.is_boolean(typ):
            a = col_a.to_numpy(zero_copy_only=False)
            b = col_b.to_numpy(zero_copy_only=False)
            _compare_column(cmp, name, a.astype("float64"), b.astype("float64"), tolerance)
        elif not col_a.equals(col_b):
            cmp.fail(f"{name}: non-numeric values differ")


def compare_parquet(a: Path, b: Path, tolerance: float) -> Comparison:
    import pyarrow.parquet as pq

    cmp = Comparison()
    _compare_tables(cmp, pq.read_table(a), pq.read_table(b), tolerance)
    return cmp


def _as_numbers(ta: Any, tb: Any) -> tuple[Any, Any]:
    """CSV has no types: each file's are inferred on its own, so ``1,2,3`` reads as int64 and
    ``1,2.0000001,3`` as double. A column that is integer in one file and floating in the other
    holds numbers in both: read it as float64 in both, so its drift is measured, not its type."""
    import pyarrow as pa
    import pyarrow.types as pat

    def number(t: Any) -> bool:
        return bool(pat.is_integer(t) or pat.is_floating(t))

    if ta.schema.names != tb.schema.names:
        return ta, tb
    for i, (x, y) in enumerate(zip(ta.schema.types, tb.schema.types, strict=True)):
        if x != y and number(x) and number(y):
            name = ta.schema.names[i]
            ta = ta.set_column(i, name, ta.column(i).cast(pa.float64(), safe=False))
            tb = tb.set_column(i, name, tb.column(i).cast(pa.float64(), safe=False))
    return ta, tb


def compare_csv(a: Path, b: Path, tolerance: float) -> Comparison:
    import pyarrow.csv as pacsv

    cmp = Comparison()
    # Quoted fields may hold newlines: a real CSV parse, never a line count.
    opts = pacsv.ParseOptions(newlines_in_values=True)
    ta, tb = _as_numbers(pacsv.read_csv(a, parse_options=opts), pacsv.read_csv(b, parse_options=opts))
    _compare_tables(cmp, ta, tb, tolerance)
    return cmp


def _h5_datasets(path: Path) -> dict[str, tuple[tuple[int, ...], str]]:
    import h5py

    found: dict[str, tuple[tuple[int, ...], str]] = {}
    with h5py.File(path, "r") as h:
        h.visititems(lambda name, obj: found.__setitem__(name, (obj.shape, obj.dtype.str)) if isinstance(obj, h5py.Dataset) else None)
    return found


def compare_hdf5(a: Path, b: Path, tolerance: float) -> Comparison:
    """Dataset by dataset: names, shapes and dtypes equal; values within tolerance."""
    import h5py

    cmp = Comparison()
    da, db = _h5_datasets(a), _h5_datasets(b)
    for name in sorted(set(da) - set(db)):
        cmp.fail(f"{name}: dataset missing in the rebuild")
    for name in sorted(set(db) - set(da)):
        cmp.fail(f"{name}: dataset not in the pinned file")
    with h5py.File(a, "r") as ha, h5py.File(b, "r") as hb:
        for name in sorted(set(da) & set(db)):
            if da[name] != db[name]:
                cmp.fail(f"{name}: shape/dtype {da[name]} became {db[name]}")
                continue
            _compare_column(cmp, name, ha[name][()], hb[name][()], tolerance)
    return cmp


def compare(a: Path, b: Path, fmt: str, tolerance: float) -> Comparison:
    """Compare the pinned file ``a`` with the rebuilt file ``b`` as format ``fmt``."""
    fn = {"parquet": compare_parquet, "csv": compare_csv, "hdf5": compare_hdf5}.get(fmt)
    if fn is None:
        cmp = Comparison()
        cmp.fail(f"format {fmt!r} has no content comparison: only identical bytes pass")
        return cmp
    try:
        return fn(Path(a), Path(b), tolerance)
    except (OSError, ValueError) as exc:
        raise FormatError(f"cannot compare {Path(b).name} as {fmt}: {' '.join(str(exc).split())[:200]}") from exc
