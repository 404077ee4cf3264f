"""Schema sidecars on real files, and the example pipeline's generator.

Every file is written for real (pyarrow, h5py, the generator script in a subprocess); the sidecar
is compared with what the libraries themselves report about the same file.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from support.commands import sha256

from dvc_pedata.errors import FormatError, PedataError
from dvc_pedata.model.canonical import canonical_bytes
from dvc_pedata.sidecar import FIELD_LIMIT, Sidecar, describe

ROOT = Path(__file__).resolve().parents[1]
GENERATE = ROOT / "pipeline" / "generate.py"
ENTITIES = ("person", "household", "tax_unit", "spm_unit", "family", "marital_unit")


def generate(
    workdir: Path, households: int = 300, seed: int = 7, deterministic_h5: bool = True
) -> Path:
    """Run the real pipeline command (``python pipeline/generate.py``) in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "params.yaml").write_text(
        "generate:\n"
        f"  seed: {seed}\n  households: {households}\n  year: 2024\n"
        f"  deterministic_h5: {str(deterministic_h5).lower()}\n"
    )
    proc = subprocess.run(
        [sys.executable, str(GENERATE)], cwd=workdir, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return workdir / "data"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("gen"))


def assert_format_error(exc: pytest.ExceptionInfo, path: Path, *fragments: str) -> None:
    """One printable line naming the file: what the CLI prints after 'pedata: error: '."""
    message = str(exc.value)
    assert isinstance(exc.value, PedataError)
    assert "\n" not in message and message.isprintable(), message
    assert message.startswith(f"{path}: "), message
    assert len(message) < 300, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# -- parquet ---------------------------------------------------------------------------------------


def test_parquet_schema_rows_and_stats_come_from_the_footer(tmp_path):
    n = 1000
    rng = np.random.default_rng(1)
    income = rng.normal(40_000, 9_000, n)
    table = pa.table(
        {
            "person_id": pa.array(np.arange(1, n + 1)),
            "household_id": pa.array(np.arange(n) // 3 + 10),
            "person_tax_unit_id": pa.array(np.arange(n) // 2),
            "age": pa.array([None if i % 97 == 0 else int(i % 90) for i in range(n)], pa.int16()),
            "state": pa.array([["ca", "ny", "tx", "wa"][i % 4] for i in range(n)]),
            "income": pa.array(income),
            "interviewed": pa.array(
                [dt.date(2024, 1, 1) + dt.timedelta(days=i % 60) for i in range(n)]
            ),
            "stamp": pa.array(
                [dt.datetime(2024, 5, 1, 12, 0) + dt.timedelta(minutes=i) for i in range(n)],
                pa.timestamp("us"),
            ),
            "blob": pa.array([bytes([i % 256, 7]) for i in range(n)], pa.binary()),
            "big": pa.array([2**60 + i for i in range(n)], pa.int64()),
            "tags": pa.array([[i, i + 1] for i in range(n)], pa.list_(pa.int32())),
            "person_weight": pa.array(rng.uniform(100, 200, n)),
        }
    )
    path = tmp_path / "people.parquet"
    pq.write_table(table, path, row_group_size=300)  # 4 row groups: stats must be aggregated

    sidecar = describe(path, meta={"pedata": {"entity": "person", "namespace": "us"}})
    assert sidecar == Sidecar("parquet", "application/vnd.apache.parquet", sidecar.schema)
    schema = sidecar.schema
    arrow = pq.read_schema(path)
    assert [(f["name"], f["type"], f["nullable"]) for f in schema["fields"]] == [
        (f.name, str(f.type), f.nullable) for f in arrow
    ]
    assert schema["rows"] == pq.ParquetFile(path).metadata.num_rows == n
    assert schema["format_details"]["row_groups"] == 4
    assert schema["format_details"]["created_by"].startswith("parquet-cpp-arrow")
    assert schema["field_count"] == 12 and schema["fields_truncated"] is False

    stats = schema["stats"]
    assert stats["person_id"] == {"min": 1, "max": n, "null_count": 0}
    assert stats["age"] == {
        "min": 0,
        "max": 89,
        "null_count": pc.sum(pc.is_null(table["age"])).as_py(),
    }
    assert stats["state"] == {"min": "ca", "max": "wa", "null_count": 0}
    assert stats["income"]["min"] == pytest.approx(pc.min(table["income"]).as_py())
    assert stats["income"]["max"] == pytest.approx(pc.max(table["income"]).as_py())
    assert (
        stats["interviewed"]["min"] == "2024-01-01" and stats["interviewed"]["max"] == "2024-02-29"
    )
    assert stats["stamp"]["min"] == "2024-05-01T12:00:00"
    assert stats["blob"]["min"] == "0007" and stats["blob"]["max"] == "ff07"
    assert stats["big"]["min"] == str(2**60)  # beyond JSON's exact integers: kept as a string
    assert "tags.list.element" in stats  # leaf columns of nested types, by parquet path

    roles = {f["name"]: (f["entity"], f["role"], f["references"]) for f in schema["fields"]}
    assert roles["person_id"] == ("person", "id", None)
    assert roles["household_id"] == ("person", "link", "household.household_id")
    assert roles["person_tax_unit_id"] == ("person", "link", "tax_unit.tax_unit_id")
    assert roles["person_weight"] == ("person", "weight", None)
    assert roles["age"] == ("person", None, None)
    assert schema["entities"] == {
        "person": {"rows": n, "key": "person_id", "weight": "person_weight"}
    }
    assert schema["weight_column"] == "person_weight"
    canonical_bytes(schema)  # JSON-safe as it stands (no NaN, no bytes, no huge ints)
    assert describe(path, meta={"entity": "person"}) == sidecar  # deterministic


def test_parquet_sidecar_never_reads_data_pages(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table({"x": np.arange(50_000), "y": np.arange(50_000) * 0.5}), path, compression="none"
    )
    before = describe(path)
    raw = bytearray(path.read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")
    raw[4 : len(raw) - 8 - footer] = b"\x00" * (len(raw) - 12 - footer)  # wipe every data page
    path.write_bytes(bytes(raw))
    with pytest.raises(Exception):  # noqa: B017 - the data really is gone
        pq.read_table(path).to_pydict()
    assert describe(path) == before


def test_nan_only_stats_are_null_and_json_safe(tmp_path):
    path = tmp_path / "nan.parquet"
    pq.write_table(
        pa.table(
            {"v": pa.array([float("nan"), float("nan")]), "w": pa.array([None, None], pa.float64())}
        ),
        path,
    )
    schema = describe(path).schema
    assert schema["stats"]["v"]["min"] is None and schema["stats"]["v"]["max"] is None
    assert schema["stats"]["w"] == {"min": None, "max": None, "null_count": 2}
    canonical_bytes(schema)


def test_five_thousand_columns_stay_small_and_fingerprint_covers_all(tmp_path):
    n_cols = 5000
    table = pa.table({f"variable_{i:04d}": pa.array([i, i + 1], pa.int64()) for i in range(n_cols)})
    path = tmp_path / "wide.parquet"
    pq.write_table(table, path)
    schema = describe(path).schema
    assert schema["field_count"] == n_cols
    assert schema["fields_truncated"] is True
    assert len(schema["fields"]) == len(schema["stats"]) == FIELD_LIMIT
    assert len(canonical_bytes(schema)) < 40_000

    # Retype one column beyond the listed ones: the fingerprint still moves.
    retyped = table.set_column(n_cols - 1, "variable_4999", pa.array([1.5, 2.5]))
    other = tmp_path / "wide2.parquet"
    pq.write_table(retyped, other)
    changed = describe(other).schema
    assert changed["fields"] == schema["fields"]
    assert changed["fingerprint"] != schema["fingerprint"]

    # limit=None: every field and every column's footer statistics (what a manifest stores,
    # inline or in its field list), and the capped form is exactly its first FIELD_LIMIT entries.
    full = describe(path, limit=None).schema
    assert [(f["name"], f["type"]) for f in full["fields"]] == [(f.name, str(f.type)) for f in pq.read_schema(path)]
    assert full["field_count"] == n_cols and full["fields_truncated"] is False
    assert full["stats"]["variable_4999"] == {"min": 4999, "max": 5000, "null_count": 0}
    assert len(full["stats"]) == n_cols and full["fingerprint"] == schema["fingerprint"]
    assert full["fields"][:FIELD_LIMIT] == schema["fields"]
    assert {k: full["stats"][k] for k in schema["stats"]} == schema["stats"]
    assert describe(other, limit=None).schema["fields"][-1]["type"] == "double"


def test_declared_weight_must_exist(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"household_id": [1], "household_weight": [2.0]}), path)
    assert (
        describe(path, meta={"entity": "household"}).schema["weight_column"] == "household_weight"
    )
    with pytest.raises(FormatError) as exc:
        describe(path, meta={"entity": "household", "weight": "hh_wgt"})
    assert_format_error(exc, path, "'hh_wgt' not found")


# -- HDF5 ------------------------------------------------------------------------------------------


def test_policyengine_hdf5_from_the_generator_is_recognised(generated):
    persons = pq.read_table(generated / "persons.parquet")
    expected = {e: pc.count_distinct(persons[f"{e}_id"]).as_py() for e in ENTITIES}
    assert expected["household"] == 300

    sidecar = describe(generated / "us_microdata.h5", meta={"pedata": {"layout": "policyengine"}})
    assert (sidecar.format, sidecar.media_type) == ("hdf5", "application/x-hdf5")
    schema = sidecar.schema
    details = schema["format_details"]
    assert details["layout"] == "policyengine"
    assert details["periods"] == ["2024"]
    assert {e: v["rows"] for e, v in schema["entities"].items()} == expected
    assert schema["rows"] == expected["person"] == persons.num_rows
    assert schema["entities"]["household"] == {
        "rows": 300,
        "key": "household_id",
        "weight": "household_weight",
    }
    assert schema["entities"]["person"]["weight"] == "person_weight"
    assert schema["weight_column"] == "household_weight"

    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["person_household_id"]["role"] == "link"
    assert fields["person_household_id"]["references"] == "household.household_id"
    assert fields["person_tax_unit_id"]["references"] == "tax_unit.tax_unit_id"
    assert fields["person_tax_unit_id"]["entity"] == "person"
    assert fields["tax_unit_id"]["role"] == "id" and fields["tax_unit_id"]["entity"] == "tax_unit"
    assert fields["household_weight"]["role"] == "weight"
    assert fields["age"]["entity"] == "person" and fields["age"]["type"] == "int16"
    assert fields["state_fips"]["entity"] == "household"
    assert fields["employment_income"]["type"] == "double"
    assert fields["tenure_type"]["type"] == "binary"
    with h5py.File(generated / "us_microdata.h5") as fh:
        assert details["datasets"] == sum(len(fh[name]) for name in fh)
        assert details["variables"]["age"]["shape"] == [fh["age/2024"].shape[0]]
    assert details["variables"]["age"] == {
        "periods": ["2024"],
        "dtype": "int16",
        "shape": [expected["person"]],
        "entity": "person",
    }


def test_hdf5_shared_row_counts_need_declared_entities_and_data_is_never_read(tmp_path):
    path = tmp_path / "pe.h5"
    with h5py.File(path, "w") as fh:
        for name, n in [
            ("person_id", 6),
            ("household_id", 3),
            ("tax_unit_id", 3),
            ("person_household_id", 6),
        ]:
            fh.create_dataset(f"{name}/2023", data=np.arange(n))
            fh.create_dataset(f"{name}/2024", data=np.arange(n))
        fh.create_dataset("rent/2024", data=np.ones(3))
        fh.create_dataset("age/2024", data=np.ones(6, np.int8))
        # Values stored in a missing external file: reading them would fail, headers are enough.
        fh.create_dataset(
            "wage/2024", shape=(6,), dtype="f8", external=[(str(tmp_path / "gone.bin"), 0, 48)]
        )
    with h5py.File(path) as fh, pytest.raises(OSError):
        fh["wage/2024"][()]

    schema = describe(path).schema
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["rent"]["entity"] is None  # household and tax_unit both have 3 rows
    assert fields["wage"]["entity"] == "person" and fields["age"]["entity"] == "person"
    assert fields["tax_unit_id"]["entity"] == "tax_unit"  # an id says which entity it keys
    assert schema["format_details"]["periods"] == ["2023", "2024"]
    assert schema["format_details"]["variables"]["rent"]["periods"] == ["2024"]
    assert schema["entities"]["tax_unit"] == {"rows": 3, "key": "tax_unit_id", "weight": None}
    assert schema["weight_column"] is None

    declared = describe(path, meta={"entities": {"rent": "household"}}).schema
    assert {f["name"]: f["entity"] for f in declared["fields"]}["rent"] == "household"


def test_wide_policyengine_hdf5_lists_every_variable_when_asked(tmp_path):
    path = tmp_path / "wide.h5"
    n_vars = FIELD_LIMIT + 44
    with h5py.File(path, "w") as fh:
        fh.create_dataset("person_id/2024", data=np.arange(6))
        fh.create_dataset("household_id/2024", data=np.arange(2))
        for i in range(n_vars):
            for year in ("2023", "2024"):
                fh.create_dataset(f"var_{i:03d}/{year}", data=np.zeros(6 if i % 2 else 2, np.float32 if i % 3 else np.int32))
    capped = describe(path).schema
    full = describe(path, limit=None).schema
    assert capped["field_count"] == full["field_count"] == n_vars + 2
    assert len(capped["format_details"]["variables"]) == len(capped["fields"]) == FIELD_LIMIT
    assert full["fields_truncated"] is False and len(full["format_details"]["variables"]) == n_vars + 2
    with h5py.File(path) as fh:  # every variable, as h5py sees it
        assert {f["name"] for f in full["fields"]} == set(fh)
        last = f"var_{n_vars - 1:03d}"
        assert full["format_details"]["variables"][last] == {
            "periods": ["2023", "2024"], "dtype": str(fh[f"{last}/2024"].dtype),
            "shape": list(fh[f"{last}/2024"].shape), "entity": "person",
        }
    assert full["fingerprint"] == capped["fingerprint"] and full["fields"][:FIELD_LIMIT] == capped["fields"]


def test_generic_hdf5_lists_its_datasets(tmp_path):
    path = tmp_path / "plain.hdf5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("grid/temperature", data=np.zeros((4, 5), np.float32))
        fh.create_dataset("labels", data=np.array([b"a", b"bc"]))
        fh.create_dataset("names", data=["x", "y"], dtype=h5py.string_dtype())
    schema = describe(path).schema
    assert schema["format_details"]["layout"] == "generic"
    assert schema["format_details"]["datasets"] == 3
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("grid/temperature", "float"),
        ("labels", "binary"),
        ("names", "string"),
    ]
    assert schema["format_details"]["variables"]["grid/temperature"]["shape"] == [4, 5]
    assert schema["entities"] == {} and schema["rows"] is None
    with pytest.raises(FormatError) as exc:
        describe(path, meta={"layout": "policyengine"})
    assert_format_error(exc, path, "policyengine")


# -- CSV -------------------------------------------------------------------------------------------


def test_csv_rows_with_quoted_newlines(tmp_path):
    path = tmp_path / "h.csv"
    rows = [
        [i, f'line one, {i}\nline "two"\n' if i % 3 == 0 else "plain", i * 0.5] for i in range(2500)
    ]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["household_id", "notes", "household_weight"])
        writer.writerows(rows)
    assert path.read_text().count("\n") > 2501  # a line count would be wrong

    schema = describe(path, meta={"entity": "household"}).schema
    assert schema["rows"] == 2500
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("household_id", "int64"),
        ("notes", "string"),
        ("household_weight", "double"),
    ]
    assert schema["entities"] == {
        "household": {"rows": 2500, "key": "household_id", "weight": "household_weight"}
    }
    assert schema["format_details"] == {"delimiter": ",", "header": True}
    assert schema["stats"] == {}


def test_csv_types_widen_when_a_later_block_disagrees(tmp_path):
    path = tmp_path / "big.csv"
    body = "".join(f"{i},{i % 7},,{i % 3 or ''}\n" for i in range(600_000))  # > 4 MiB: blocks
    path.write_text("id,code,comment,score\n" + body + "600000,1.5,late,2.5\n600001,x,,1\n")
    schema = describe(path).schema
    assert schema["rows"] == 600_002
    assert [(f["name"], f["type"], f["nullable"]) for f in schema["fields"]] == [
        ("id", "int64", False),
        ("code", "string", False),
        ("comment", "string", False),  # all empty at first (null type); once text, "" is a value
        ("score", "double", True),
    ]


def test_generated_csv_counts_households(generated):
    schema = describe(generated / "households.csv", meta={"entity": "household"}).schema
    assert schema["rows"] == 300
    assert "interview_notes" in {f["name"] for f in schema["fields"]}


# -- broken input ----------------------------------------------------------------------------------


def test_corrupt_and_unreadable_files_raise_one_line_format_errors(tmp_path, generated):
    garbage = np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert not _is_utf8(garbage)

    bad_parquet = tmp_path / "x.parquet"
    bad_parquet.write_bytes(b"PAR1" + garbage)
    with pytest.raises(FormatError) as exc:
        describe(bad_parquet)
    assert_format_error(exc, bad_parquet, "not a valid parquet file")

    truncated = tmp_path / "half.h5"
    full = (generated / "us_microdata.h5").read_bytes()
    truncated.write_bytes(full[: len(full) // 2])
    with pytest.raises(FormatError) as exc:
        describe(truncated)
    assert_format_error(exc, truncated, "not a valid HDF5 file")

    for name in ("garbage.csv", "garbage.h5", "garbage.parquet"):
        path = tmp_path / name
        path.write_bytes(garbage)
        with pytest.raises(FormatError) as exc:
            describe(path)
        assert_format_error(exc, path)

    late_bad = tmp_path / "late.csv"
    late_bad.write_bytes(b"a,b\n" + b"1,ok\n" * 1_000_000 + b"2,\xff\xfe\n")
    with pytest.raises(FormatError) as exc:
        describe(late_bad)
    assert_format_error(exc, late_bad, "UTF-8")

    for path, fragment in [
        (tmp_path / "empty.csv", "not a valid CSV file"),
        (tmp_path / "missing.parquet", "does not exist"),
        (tmp_path / "notes.txt", "cannot tell the format"),
    ]:
        if path.suffix != ".parquet":
            path.write_bytes(b"")
        with pytest.raises(FormatError) as exc:
            describe(path)
        assert_format_error(exc, path, fragment)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- the generator ---------------------------------------------------------------------------------


def test_generator_is_deterministic_and_h5_times_follow_the_param(tmp_path, generated):
    again = generate(tmp_path / "again")
    for name in ("persons.parquet", "households.csv", "us_microdata.h5"):
        assert sha256(again / name) == sha256(generated / name), name
    other_seed = generate(tmp_path / "seed8", seed=8)
    assert sha256(other_seed / "persons.parquet") != sha256(generated / "persons.parquet")

    timed = generate(tmp_path / "timed", deterministic_h5=False)
    assert sha256(timed / "persons.parquet") == sha256(generated / "persons.parquet")

    def ctimes(path: Path) -> list[int]:
        with h5py.File(path) as fh:
            objs = [fh[name] for name in ("age", "age/2024", "household_id", "household_id/2024")]
            return [h5py.h5o.get_info(o.id).ctime for o in objs]

    assert all(t > 0 for t in ctimes(timed / "us_microdata.h5"))
    assert ctimes(generated / "us_microdata.h5") == [0, 0, 0, 0]


def test_generated_population_is_structured_like_the_cps(generated):
    persons = pq.read_table(generated / "persons.parquet")
    assert persons.num_columns >= 20
    sizes = pc.value_counts(persons["household_id"]).field("counts").to_numpy()
    assert sizes.min() >= 1 and sizes.max() <= 6
    per_hh = persons.group_by("household_id").aggregate([("tax_unit_id", "count_distinct")])
    tax_units = per_hh["tax_unit_id_count_distinct"].to_numpy()
    assert tax_units.min() >= 1 and tax_units.max() <= 2
    heads = pc.sum(persons["is_household_head"]).as_py()
    assert heads == 300
    json.dumps(describe(generated / "persons.parquet", meta={"entity": "person"}).schema)
