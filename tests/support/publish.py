"""The small three-format pipeline (parquet, HDF5, CSV) that publish and cite tests build."""

from __future__ import annotations

import json
from pathlib import Path

from support.commands import run

STAGE_SCRIPT = r'''
"""Writes a small parquet, CSV and HDF5 from params.json (a test pipeline)."""
import json
import h5py, numpy as np, pyarrow as pa, pyarrow.parquet as pq
p = json.load(open("params.json"))
n = p["rows"]
cols = {"person_id": pa.array(np.arange(n, dtype="int64")),
        "household_id": pa.array(np.arange(n, dtype="int64") // 2),
        p.get("age_name", "age"): pa.array((np.arange(n) % 90).astype(p.get("age_type", "int32"))),
        "person_weight": pa.array(np.full(n, 1.5))}
pq.write_table(pa.table(cols), "persons.parquet")
with open("households.csv", "w") as f:
    f.write("household_id,state,note\n")
    for i in range(n // 2):
        f.write(f'{i},{i % 50},"line one\nline two, with comma"\n')
with h5py.File("micro.h5", "w", track_order=True) as h:
    for name, arr in [("person_id", np.arange(n)), ("household_id", np.arange(n // 2)),
                      ("person_household_id", np.arange(n) // 2), ("age", np.arange(n) % 90),
                      ("household_weight", np.ones(n // 2))]:
        h.create_dataset(f"{name}/2024", data=arr, track_times=False)
'''


DVC_YAML = """
stages:
  build:
    cmd: python build.py
    deps: [build.py, params.json]
    outs: [persons.parquet, households.csv, micro.h5]
artifacts:
  persons:
    path: persons.parquet
    type: dataset
    meta: {pedata: {namespace: us, entity: person, weight: person_weight, licence: CC-BY-4.0}}
  households:
    path: households.csv
    meta: {pedata: {namespace: us, entity: household}}
  micro:
    path: micro.h5
    meta: {pedata: {namespace: us, layout: policyengine}}
"""


def build(repo: Path, **params) -> None:
    (repo / "params.json").write_text(json.dumps({"rows": 40, **params}))
    run(["dvc", "repro", "-q"], cwd=repo)
