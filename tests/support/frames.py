"""A registry for the dataframe tests: parquet, CSV, PolicyEngine HDF5 and a folder of parquet parts.

Built with the real CLI (``pedata init``, ``dvc repro``, ``pedata publish``, ``pedata promote``,
``pedata certify``), so ``us@v1.0.0`` is a certified release signed by alice, tagged ``us/v1.0.0``.
Artifacts (namespace ``us``):

- ``people``: ``people.parquet`` (``ROWS`` rows: person_id, age, income, state);
- ``households``: ``households.csv``;
- ``pe``: ``pe.h5`` in the PolicyEngine layout (``<variable>/<period>``, periods 2024 and 2025);
- ``parts``: a folder ``parts/part-<i>.parquet`` of ``PARTS`` parquet files (one table, split).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from support.commands import dvc_cmd, run, run_pedata

ROWS = 3000
PARTS = 4

GEN = r'''
import os, h5py, numpy as np, pyarrow as pa, pyarrow.parquet as pq
rng = np.random.default_rng(7)
n = int(os.environ.get("ROWS", "3000"))
people = pa.table({
    "person_id": np.arange(n, dtype="int64"),
    "age": rng.integers(0, 90, n).astype("int16"),
    "income": rng.random(n) * 1e5,
    "state": pa.array(np.array(["CA", "NY", "TX", "WA"])[rng.integers(0, 4, n)]),
})
pq.write_table(people, "people.parquet", row_group_size=1000)
with open("households.csv", "w") as fh:
    fh.write("household_id,size,rent\n")
    for i in range(500):
        fh.write(f"{i},{1 + i % 5},{(i * 37) % 2000}.5\n")
os.makedirs("parts", exist_ok=True)
k = int(os.environ.get("PARTS", "4"))
for i in range(k):
    pq.write_table(people.slice(i * (n // k), n // k), f"parts/part-{i}.parquet")
hh, pp = 3, 7
with h5py.File("pe.h5", "w", track_order=True) as h:
    for period, bump in (("2024", 0), ("2025", 1)):
        for name, arr in [("person_id", np.arange(pp)), ("household_id", np.arange(hh)),
                          ("person_household_id", np.arange(pp) % hh), ("age", np.arange(pp) * 10 + bump),
                          ("household_weight", np.arange(hh) + 1.5 + bump), ("person_weight", np.ones(pp) * (2 + bump))]:
            h.create_dataset(f"{name}/{period}", data=arr, track_times=False)
'''

DVC_YAML = """stages:
  build:
    cmd: {py} gen.py
    deps: [gen.py]
    outs: [people.parquet, households.csv, pe.h5, parts]
artifacts:
  people:
    path: people.parquet
  households:
    path: households.csv
  pe:
    path: pe.h5
    meta: {{pedata: {{layout: policyengine}}}}
  parts:
    path: parts
"""


@dataclass
class DFRegistry:
    origin: Path
    storage: Path
    env: dict[str, str]
    pins: dict  # name -> {sha256, manifest_sha256, size} from channel latest

    def path(self, rel: str) -> Path:
        return self.origin / rel

    def clone(self, dest: Path) -> Path:
        run(["git", "clone", "-q", str(self.origin), str(dest)], cwd=dest.parent)
        return dest


def build(base: Path, remote=None) -> DFRegistry:
    """Publish the four artifacts and certify ``us@1.0.0`` (``remote``: a tests/remotes.py Remote)."""
    origin = base / "origin"
    origin.mkdir(parents=True)
    env = {"PEDATA_STORAGE_DIR": str(base / "storage"), "PEDATA_CACHE_DIR": str(base / "publisher-cache"),
           "PEDATA_KEYS_DIR": str(base / "keys"), "ROWS": str(ROWS), "PARTS": str(PARTS)}
    run(["git", "init", "-q", "-b", "main"], cwd=origin)
    assert run_pedata("init", "-n", "us", cwd=origin, env=env).ok
    if remote is not None:
        run([*dvc_cmd(), "remote", "remove", "--local", "storage"], cwd=origin)  # init keeps its folder in config.local
        remote.configure(origin, "storage", default=True)
    (origin / "gen.py").write_text(GEN)
    (origin / "dvc.yaml").write_text(DVC_YAML.format(py=sys.executable))
    run([*dvc_cmd(), "repro", "-q"], cwd=origin, env=env)
    for args in (("publish",), ("key", "generate", "alice"), ("trust", "init", "--root", "alice", "--expires", "never")):
        res = run_pedata(*args, cwd=origin, env=env)
        assert res.ok, (args, res)
    run(["git", "add", "-A"], cwd=origin)
    run(["git", "commit", "-q", "-m", "publish"], cwd=origin)
    res = run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=origin, env=env)
    assert res.ok, res
    run(["git", "commit", "-q", "-m", "promote us next"], cwd=origin)
    res = run_pedata("certify", "us", "1.0.0", "--sign", "alice", "--notice", "first", cwd=origin, env=env)
    assert res.ok, res
    pins = json.loads((origin / "channels/us/latest.json").read_text())["signed"]["artifacts"]
    storage = next((base / "storage").iterdir()) if remote is None else base / "storage"
    return DFRegistry(origin, storage, env, pins)


def manifest(reg: DFRegistry, name: str) -> dict:
    return json.loads((reg.origin / f"manifests/us/{name}/{reg.pins[name]['sha256']}.json").read_text())


def remote_key(md5: str) -> str:
    return f"files/md5/{md5[:2]}/{md5[2:]}"
