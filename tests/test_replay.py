"""`pedata replay` of certified releases of the example registry: real git, real `dvc repro`."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, run, run_pedata, wait_for_next_second
from support.example import certify, commit, make_example, pins, set_params

pytestmark = pytest.mark.slow  # replay tests: `pytest -m 'not slow'` is the fast lane


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
    # the rebuild's HDF5 object timestamps must fall in a later second than the build's
    wait_for_next_second((repo / "data/us_microdata.h5").stat().st_mtime)
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


# -- one registry for parquet/CSV lenient, frozen stages and flags ---------------------------------
JITTER_PY = """\
# Test stage: a parquet and a CSV table; PEDATA_TEST_JITTER nudges the middle value of column w,
# PEDATA_TEST_ROWS (default 3) sets the row count.
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

j = float(os.environ.get("PEDATA_TEST_JITTER", "0"))
n = int(os.environ.get("PEDATA_TEST_ROWS", "3"))
ids, labels = list(range(1, n + 1)), "abcdefghij"[:n]
w = [1.0, 2.0 + j, 3.0] + [float(i) for i in range(4, n + 1)]
pq.write_table(pa.table({"id": ids, "label": list(labels), "w": w}), "data/jitter.parquet")
cells = [str(int(v)) if v == int(v) else repr(v) for v in w]  # 1,2,3 (integers) or 1,2.0000001,3
Path("data/jitter.csv").write_text("id,label,w\\n" + "".join(f"{i},{k},{c}\\n" for i, k, c in zip(ids, labels, cells)))
"""
CHAIN_PY = """\
# Test stages: `a` writes x.bin and folder xdir; `b` reads them, writes p.bin (and touches
# $PEDATA_TEST_MARKER if set); `codes` writes codes.txt, kept in git (and touches
# $PEDATA_TEST_CODES_MARKER if set); `notes` writes notes.txt, which no pin is built from.
import hashlib
import os
import sys
from pathlib import Path

if sys.argv[1] == "codes":
    if os.environ.get("PEDATA_TEST_CODES_MARKER"):
        Path(os.environ["PEDATA_TEST_CODES_MARKER"]).touch()
    Path("data/codes.txt").write_text("label,meaning\\na,first\\nb,second\\nc,third\\n")
elif sys.argv[1] == "notes":
    Path("data/notes.txt").write_text("built for people, not for a release\\n")
elif sys.argv[1] == "a":
    Path("data/x.bin").write_bytes(bytes(range(256)) * 4)
    Path("data/xdir").mkdir(exist_ok=True)
    Path("data/xdir/one.txt").write_text("one\\n")
    Path("data/xdir/two.txt").write_text("two\\n")
else:
    if os.environ.get("PEDATA_TEST_MARKER"):
        Path(os.environ["PEDATA_TEST_MARKER"]).touch()
    data = Path("data/x.bin").read_bytes() + Path("data/xdir/one.txt").read_bytes() + Path("data/xdir/two.txt").read_bytes()
    Path("data/p.bin").write_bytes(hashlib.sha256(data).digest() * 2)
"""
STAGES = """\
  codes:
    cmd: python pipeline/chain.py codes
    deps:
      - pipeline/chain.py
    outs:
      - data/codes.txt:
          cache: false
  jitter:
    cmd: python pipeline/jitter.py
    deps:
      - pipeline/jitter.py
      - data/codes.txt
    outs:
      - data/jitter.parquet
      - data/jitter.csv
  a:
    cmd: python pipeline/chain.py a
    deps:
      - pipeline/chain.py
    outs:
      - data/x.bin
      - data/xdir
  b:
    cmd: python pipeline/chain.py b
    deps:
      - pipeline/chain.py
      - data/x.bin
      - data/xdir
    outs:
      - data/p.bin
  notes:
    cmd: python pipeline/chain.py notes
    deps:
      - pipeline/chain.py
    outs:
      - data/notes.txt

artifacts:
"""
GENERATED = ("cps_households_2024", "enhanced_cps_2024", "us_microdata_2024")


def _jitter_and_chain(repo: Path) -> None:
    """Adds stage jitter (parquet + CSV pins) and a -> x.bin, xdir/ -> b -> p.bin (only p.bin pinned)."""
    (repo / "pipeline/jitter.py").write_text(JITTER_PY)
    (repo / "pipeline/chain.py").write_text(CHAIN_PY)
    text = (repo / "dvc.yaml").read_text().replace("\nartifacts:\n", "\n" + STAGES, 1)
    arts = "".join(
        f"  {name}:\n    path: {path}\n    type: dataset\n    meta:\n      pedata:\n        namespace: us\n"
        for name, path in (("jitter_parquet", "data/jitter.parquet"), ("jitter_csv", "data/jitter.csv"), ("chain_p", "data/p.bin"))
    )
    (repo / "dvc.yaml").write_text(text.rstrip("\n") + "\n" + arts)


@pytest.fixture(scope="module")
def chained(tmp_path_factory) -> Path:
    """us@1.0.0: nothing frozen. us@1.1.0: the same pins, with stages `a` and `generate` frozen.

    x.bin and xdir/ (a's outputs, not pinned) are pushed, so a replay can restore them.
    codes.txt (upstream of jitter, not pinned) is ``cache: false``: committed to git, so a
    scratch worktree has it and only a forced repro runs its stage. Stage `notes` reads
    chain.py like `a` and `b`, but no pin is built from it.
    """
    base = tmp_path_factory.mktemp("chained")
    saved = os.environ.get("PEDATA_KEYS_DIR")
    os.environ["PEDATA_KEYS_DIR"] = str(base / "keys")
    try:
        repo = make_example(base, households=20, before_repro=_jitter_and_chain)
        run(["dvc", "push", "-q"], cwd=repo)
        certify(repo)
        run(["dvc", "freeze", "-q", "a", "generate"], cwd=repo)
        commit(repo, "freeze a and generate")
        certify(repo, "1.1.0")
    finally:
        if saved is None:
            os.environ.pop("PEDATA_KEYS_DIR", None)
        else:
            os.environ["PEDATA_KEYS_DIR"] = saved
    return repo


def test_csv_int_vs_float_column_is_compared_as_numbers(tmp_path):
    from dvc_pedata.lineage.compare import compare

    (tmp_path / "a.csv").write_text("id,w\n1,1\n2,2\n3,3\n")
    (tmp_path / "b.csv").write_text("id,w\n1,1\n2,2.0000001\n3,3\n")
    (tmp_path / "c.csv").write_text("id,w\n1,1\n2,two\n3,3\n")
    cmp = compare(tmp_path / "a.csv", tmp_path / "b.csv", "csv", 1e-6)
    assert cmp.ok and cmp.problems == [] and cmp.max_drift == {"id": 0.0, "w": pytest.approx(5e-8, rel=1e-6)}
    cmp = compare(tmp_path / "a.csv", tmp_path / "c.csv", "csv", 1e-6)  # text is not a number
    assert cmp.problems == ["schema differs: id:int64, w:int64 vs id:int64, w:string"]


def test_parquet_and_csv_lenient_within_and_beyond_tolerance_strict_on_any_byte(chained):
    env = {"PEDATA_TEST_JITTER": "1e-7"}  # column w: pinned 1,2,3; rebuilt 1,2.0000001,3
    tables = ("jitter_csv", "jitter_parquet")
    rc, report, out = replay(chained, "us@1.0.0", "--policy", "lenient", "--tolerance", "1e-6", env=env)
    assert rc == 0, out
    assert report["ok"] and report["policy"] == "lenient" and report["tolerance"] == 1e-6
    arts = {a["name"]: a for a in report["artifacts"]}
    for name, fmt in zip(tables, ("csv", "parquet"), strict=True):
        a = arts[name]
        assert a["verdict"] == "equivalent" and a["sha256"] != a["expected_sha256"], a
        assert a["max_drift"] == {"id": 0.0, "w": pytest.approx(5e-8, rel=1e-6)}  # the string column has none
        assert a["reason"] == f"bytes differ; {fmt} content equal within tolerance 1e-06"
    assert {arts[n]["verdict"] for n in arts if n not in tables} == {"identical"}
    assert "jitter_csv               EQUIVALENT      data/jitter.csv" in out
    assert out.count("      largest drift: w 5e-08, id 0\n") == 2 and "replay PASSED" in out

    rc, report, out = replay(chained, "us@1.0.0", "--policy", "lenient", "--tolerance", "1e-8", env=env)
    assert rc == 1 and not report["ok"]
    for a in (a for a in report["artifacts"] if a["name"] in tables):
        assert a["verdict"] == "differs" and a["reason"] == "w: largest relative drift 5e-08 exceeds tolerance 1e-08"
        assert a["max_drift"]["w"] == pytest.approx(5e-8, rel=1e-6)
    assert "jitter_parquet           DIFFERS         data/jitter.parquet  (w: largest relative drift 5e-08 exceeds tolerance 1e-08)" in out
    assert "replay FAILED" in out

    rc, report, out = replay(chained, "us@1.0.0", env=env)
    assert rc == 1 and report["policy"] == "strict" and report["tolerance"] is None
    verdicts = {a["name"]: (a["verdict"], a.get("reason")) for a in report["artifacts"]}
    assert {n: v for n, v in verdicts.items() if n in tables} == dict.fromkeys(tables, ("differs", "sha256 differs from the pin (strict needs identical bytes)"))
    assert {v for n, v in verdicts.items() if n not in tables} == {("identical", None)}
    assert "jitter_csv               DIFFERS" in out and "replay FAILED" in out


def test_lenient_replay_fails_on_a_different_row_count(chained):
    rc, report, out = replay(chained, "pedata://us/jitter_parquet@v1.0.0", "--policy", "lenient", "--tolerance", "1e-6",
                             env={"PEDATA_TEST_ROWS": "4"})  # the rebuild has one more row than the pin
    assert rc == 1 and not report["ok"], out
    (a,) = report["artifacts"]
    assert (a["name"], a["verdict"], a["reason"], a["max_drift"]) == ("jitter_parquet", "differs", "row count 3 became 4", {})
    assert "  jitter_parquet           DIFFERS         data/jitter.parquet  (row count 3 became 4)\n" in out
    assert "replay FAILED" in out


def test_frozen_stage_upstream_of_a_pin_is_not_a_pass(chained):
    rc, report, out = replay(chained, "us@1.1.0")
    assert rc == 1 and not report["ok"], out
    assert report["not_replayable"] == ["dvc.yaml:a", "dvc.yaml:generate"]
    arts = {a["name"]: a for a in report["artifacts"]}
    p = arts["chain_p"]
    assert p["verdict"] == "not-replayable" and p["frozen_upstream"] == ["dvc.yaml:a"]
    assert p["rebuild_verdict"] == "identical" and p["sha256"] == p["expected_sha256"]
    assert p["reason"].startswith("built from the output of frozen stage dvc.yaml:a, which never runs")
    for name in GENERATED:  # the frozen stage's own pins
        assert arts[name]["verdict"] == "not-replayable"
        assert arts[name]["reason"] == "stage dvc.yaml:generate is frozen: it never runs, so its output proves nothing"
    assert arts["jitter_csv"]["verdict"] == arts["jitter_parquet"]["verdict"] == "identical"
    assert report["stages_run"] == ["dvc.yaml:b", "dvc.yaml:codes", "dvc.yaml:jitter"]
    # the frozen outputs were restored and checked against the md5 in dvc.lock at the tag
    md5 = hashlib.md5((chained / "data/x.bin").read_bytes()).hexdigest()
    restored = {r["path"]: r for r in report["restored"]}
    assert restored["data/x.bin"] == {"path": "data/x.bin", "stage": "dvc.yaml:a", "expected_md5": md5, "md5": md5,
                                      "verdict": "ok", "restored_from": "remote 'storage'"}
    assert set(restored) == {"data/x.bin", "data/xdir", "data/households.csv", "data/persons.parquet", "data/us_microdata.h5"}
    assert all(r["verdict"] == "ok" and r["md5"] == r["expected_md5"] for r in restored.values())
    assert restored["data/xdir"]["md5"].endswith(".dir") and restored["data/xdir"]["file_count"] == 2
    assert "  chain_p                  NOT-REPLAYABLE  data/p.bin  (built from the output of frozen stage dvc.yaml:a" in out
    assert "  us_microdata_2024        NOT-REPLAYABLE  data/us_microdata.h5  (stage dvc.yaml:generate is frozen" in out
    assert "  not replayable (frozen, never run): dvc.yaml:a, dvc.yaml:generate; outputs restored, md5-checked" in out
    assert "replay FAILED" in out


def test_tampered_or_missing_frozen_output_stops_before_any_stage_runs(chained, tmp_path):
    md5 = hashlib.md5((chained / "data/x.bin").read_bytes()).hexdigest()
    obj = next((chained.parent / "storage").rglob(md5[2:]))
    original = obj.read_bytes()
    marker = tmp_path / "stage-b-ran"
    env = {"PEDATA_TEST_MARKER": str(marker)}
    obj.chmod(0o644)
    try:
        obj.write_bytes(b"not what stage a wrote")  # bytes swapped in the remote
        tampered = run_pedata("replay", "us@1.1.0", cwd=chained, env=env)
        report = json.loads((chained / "reports/replay.result.json").read_text())
        obj.unlink()
        missing = run_pedata("replay", "us@1.1.0", cwd=chained, env=env)
    finally:
        obj.write_bytes(original)
    bad = hashlib.md5(b"not what stage a wrote").hexdigest()
    assert_one_line_error(tampered, "output data/x.bin of frozen stage dvc.yaml:a is tampered: the bytes from remote 'storage'"
                          f" hash to md5 {bad}, but dvc.lock records {md5}; no stage was run")
    assert tampered.returncode == 3 and not marker.exists()
    assert report["stages_run"] == [] and report["artifacts"] == [] and not report["ok"]
    assert [(r["path"], r["verdict"], r["md5"]) for r in report["restored"] if r["verdict"] != "ok"] == [("data/x.bin", "tampered", bad)]
    assert_one_line_error(missing, f"output data/x.bin of frozen stage dvc.yaml:a is missing: object {md5} is not in remote 'storage'; no stage was run")
    assert missing.returncode == 3 and not marker.exists()


def test_replay_reruns_stages_dvc_would_skip(chained, tmp_path):
    """Stage `codes` keeps its output in git (cache: false): the scratch worktree has it, unchanged,
    so a plain `dvc repro` would skip the stage. A replay forces it: the command really runs."""
    tag = "us/v1.0.0"
    assert run(["git", "ls-tree", "--name-only", tag, "data/codes.txt"], cwd=chained).stdout == "data/codes.txt\n"
    assert "data/codes.txt" in run(["git", "show", f"{tag}:dvc.lock"], cwd=chained).stdout
    marker = tmp_path / "codes-ran"
    rc, report, out = replay(chained, "pedata://us/jitter_parquet@v1.0.0", env={"PEDATA_TEST_CODES_MARKER": str(marker)})
    assert rc == 0 and report["ok"], out
    assert marker.exists(), "the upstream stage was not re-run: its committed output was taken as is"
    assert report["stages_run"] == ["dvc.yaml:codes", "dvc.yaml:jitter"]  # as DVC reports them, not as planned
    assert [(a["name"], a["verdict"]) for a in report["artifacts"]] == [("jitter_parquet", "identical")]


def _lineage(repo: Path, *args: str) -> tuple[dict, dict]:
    res = run_pedata("lineage", *args, cwd=repo)
    assert res.ok, res.stderr
    graph = json.loads(res.stdout)
    return graph, {n["id"]: n for n in graph["nodes"]}


def test_lineage_of_a_release_is_the_subgraph_behind_its_pins(chained):
    """Lineage scoping needs several stages, so it is tested here, on the multi-stage registry."""
    whole, nodes = _lineage(chained)
    assert {"stage:dvc.yaml:notes", "artifact:data/notes.txt"} <= set(nodes)
    assert whole["scope"] == {"ref": None} and nodes["stage:dvc.yaml:a"]["frozen"] is True  # HEAD: frozen since 1.1.0

    graph, nodes = _lineage(chained, "us@1.0.0")
    tag = run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=chained).stdout.strip()
    assert graph["commit"] == tag and graph["scope"] == {"ref": "us@1.0.0", "release": "1.0.0", "namespace": "us"}
    assert {n["name"] for n in nodes.values() if n["type"] == "stage"} == {"a", "b", "codes", "generate", "jitter"}
    assert {n["path"] for n in nodes.values() if n["type"] == "artifact"} == {
        "pipeline/chain.py", "pipeline/generate.py", "pipeline/jitter.py",  # raw inputs
        "data/x.bin", "data/xdir", "data/codes.txt",  # built, not pinned, but pins are built from them
        "data/p.bin", "data/jitter.parquet", "data/jitter.csv", "data/households.csv", "data/persons.parquet",
        "data/us_microdata.h5",  # the pins
    }  # not stage notes nor data/notes.txt: nothing pinned is built from them
    assert nodes["stage:dvc.yaml:a"]["frozen"] is False  # the graph as it was at the tag
    pinned = {n["path"]: n for n in nodes.values() if n.get("pins")}
    assert {p["sha256"] for p in pinned.values()} == {p["sha256"] for p in pins(chained).values()}

    graph, nodes = _lineage(chained, "pedata://us/chain_p@v1.0.0")  # one pin: only what p.bin is built from
    assert graph["scope"]["ref"] == "pedata://us/chain_p@v1.0.0" and graph["commit"] == tag
    assert sorted(nodes) == ["artifact:data/p.bin", "artifact:data/x.bin", "artifact:data/xdir", "artifact:pipeline/chain.py",
                             "stage:dvc.yaml:a", "stage:dvc.yaml:b"]
    assert sorted((e["from"], e["type"], e["to"]) for e in graph["edges"]) == [
        ("artifact:data/x.bin", "used", "stage:dvc.yaml:b"),
        ("artifact:data/xdir", "used", "stage:dvc.yaml:b"),
        ("artifact:pipeline/chain.py", "used", "stage:dvc.yaml:a"),
        ("artifact:pipeline/chain.py", "used", "stage:dvc.yaml:b"),  # chain.py also feeds codes and notes: not followed
        ("stage:dvc.yaml:a", "generated", "artifact:data/x.bin"),
        ("stage:dvc.yaml:a", "generated", "artifact:data/xdir"),
        ("stage:dvc.yaml:b", "generated", "artifact:data/p.bin"),
    ]
    p = nodes["artifact:data/p.bin"]
    assert p["pins"] == ["chain_p"] and p["sha256"] == pins(chained)["chain_p"]["sha256"]


def test_flags_that_would_be_ignored_are_refused_before_any_work(chained):
    report = chained / "reports/replay.result.json"
    report.unlink(missing_ok=True)
    # every input of us@1.0.0 is in git, so an unknown remote used to go unnoticed
    res = run_pedata("replay", "us@1.0.0", "--remote", "nosuch", cwd=chained)
    assert_one_line_error(res, "--remote 'nosuch' is not a DVC remote of this registry (configured: 'storage')")
    assert res.returncode == 2 and res.stdout == ""
    for args in (("--tolerance", "1e-6"), ("--policy", "strict", "--tolerance", "1e-6")):
        res = run_pedata("replay", "us@1.0.0", *args, cwd=chained)
        assert_one_line_error(res, "--tolerance applies only to --policy lenient (strict needs identical sha256)")
        assert res.returncode == 2 and res.stdout == ""
    assert not report.exists()
    assert run(["git", "worktree", "list"], cwd=chained).stdout.count("\n") == 1


def test_environment_differences_from_the_release_lock_are_reported(chained, tmp_path, monkeypatch):
    """A release certified with a deps lock that is not this environment: interpreter and packages."""
    import platform
    from importlib import metadata

    from dvc_pedata.model.locks import load_deps_lock
    from dvc_pedata.publish.locks import dump_yaml

    repo = tmp_path / "clone"  # a clone, so the module's registry keeps its history
    run(["git", "clone", "-q", str(chained), str(repo)], cwd=tmp_path)
    monkeypatch.setenv("PEDATA_KEYS_DIR", str(chained.parent / "keys"))
    lock = load_deps_lock((repo / "locks/deps.lock.yaml").read_bytes())
    packages = {p["name"]: p for p in lock["packages"]}
    assert {"h5py", "numpy", "pyarrow"} <= set(packages) and "left-pad" not in packages
    here = lock["python"]["platform"]
    numpy_hash = packages["numpy"]["hash"]
    assert numpy_hash and here == f"{sys.platform}-{platform.machine()}"
    lock["python"].update(version="3.10.0", platform="darwin-arm64")
    packages["pyarrow"]["version"] = "1.0.0"  # re-versioned
    packages["numpy"]["hash"] = "sha256:" + "0" * 64  # same version, other contents
    del packages["h5py"]  # installed, not locked
    packages["left-pad"] = {"name": "left-pad", "version": "1.3.0", "hash": None, "hash_origin": None}  # locked, not installed
    lock["packages"] = [packages[k] for k in sorted(packages)]
    (repo / "locks/deps.lock.yaml").write_bytes(dump_yaml(lock))
    commit(repo, "deps lock from another machine")
    certify(repo, "1.2.0")

    rc, report, out = replay(repo, "pedata://us/jitter_parquet@v1.2.0")
    assert rc == 0 and report["ok"], out  # the environment is reported; it does not fail a replay
    python, h5py, pyarrow = platform.python_version(), metadata.version("h5py"), metadata.version("pyarrow")
    assert report["environment"] == [
        {"what": "python", "locked": "3.10.0", "current": python},
        {"what": "platform", "locked": "darwin-arm64", "current": here},
        {"what": "package", "name": "h5py", "change": "added", "current": h5py},
        {"what": "package", "name": "left-pad", "change": "removed", "locked": "1.3.0"},
        {"what": "package", "name": "numpy", "change": "hash", "locked": "sha256:" + "0" * 64, "current": numpy_hash},
        {"what": "package", "name": "pyarrow", "change": "version", "locked": "1.0.0", "current": pyarrow},
    ]
    assert (f"  environment: 6 difference(s) from locks/deps.lock.yaml: python 3.10.0 -> {python}, platform darwin-arm64 -> {here},"
            f" h5py {h5py} (not in the lock), left-pad 1.3.0 (locked, not installed), pyarrow 1.0.0 -> {pyarrow};"
            " 1 package(s) re-hashed (same version, other contents)\n") in out
    assert "replay PASSED" in out
