"""CSV sidecar: a real streaming parse, block by block (quoted fields may hold newlines).

Arrow infers column types from the first block only; when a later block disagrees (an int column
that turns out to hold ``1.5``), the scan restarts with that column widened. Memory stays at a
few blocks whatever the file size.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dvc_pedata.errors import FormatError
from dvc_pedata.sidecar.common import (
    build_schema,
    reason,
    table_entities,
    table_fields,
    weight_column,
)

BLOCK_SIZE = 4 << 20
# Arrow's messages: "In CSV column #1: Row #600002: CSV conversion error to int64: invalid value '1.5'"
_CONVERSION = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to \w+(?:\[[^\]]*\])?: invalid value '(.*)'"
)
_UTF8 = re.compile(
    r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to \w+: invalid UTF8 data"
)


def describe_csv(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    forced: dict[str, Any] = {}
    while True:  # each retry widens one column one step up a finite lattice, so this ends
        try:
            names, types, rows, nulls = _scan(path, forced)
            break
        except _Widen as retry:
            _widen(path, forced, retry.field, retry.value)

    for i, (name, type_) in enumerate(zip(names, types, strict=True)):
        if type_ in ("binary", "large_binary"):
            raise FormatError(f"{path}: not valid UTF-8 text (column #{i} {name!r})")
    fields = table_fields(
        ((n, t, nulls[i] > 0) for i, (n, t) in enumerate(zip(names, types, strict=True))), meta
    )
    return build_schema(
        fields,
        rows=rows,
        entities=table_entities(fields, rows, meta),
        weight=weight_column(names, meta, str(path)),
        stats={},
        details={"delimiter": ",", "header": True},
    )


class _Widen(Exception):
    """A later block holds a value the inferred type cannot take."""

    def __init__(self, field: Any, value: str) -> None:
        super().__init__(field.name)
        self.field = field
        self.value = value


def _scan(path: Path, forced: dict[str, Any]) -> tuple[list[str], list[str], int, list[int]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    schema = None
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=forced),
        )
        with reader:
            schema = reader.schema
            names = list(schema.names)
            if len(set(names)) != len(names):
                dupes = sorted({n for n in names if names.count(n) > 1})
                raise FormatError(
                    f"{path}: duplicate column names in the header: {', '.join(dupes)}"
                )
            nulls = [0] * len(names)
            rows = 0
            for batch in reader:
                rows += batch.num_rows
                for i in range(batch.num_columns):
                    nulls[i] += batch.column(i).null_count
    except pa.ArrowInvalid as exc:
        text = str(exc)
        bad_utf8 = _UTF8.search(text)
        if bad_utf8:
            raise FormatError(
                f"{path}: not valid UTF-8 text (column #{bad_utf8.group(1)})"
            ) from exc
        conv = _CONVERSION.search(text)
        if conv and schema is not None and int(conv.group(1)) < len(schema):
            raise _Widen(schema.field(int(conv.group(1))), conv.group(2)) from exc
        # Drop the offending row's text that Arrow appends: it may be binary garbage.
        text = re.sub(r"(Expected \d+ columns, got \d+):.*", r"\1", text)
        raise FormatError(f"{path}: not a valid CSV file ({reason(text)})") from exc
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: header is not valid UTF-8 text") from exc
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FormatError(f"{path}: not a valid CSV file ({reason(exc)})") from exc
    return names, [str(t) for t in schema.types], rows, nulls


def _widen(path: Path, forced: dict[str, Any], field: Any, value: str) -> None:
    """Move a column one step up null → int64 → double → string, guided by the bad value."""
    import pyarrow as pa

    current = field.type
    if pa.types.is_null(current) and _is_int(value):
        new = pa.int64()
    elif (pa.types.is_null(current) or pa.types.is_integer(current)) and _is_float(value):
        new = pa.float64()
    else:
        new = pa.string()
    if forced.get(field.name) == new or current == new:
        raise FormatError(f"{path}: column {field.name!r} cannot be read as {new}")
    forced[field.name] = new


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
