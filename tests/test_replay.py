"""`pedata replay` of certified releases of the example registry: real git, real `dvc repro`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import assert_one_line_error, run, run_pedata
from example_registry import certify, commit, make_example, pins, set_params


def replay(repo: Path, *args: str, env: dict | None = None) -> tuple[int, dict, str]:
    res = run_pedata("replay", *args, cwd=repo, env=env)
    assert "Traceback" not in res.stderr, res.stderr
    report = json.loads((repo / "reports/replay.result.json").read_text())
    return res.returncode, report, res.stdout + res.stderr


def test_certified_release_replays_strict_and_ignores_later_params(tmp_path):
    repo = make_example(tmp_path)
    certify(repo)
    rc, report, out = replay(repo, "us@1.0.0")
    assert rc == 0, out
    assert report["ok"] and report["policy"] == "strict" and report["tolerance"] is None
    expected = {name: pin["sha256"] for name, pin in pins(repo).items()}
    assert {a["name"]: a["sha256"] for a in report["artifacts"]} == expected
    assert {a["verdict"] for a in report["artifacts"]} == {"identical"}
    assert report["stages_run"] == ["dvc.yaml:generate"]
    assert report["inputs"] == [dict(report["inputs"][0], path="pipeline/generate.py", verdict="ok")]
    assert {"checkout", "restore_inputs", "repro", "total"} <= set(report["timings"])
    assert report["environment"] == []  # same interpreter and packages as the lock
    assert "replay PASSED" in out
    # the scratch worktree is gone and the user's dvc.lock untouched
    assert run(["git", "worktree", "list"], cwd=repo).stdout.count("\n") == 1
    assert run(["git", "status", "--porcelain", "--", "dvc.lock"], cwd=repo).stdout == ""

    # params.yaml changes after the tag (and a new build is committed): the tag still replays
    set_params(repo, households=150, seed=7)
    run(["dvc", "repro", "-q"], cwd=repo)
    commit(repo, "new params after the release")
    # --json prints the report (stage output does not leak into stdout); a URI narrows to one pin
    res = run_pedata("replay", "pedata://us/enhanced_cps_2024@v1.0.0", "--json", cwd=repo)
    assert res.ok, res.stderr
    data = json.loads(res.stdout)
    assert [(a["name"], a["verdict"]) for a in data["artifacts"]] == [("enhanced_cps_2024", "identical")]
    assert data["ok"] and "households: 150" in (repo / "params.yaml").read_text()

    assert_one_line_error(run_pedata("replay", "us@9.9.9", cwd=repo), "no release tag us/v9.9.9")
    assert_one_line_error(run_pedata("replay", "us@1.0.0", "--policy", "fuzzy", cwd=repo), "invalid choice")
    assert_one_line_error(run_pedata("replay", "pedata://us/enhanced_cps_2024@latest", cwd=repo), "replay needs a release")


def test_timestamped_hdf5_passes_lenient_fails_strict(tmp_path):
    repo = make_example(tmp_path, deterministic_h5=False)
    certify(repo)
    rc, report, out = replay(repo, "us@1.0.0", "--policy", "strict")
    assert rc == 1 and not report["ok"]
    verdicts = {a["name"]: a for a in report["artifacts"]}
    assert verdicts["us_microdata_2024"]["verdict"] == "differs"
    assert "sha256 differs from the pin" in verdicts["us_microdata_2024"]["reason"]
    assert verdicts["enhanced_cps_2024"]["verdict"] == "identical"
    assert "us_microdata_2024        DIFFERS" in out and "replay FAILED" in out
    rc, report, out = replay(repo, "us@1.0.0", "--policy", "lenient", "--tolerance", "1e-6")
    assert rc == 0, out
    assert report["policy"] == "lenient" and report["tolerance"] == 1e-6
    h5 = next(a for a in report["artifacts"] if a["name"] == "us_microdata_2024")
    assert h5["verdict"] == "equivalent" and h5["sha256"] != h5["expected_sha256"]
    assert h5["max_drift"]["person_weight/2024"] == 0.0 and len(h5["max_drift"]) > 20
    assert "replay PASSED" in out


def _with_raw_input(repo: Path) -> None:
    """A DVC-tracked raw input the stage depends on, and a command that leaves a trace."""
    (repo / "data/raw").mkdir(parents=True)
    (repo / "data/raw/codebook.csv").write_text("variable,label\nage,Age in years\n")
    run(["dvc", "add", "-q", "data/raw/codebook.csv"], cwd=repo)
    text = (repo / "dvc.yaml").read_text()
    text = text.replace("    cmd: python pipeline/generate.py\n", '    cmd: python pipeline/generate.py && touch "$PEDATA_TEST_MARKER"\n')
    text = text.replace("      - pipeline/generate.py\n", "      - pipeline/generate.py\n      - data/raw/codebook.csv\n")
    (repo / "dvc.yaml").write_text(text)


def test_tampered_input_is_refused_before_any_stage_runs(tmp_path):
    marker = tmp_path / "stage-ran"
    env = {"PEDATA_TEST_MARKER": str(marker)}
    os.environ["PEDATA_TEST_MARKER"] = str(marker)
    try:
        repo = make_example(tmp_path, before_repro=_with_raw_input)
    finally:
        del os.environ["PEDATA_TEST_MARKER"]
    lock = json.loads((repo / "locks/inputs.manifest.json").read_text())
    raw = next(i for i in lock["inputs"] if i["path"] == "data/raw/codebook.csv")
    assert raw["source"] == "dvc://storage/data/raw/codebook.csv.dvc"
    run(["dvc", "push", "-q"], cwd=repo)
    certify(repo)
    marker.unlink()
    rc, report, out = replay(repo, "us@1.0.0", env=env)
    assert rc == 0 and marker.exists(), out  # honest: the input is restored from the remote
    marker.unlink()
    # someone swaps the bytes in the remote (S3/GCS do not re-hash on pull)
    obj = next((tmp_path / "storage").rglob(raw["md5"][2:]))
    obj.chmod(0o644)
    obj.write_text("variable,label\nage,Age in months\n")
    res = run_pedata("replay", "us@1.0.0", env=env, cwd=repo)
    assert_one_line_error(res, "input data/raw/codebook.csv is tampered", "no stage was run")
    assert res.returncode == 3
    assert not marker.exists()
    report = json.loads((repo / "reports/replay.result.json").read_text())
    assert report["stages_run"] == [] and report["artifacts"] == [] and not report["ok"]
    assert report["inputs"][0]["verdict"] == "tampered"


def test_frozen_stage_is_not_replayable(tmp_path):
    repo = make_example(tmp_path)
    run(["dvc", "freeze", "-q", "generate"], cwd=repo)
    commit(repo, "freeze")
    certify(repo)
    rc, report, out = replay(repo, "us@1.0.0")
    assert rc == 1
    assert report["not_replayable"] == ["dvc.yaml:generate"]
    assert {a["verdict"] for a in report["artifacts"]} == {"not-replayable"}
    assert "NOT-REPLAYABLE" in out and "frozen" in out
