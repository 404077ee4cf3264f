"""Synthetic but realistically structured US microdata for the example registry.

Reads the ``generate`` section of ``params.yaml`` (``seed``, ``households``, ``year``,
``deterministic_h5``) and writes, from the seed alone:

- ``data/persons.parquet``   one row per person, ids of every entity, demographics, incomes, weights
- ``data/households.csv``    one row per household, with a free-text column (commas, quotes, newlines)
- ``data/us_microdata.h5``   the PolicyEngine layout: ``<variable>/<year>`` for every entity

Same seed and params give byte-identical parquet and CSV (same pyarrow version); the HDF5 too when
``deterministic_h5`` is true (no object timestamps, fixed ``libver``). With it false, groups and
datasets carry creation times, which is what a "lenient replay" must tolerate.

Households are generated in chunks, each from its own ``default_rng([seed, chunk])`` stream, so
memory stays bounded at any size (row groups, CSV blocks and HDF5 chunks are appended per chunk).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CHUNK_HOUSEHOLDS = 50_000
US_HOUSEHOLDS = 131_000_000  # the weights of the sample add up to roughly the US household count
HH_SIZE_P = [0.28, 0.34, 0.15, 0.13, 0.06, 0.04]  # 1..6 persons, close to the CPS distribution

# State FIPS codes with rough population shares, so state_fips looks like a real sample.
STATES = {
    1: 5.1,
    2: 0.7,
    4: 7.4,
    5: 3.0,
    6: 39.0,
    8: 5.9,
    9: 3.6,
    10: 1.0,
    11: 0.7,
    12: 22.6,
    13: 11.0,
    15: 1.4,
    16: 2.0,
    17: 12.5,
    18: 6.9,
    19: 3.2,
    20: 2.9,
    21: 4.5,
    22: 4.6,
    23: 1.4,
    24: 6.2,
    25: 7.0,
    26: 10.0,
    27: 5.7,
    28: 2.9,
    29: 6.2,
    30: 1.1,
    31: 2.0,
    32: 3.2,
    33: 1.4,
    34: 9.3,
    35: 2.1,
    36: 19.6,
    37: 10.8,
    38: 0.8,
    39: 11.8,
    40: 4.1,
    41: 4.2,
    42: 13.0,
    44: 1.1,
    45: 5.4,
    46: 0.9,
    47: 7.1,
    48: 30.5,
    49: 3.4,
    50: 0.6,
    51: 8.7,
    53: 7.8,
    54: 1.8,
    55: 5.9,
    56: 0.6,
}
NOTES = np.array(
    [
        "",
        "",
        "",
        'Respondent said "fine, thanks"',
        "Moved in 2023, renting from a relative",
        "Callback requested, evenings only",
        "Proxy interview: spouse answered, head at work",
        'Language: Spanish, interpreter "Ana"',
        "Two addresses on file,\nmail goes to the second one",
        "Refused income questions; imputed",
    ],
    dtype=object,
)
TENURE = np.array(["owner", "renter", "no_cash_rent"], dtype=object)
RACE = np.array(["white", "black", "asian", "native", "pacific", "multiple"], dtype=object)

PERSON_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("household_id", pa.int64()),
        ("tax_unit_id", pa.int64()),
        ("spm_unit_id", pa.int64()),
        ("family_id", pa.int64()),
        ("marital_unit_id", pa.int64()),
        ("age", pa.int16()),
        ("sex", pa.int8()),
        ("race", pa.string()),
        ("state_fips", pa.int8()),
        ("is_household_head", pa.bool_()),
        ("is_tax_unit_head", pa.bool_()),
        ("is_tax_unit_dependent", pa.bool_()),
        ("is_married", pa.bool_()),
        ("is_disabled", pa.bool_()),
        ("weekly_hours_worked", pa.float32()),
        ("employment_income", pa.float64()),
        ("self_employment_income", pa.float64()),
        ("social_security", pa.float64()),
        ("interview_date", pa.date32()),
        ("person_weight", pa.float64()),
        ("household_weight", pa.float64()),
    ]
)
HOUSEHOLD_SCHEMA = pa.schema(
    [
        ("household_id", pa.int64()),
        ("state_fips", pa.int64()),
        ("household_size", pa.int64()),
        ("tenure", pa.string()),
        ("household_weight", pa.float64()),
        ("interview_notes", pa.string()),
    ]
)


@dataclass(frozen=True)
class Params:
    seed: int
    households: int
    year: int
    deterministic_h5: bool


def load_params(path: Path) -> Params:
    """The ``generate`` section of params.yaml, checked (a typo must not silently change data)."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(path.read_text()) or {}
    section = doc.get("generate") if isinstance(doc, dict) else None
    if not isinstance(section, dict):
        raise SystemExit(f"generate.py: {path} has no 'generate' section")
    unknown = set(section) - {"seed", "households", "year", "deterministic_h5"}
    if unknown:
        raise SystemExit(f"generate.py: unknown params in generate: {', '.join(sorted(unknown))}")
    params = Params(
        seed=section.get("seed", 0),
        households=section.get("households", 2000),
        year=section.get("year", 2024),
        deterministic_h5=section.get("deterministic_h5", True),
    )
    for name in ("seed", "households", "year"):
        value = getattr(params, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < (1 if name == "households" else 0)
        ):
            raise SystemExit(
                f"generate.py: generate.{name} must be a non-negative integer (households >= 1)"
            )
    if not isinstance(params.deterministic_h5, bool):
        raise SystemExit("generate.py: generate.deterministic_h5 must be true or false")
    return params


@dataclass
class Chunk:
    """One chunk of households: per-entity columns, ids already global."""

    person: dict[str, np.ndarray]
    household: dict[str, np.ndarray]
    tax_unit: dict[str, np.ndarray]
    spm_unit: dict[str, np.ndarray]
    family: dict[str, np.ndarray]
    marital_unit: dict[str, np.ndarray]
    notes: np.ndarray
    tenure: np.ndarray
    race: np.ndarray


def _units(
    hh_of: np.ndarray, local: np.ndarray, n_households: int, base: int
) -> tuple[np.ndarray, int]:
    """Global unit ids from per-household local indices (0 always present, 1 optional)."""
    has_second = np.bincount(hh_of, weights=(local == 1), minlength=n_households) > 0
    per_hh = 1 + has_second.astype(np.int64)
    start = np.concatenate(([0], np.cumsum(per_hh)[:-1]))
    return base + start[hh_of] + local, int(per_hh.sum())


def make_chunk(rng: np.random.Generator, n: int, bases: dict[str, int], year: int) -> Chunk:
    size = rng.choice(6, size=n, p=HH_SIZE_P) + 1
    persons = int(size.sum())
    hh_of = np.repeat(np.arange(n), size)
    first = np.concatenate(([0], np.cumsum(size)[:-1]))
    k = np.arange(persons) - first[hh_of]

    head = k == 0
    couple = (size >= 2) & (rng.random(n) < 0.55)
    spouse = (k == 1) & couple[hh_of]
    r = rng.random(persons)
    other = ~head & ~spouse
    child = other & (r < 0.75)
    relative = other & (r >= 0.75) & (r < 0.9)
    unrelated = other & (r >= 0.9)

    head_age = np.clip(rng.normal(50, 17, n), 18, 90).astype(np.int16)
    age = np.empty(persons, dtype=np.int16)
    age[head] = head_age
    age[spouse] = np.clip(
        head_age[hh_of[spouse]] + rng.normal(0, 4, int(spouse.sum())), 18, 95
    ).astype(np.int16)
    max_child = np.clip(head_age[hh_of[child]].astype(np.int64) - 17, 1, 25)
    age[child] = (rng.random(int(child.sum())) * max_child).astype(np.int16)
    age[relative] = rng.integers(18, 91, int(relative.sum()))
    age[unrelated] = rng.integers(18, 81, int(unrelated.sum()))

    sex = rng.integers(1, 3, persons).astype(np.int8)
    flip = spouse & (rng.random(persons) < 0.95)
    sex[flip] = 3 - sex[np.flatnonzero(flip) - 1]  # mostly opposite-sex couples

    # Tax unit 0: head, spouse and dependent children; tax unit 1: every other adult.
    dependent = child & ((age < 19) | ((age < 24) & (rng.random(persons) < 0.5)))
    tu_local = np.where(head | spouse | dependent, 0, 1)
    tax_unit_id, n_tu = _units(hh_of, tu_local, n, bases["tax_unit"])
    # Family 0: related persons; unrelated adults form a second family. SPM units take in
    # about half of the unrelated adults (cohabiting partners), so SPM units and families differ.
    fam_local = unrelated.astype(np.int64)
    family_id, n_fam = _units(hh_of, fam_local, n, bases["family"])
    spm_local = (unrelated & (rng.random(persons) < 0.5)).astype(np.int64)
    spm_unit_id, n_spm = _units(hh_of, spm_local, n, bases["spm_unit"])
    # Marital units: a couple shares one; everyone else is a unit alone.
    mu_per_hh = size - couple
    mu_start = np.concatenate(([0], np.cumsum(mu_per_hh)[:-1]))
    marital_unit_id = bases["marital_unit"] + mu_start[hh_of] + k - (couple[hh_of] & (k >= 1))
    n_mu = int(mu_per_hh.sum())

    household_id = bases["household"] + np.arange(n)
    person_id = bases["person"] + np.arange(persons)
    states = np.array(list(STATES), dtype=np.int8)
    share = np.array(list(STATES.values()))
    state = states[rng.choice(len(states), size=n, p=share / share.sum())]
    weight = np.round(US_HOUSEHOLDS / bases["total_households"] * rng.lognormal(-0.08, 0.4, n), 2)

    adult = age >= 18
    working_age = adult & (age < 67)
    employed = working_age & (rng.random(persons) < 0.72)
    hours = np.where(employed, np.clip(rng.normal(38, 9, persons), 5, 80), 0).astype(np.float32)
    employment_income = np.where(employed, np.round(rng.lognormal(10.6, 0.8, persons)), 0.0)
    self_emp = adult & (rng.random(persons) < 0.09)
    self_employment_income = np.where(self_emp, np.round(rng.lognormal(9.6, 1.2, persons)), 0.0)
    retired = (age >= 62) & (rng.random(persons) < 0.85)
    social_security = np.where(
        retired, np.round(np.clip(rng.normal(21_000, 7_000, persons), 2_000, 48_000)), 0.0
    )
    disabled = rng.random(persons) < np.where(age >= 65, 0.25, 0.06)
    start = np.datetime64(f"{year}-02-01")
    interview = (start + rng.integers(0, 59, n).astype("timedelta64[D]"))[hh_of]

    tu_head = np.zeros(persons, dtype=bool)
    tu_head[np.unique(tax_unit_id, return_index=True)[1]] = True
    married = couple[hh_of] & (head | spouse)

    person = {
        "person_id": person_id,
        "household_id": household_id[hh_of],
        "tax_unit_id": tax_unit_id,
        "spm_unit_id": spm_unit_id,
        "family_id": family_id,
        "marital_unit_id": marital_unit_id,
        "age": age,
        "sex": sex,
        "state_fips": state[hh_of],
        "is_household_head": head,
        "is_tax_unit_head": tu_head,
        "is_tax_unit_dependent": dependent,
        "is_married": married,
        "is_disabled": disabled,
        "weekly_hours_worked": hours,
        "employment_income": employment_income,
        "self_employment_income": self_employment_income,
        "social_security": social_security,
        "interview_date": interview,
        "person_weight": weight[hh_of],
        "household_weight": weight[hh_of],
    }

    def first_of(ids: np.ndarray) -> np.ndarray:
        """Index of each unit's first member (ids are consecutive, so in unit order)."""
        return np.unique(ids, return_index=True)[1]

    tu_first = first_of(tax_unit_id)
    spm_first = first_of(spm_unit_id)
    fam_first = first_of(family_id)
    childcare = np.where(
        np.bincount(tax_unit_id - bases["tax_unit"], weights=child & (age < 13), minlength=n_tu)
        > 0,
        np.round(rng.lognormal(8.2, 0.7, n_tu)),
        0.0,
    )
    return Chunk(
        person=person,
        household={
            "household_id": household_id,
            "household_weight": weight,
            "state_fips": state.astype(np.int64),
            "household_size": size.astype(np.int64),
        },
        tax_unit={
            "tax_unit_id": bases["tax_unit"] + np.arange(n_tu),
            "tax_unit_weight": weight[hh_of[tu_first]],
            "tax_unit_childcare_expenses": childcare,
        },
        spm_unit={
            "spm_unit_id": bases["spm_unit"] + np.arange(n_spm),
            "spm_unit_weight": weight[hh_of[spm_first]],
            "snap_reported": np.where(
                rng.random(n_spm) < 0.11, np.round(rng.uniform(300, 9000, n_spm)), 0.0
            ),
        },
        family={
            "family_id": bases["family"] + np.arange(n_fam),
            "family_weight": weight[hh_of[fam_first]],
        },
        marital_unit={"marital_unit_id": bases["marital_unit"] + np.arange(n_mu)},
        notes=NOTES[rng.integers(0, len(NOTES), n)],
        tenure=TENURE[rng.choice(3, size=n, p=[0.65, 0.33, 0.02])],
        race=RACE[rng.choice(len(RACE), size=persons, p=[0.72, 0.13, 0.06, 0.01, 0.005, 0.075])],
    )


class H5Appender:
    """Appends 1-D arrays to ``<variable>/<year>`` datasets, created on first use."""

    def __init__(self, path: Path, year: int, deterministic: bool) -> None:
        # A fixed libver keeps the on-disk format stable; times are on or off for every object.
        self.file = h5py.File(path, "w", libver=("v110", "v110"))
        self.year = str(year)
        self.track_times = not deterministic
        self.datasets: dict[str, h5py.Dataset] = {}

    def append(self, name: str, values: np.ndarray) -> None:
        ds = self.datasets.get(name)
        if ds is None:
            gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
            gcpl.set_obj_track_times(self.track_times)
            group = h5py.Group(h5py.h5g.create(self.file.id, name.encode(), gcpl=gcpl))
            chunk = (max(1, min(len(values), 1 << 16)),)
            ds = group.create_dataset(
                self.year,
                shape=(0,),
                maxshape=(None,),
                chunks=chunk,
                dtype=values.dtype,
                track_times=self.track_times,
            )
            self.datasets[name] = ds
        start = ds.shape[0]
        ds.resize((start + len(values),))
        ds[start:] = values

    def close(self) -> None:
        self.file.close()


def generate(params: Params, out: Path) -> dict[str, int]:
    """Write the three outputs under ``out``; returns the entity counts."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("persons.parquet", "households.csv", "us_microdata.h5")}
    tmp = {name: p.with_name(f".{p.name}.tmp") for name, p in paths.items()}
    counts = dict.fromkeys(
        ("person", "household", "tax_unit", "spm_unit", "family", "marital_unit"), 0
    )
    bases = {e: 1 for e in counts}
    writer = pq.ParquetWriter(tmp["persons.parquet"], PERSON_SCHEMA)
    csv_writer = pacsv.CSVWriter(tmp["households.csv"], HOUSEHOLD_SCHEMA)
    h5 = H5Appender(tmp["us_microdata.h5"], params.year, params.deterministic_h5)
    try:
        for index, begin in enumerate(range(0, params.households, CHUNK_HOUSEHOLDS)):
            n = min(CHUNK_HOUSEHOLDS, params.households - begin)
            rng = np.random.default_rng([params.seed, index])
            chunk = make_chunk(
                rng, n, {**bases, "total_households": params.households}, params.year
            )
            columns = {**chunk.person, "race": chunk.race}
            writer.write_table(
                pa.table({f.name: columns[f.name] for f in PERSON_SCHEMA}, schema=PERSON_SCHEMA)
            )
            hh = chunk.household
            csv_writer.write_table(
                pa.table(
                    {
                        "household_id": hh["household_id"],
                        "state_fips": hh["state_fips"],
                        "household_size": hh["household_size"],
                        "tenure": chunk.tenure,
                        "household_weight": hh["household_weight"],
                        "interview_notes": chunk.notes,
                    },
                    schema=HOUSEHOLD_SCHEMA,
                )
            )
            _append_h5(h5, chunk)
            for entity in counts:
                size = len(getattr(chunk, entity)[f"{entity}_id"])
                counts[entity] += size
                bases[entity] += size
    finally:
        writer.close()
        csv_writer.close()
        h5.close()
    for name, path in paths.items():
        os.replace(tmp[name], path)
    return counts


def _append_h5(h5: H5Appender, chunk: Chunk) -> None:
    p = chunk.person
    for name in (
        "person_id",
        "age",
        "sex",
        "is_household_head",
        "is_tax_unit_head",
        "is_tax_unit_dependent",
        "is_disabled",
        "weekly_hours_worked",
        "employment_income",
        "self_employment_income",
        "social_security",
        "person_weight",
    ):
        h5.append(name, np.ascontiguousarray(p[name]))
    for entity in ("household", "tax_unit", "spm_unit", "family", "marital_unit"):
        h5.append(f"person_{entity}_id", p[f"{entity}_id"])
        for name, values in getattr(chunk, entity).items():
            h5.append(name, values)
    # Enum variables are stored as fixed-length bytes, as PolicyEngine does.
    h5.append("tenure_type", np.array([t.upper() for t in chunk.tenure], dtype="S12"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, default=Path("data"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    counts = generate(params, args.out)
    print(" ".join(f"{k}={v}" for k, v in counts.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
