"""`pedata replay` of a release that pins a DVC folder out: real git, real `dvc repro`.

Strict: the rebuilt folder's Merkle digest must be the pinned one. Lenient: the same file set,
and every file whose bytes changed equal in content (HDF5 dataset by dataset) within tolerance.
"""

from __future__ import annotations

import json
import time

import pytest
from support.commands import run, run_pedata
from support.dirs import certify, make_registry, trust_init

pytestmark = pytest.mark.slow  # replay tests: `pytest -m 'not slow'` is the fast lane

FILES = [f"constituency/E14{i:06d}.h5" for i in range(5)]


def _commit(reg, msg: str) -> None:
    run(["git", "add", "-A"], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", msg], cwd=reg.origin)


def _lock_publish_certify(reg, version: str) -> dict:
    res = run_pedata("lock", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    _commit(reg, "lock")
    art = reg.publish()["artifacts"][0]
    certify(reg, version)
    return art


def _replay(reg, *args: str) -> tuple[int, dict, str]:
    res = run_pedata("replay", *args, cwd=reg.origin, env=reg.env)
    assert "Traceback" not in res.stderr, res.stderr
    report = json.loads((reg.origin / "reports/replay.result.json").read_text())
    return res.returncode, report, res.stdout + res.stderr


def test_directory_release_replays_strict_and_timestamped_files_pass_lenient(tmp_path):
    reg = make_registry(tmp_path, constituencies=5, districts=0)
    trust_init(reg)
    _commit(reg, "trust root")
    exact = _lock_publish_certify(reg, "2.0.0")
    assert reg.manifest(exact["sha256"])["files"]["count"] == 5

    rc, report, out = _replay(reg, "uk@2.0.0")
    assert rc == 0, out
    (row,) = report["artifacts"]
    assert (row["name"], row["verdict"], row["file_count"]) == ("local_areas", "identical", 5)
    assert row["sha256"] == row["expected_sha256"] == exact["sha256"]
    assert report["stages_run"] == ["dvc.yaml:build"] and "replay PASSED" in out

    # HDF5 object timestamps in every file (bytes differ on each build) and weights that drift
    # by up to 1e-9 relative from build to build.
    reg.build(constituencies=5, districts=0, track_times=True, jitter=1e-9)
    built = time.monotonic()
    stamped = _lock_publish_certify(reg, "2.1.0")
    time.sleep(max(0.0, 1.1 - (time.monotonic() - built)))  # the rebuild gets another second
    rc, report, out = _replay(reg, "uk@2.1.0")
    assert rc == 1, out
    (row,) = report["artifacts"]
    assert row["verdict"] == "differs" and row["expected_sha256"] == stamped["sha256"] != row["sha256"]
    assert "directory digest differs from the pin (strict needs identical bytes): 5 of 5 files differ" in row["reason"]
    assert [f["path"] for f in row["files"]["changed"]] == FILES
    assert row["files"]["added"] == row["files"]["removed"] == []
    assert "local_areas              DIFFERS" in out and f"~ {FILES[0]}" in out and "replay FAILED" in out

    rc, report, out = _replay(reg, "uk@2.1.0", "--policy", "lenient", "--tolerance", "1e-6")
    assert rc == 0, out
    (row,) = report["artifacts"]
    assert row["verdict"] == "equivalent", row
    assert "bytes differ in 5 of 5 files; their content is equal within tolerance 1e-06" in row["reason"]
    per_file = {f["path"]: f for f in row["files"]["changed"]}
    assert list(per_file) == FILES
    assert {f["verdict"] for f in per_file.values()} == {"equivalent"}
    assert all(0 < f["drift"] < 1e-8 and f["max_drift"]["age/2024"] == 0.0 for f in per_file.values())
    assert row["max_drift"]["household_weight/2024"] == max(f["drift"] for f in per_file.values())
    assert f"~ {FILES[0]} equivalent, largest drift " in out and "household_weight/2024" in out and "replay PASSED" in out

    rc, report, out = _replay(reg, "uk@2.1.0", "--policy", "lenient", "--tolerance", "1e-14")
    assert rc == 1, out
    (row,) = report["artifacts"]
    assert row["verdict"] == "differs" and row["reason"].startswith("5 of 5 changed files differ beyond tolerance 1e-14: ")
    assert f"{FILES[0]}: household_weight/2024: largest relative drift" in row["reason"]
    assert {f["verdict"] for f in row["files"]["changed"]} == {"differs"}
    assert f"~ {FILES[0]} differs, largest drift" in out and "replay FAILED" in out
