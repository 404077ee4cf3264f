"""Schema sidecars: what a data file holds, read from its metadata rather than its payload.

``describe(path)`` returns a :class:`Sidecar` whose ``schema`` dict follows one contract for every
format (manifests, ``pedata schema`` and ``pedata diff`` rely on it)::

    fields            [{name, type, nullable, entity, role, references}]  (capped at ``limit``)
    field_count       int, the true total
    fields_truncated  bool (whether ``fields`` lists fewer than ``field_count``)
    fingerprint       sha256 of canonical [{name, type}] over ALL fields, in file order
    rows              int | None (HDF5: the person count when known)
    entities          {entity: {rows, key, weight}}
    weight_column     str | None
    stats             parquet: {column: {min, max, null_count}} from the footer; {} otherwise
                      (per leaf column, capped at ``limit``)
    format_details    per-format extras (row groups, HDF5 layout/periods/variables, CSV dialect;
                      HDF5 ``variables`` capped at ``limit``)

``limit`` defaults to ``FIELD_LIMIT``; ``limit=None`` returns every list complete (what a file
manifest stores, inline or in its companion field list: see ``docs/sidecar.md``).

``meta`` is the artifact's ``meta.pedata`` block from ``dvc.yaml`` (``entity``, ``weight``,
``layout``, ``entities``); passing the whole ``meta`` (with a ``pedata`` key) works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.errors import FormatError
from dvc_pedata.model.fields import cap_schema, fingerprint
from dvc_pedata.model.formats import EXTENSIONS, MEDIA_TYPES
from dvc_pedata.sidecar.common import FIELD_LIMIT, PE_ENTITIES

__all__ = [
    "FIELD_LIMIT",
    "MEDIA_TYPES",
    "PE_ENTITIES",
    "Sidecar",
    "describe",
    "detect_format",
    "fingerprint",
]




@dataclass(frozen=True)
class Sidecar:
    format: str
    media_type: str
    schema: dict[str, Any]


def detect_format(path: Path) -> str:
    """The format named by the file's extension (case-insensitive)."""
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        known = ", ".join(EXTENSIONS)
        raise FormatError(f"{path}: cannot tell the format from the extension (known: {known})")
    return fmt


def describe(
    path: Path, fmt: str | None = None, meta: dict | None = None, limit: int | None = FIELD_LIMIT
) -> Sidecar:
    """Read ``path``'s schema sidecar; corrupt or unreadable files raise :class:`FormatError`.

    Per-column lists are capped at ``limit`` entries (``None``: complete).
    """
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in MEDIA_TYPES:
        raise FormatError(
            f"{path}: unsupported format {fmt!r} (supported: {', '.join(MEDIA_TYPES)})"
        )
    meta = dict(meta or {})
    if isinstance(meta.get("pedata"), dict):
        meta = {**meta["pedata"]}
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise FormatError(f"{path}: cannot read data file ({what})")
    if fmt == "parquet":
        from dvc_pedata.sidecar.parquet import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
            describe_parquet as reader,
        )
    elif fmt == "hdf5":
        from dvc_pedata.sidecar.hdf5 import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
            describe_hdf5 as reader,
        )
    else:
        from dvc_pedata.sidecar.csv import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
            describe_csv as reader,
        )
    schema = reader(path, meta)
    return Sidecar(fmt, MEDIA_TYPES[fmt], schema if limit is None else cap_schema(schema, limit))
