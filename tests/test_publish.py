"""Foundation: init, publish (parquet, HDF5, CSV), schema without the payload, diff, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run, run_pedata

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


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def build(repo: Path, **params) -> None:
    (repo / "params.json").write_text(json.dumps({"rows": 40, **params}))
    run(["dvc", "repro", "-q"], cwd=repo)


@pytest.fixture
def registry(git_repo: Path, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    res = run_pedata("init", "-n", "us", "-n", "uk", cwd=git_repo)
    assert res.ok, res.stderr
    (git_repo / "build.py").write_text(STAGE_SCRIPT)
    (git_repo / "dvc.yaml").write_text(DVC_YAML)
    build(git_repo)
    run(["git", "add", "-A"], cwd=git_repo)
    run(["git", "commit", "-qm", "pipeline"], cwd=git_repo)
    return git_repo


def publish_json(repo: Path, *args: str) -> dict:
    res = run_pedata("publish", "--json", *args, cwd=repo)
    assert res.ok, res.stderr
    return json.loads(res.stdout)


def test_init_configures_local_remote_outside_work_tree(git_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    res = run_pedata("init", "-n", "us", "--json", cwd=git_repo)
    assert res.ok, res.stderr
    info = json.loads(res.stdout)
    url = Path(info["remote_url"])
    assert url.is_dir() and not url.is_relative_to(git_repo)
    assert str(tmp_path / "storage") in str(url)
    cfg = json.loads((git_repo / "pedata.json").read_text())
    assert cfg["namespaces"] == ["us"] and cfg["default_namespace"] == "us"
    assert "url = " + str(url) in (git_repo / ".dvc/config").read_text()
    # idempotent, and extends namespaces
    res = run_pedata("init", "-n", "uk", cwd=git_repo)
    assert res.ok and json.loads((git_repo / "pedata.json").read_text())["namespaces"] == ["us", "uk"]


def test_init_outside_git_is_one_line_error(tmp_path):
    res = run_pedata("init", cwd=tmp_path)
    assert_one_line_error(res, "not inside a git repository")
    assert not (tmp_path / "pedata.json").exists() and not (tmp_path / ".dvc").exists()


def test_publish_three_formats(registry):
    out = publish_json(registry)
    by_name = {a["name"]: a for a in out["artifacts"]}
    assert set(by_name) == {"persons", "households", "micro"}
    lock = (registry / "dvc.lock").read_text()
    for name, fname, fmt in [("persons", "persons.parquet", "parquet"), ("households", "households.csv", "csv"), ("micro", "micro.h5", "hdf5")]:
        a = by_name[name]
        assert a["sha256"] == sha256sum(registry / fname)
        assert f"md5: {a['md5']}" in lock
        m = json.loads((registry / a["manifest"]).read_text())
        assert m["digest"] == {"sha256": a["sha256"], "md5": a["md5"]}
        assert m["format"] == fmt and m["size"] == (registry / fname).stat().st_size
        assert m["producer"]["stage"] == "build" and m["producer"]["cmd"] == "python build.py"
        assert {d["path"] for d in m["inputs"]["deps"]} == {"build.py", "params.json"}
        assert len((registry / a["manifest"]).read_bytes()) < 16_000
    persons = json.loads((registry / by_name["persons"]["manifest"]).read_text())
    assert persons["licence"] == "CC-BY-4.0"
    assert persons["schema"]["rows"] == 40
    assert [f["name"] for f in persons["schema"]["fields"]] == ["person_id", "household_id", "age", "person_weight"]
    households = json.loads((registry / by_name["households"]["manifest"]).read_text())
    assert households["schema"]["rows"] == 20  # quoted newlines are not rows
    ch = json.loads((registry / "channels/us/latest.json").read_text())["signed"]
    assert ch["version"] == 1 and ch["prev"] is None
    assert ch["artifacts"]["persons"]["sha256"] == by_name["persons"]["sha256"]
    assert out["channels"] == {"us": 1}


def test_publish_is_idempotent_and_does_not_rehash(registry):
    publish_json(registry)
    run(["git", "commit", "-qam", "publish"], cwd=registry)
    before = {p: p.read_bytes() for p in (registry / "channels").rglob("*.json")}
    out = publish_json(registry)
    assert out["channels"] == {}
    assert all(not a["rehashed"] and not a["manifest_created"] for a in out["artifacts"])
    assert {p: p.read_bytes() for p in (registry / "channels").rglob("*.json")} == before
    assert run(["git", "status", "--porcelain"], cwd=registry).stdout == ""


def test_new_bytes_advance_latest_with_prev_chain(registry):
    publish_json(registry)
    run(["git", "add", "-A"], cwd=registry)
    run(["git", "commit", "-qm", "publish v1"], cwd=registry)
    first = json.loads((registry / "channels/us/latest.json").read_text())["signed"]
    build(registry, rows=50)
    out = publish_json(registry, "persons.parquet")
    assert out["channels"] == {"us": 2}
    second = json.loads((registry / "channels/us/latest.json").read_text())["signed"]
    from dvc_pedata.canonical import digest

    assert second["prev"] == digest(first)
    assert second["artifacts"]["persons"]["sha256"] != first["artifacts"]["persons"]["sha256"]
    assert second["artifacts"]["micro"] == first["artifacts"]["micro"]


def test_payload_is_pushed_to_the_remote(registry, tmp_path):
    out = publish_json(registry)
    md5 = next(a["md5"] for a in out["artifacts"] if a["name"] == "persons")
    objs = list((tmp_path / "storage").rglob(md5[2:]))
    assert len(objs) == 1 and sha256sum(objs[0]) == next(a["sha256"] for a in out["artifacts"] if a["name"] == "persons")


def test_schema_without_payload(registry):
    out = publish_json(registry)
    sha = next(a["sha256"] for a in out["artifacts"] if a["name"] == "persons")
    (registry / "persons.parquet").unlink()
    shutil.rmtree(registry / ".dvc" / "cache")
    res = run_pedata("schema", "pedata://us/persons@latest", cwd=registry)
    assert res.ok, res.stderr
    assert res.stdout.splitlines()[0] == f"us/persons  sha256:{sha}"
    assert "rows: 40" in res.stdout and "person_weight" in res.stdout
    res = run_pedata("schema", f"pedata://us/persons@sha256:{sha}", "--json", cwd=registry)
    assert res.ok and json.loads(res.stdout)["schema"]["rows"] == 40
    manifest = next(a["manifest"] for a in out["artifacts"] if a["name"] == "persons")
    res = run_pedata("schema", manifest, cwd=registry)
    assert res.ok and "rows: 40" in res.stdout
    # The Python API answers the same schema, without the payload either.
    import dvc_pedata

    expected = json.loads((registry / manifest).read_text())["schema"]
    assert dvc_pedata.schema("pedata://us/persons@latest", registry=registry) == expected
    assert [f["name"] for f in expected["fields"]][:1] and expected["rows"] == 40


def test_diff_reports_rename_retype_and_rows(registry):
    a = publish_json(registry)
    build(registry, rows=40, age_name="age_years")
    b = publish_json(registry)
    sha = lambda out: next(x["sha256"] for x in out["artifacts"] if x["name"] == "persons")  # noqa: E731
    res = run_pedata("diff", f"pedata://us/persons@sha256:{sha(a)}", f"pedata://us/persons@sha256:{sha(b)}", cwd=registry)
    assert res.ok, res.stderr
    assert "~ column age renamed to age_years" in res.stdout.splitlines()
    assert "~ input params.json: md5" in res.stdout
    build(registry, rows=60, age_name="age_years", age_type="int64")
    c = publish_json(registry)
    res = run_pedata("diff", f"pedata://us/persons@sha256:{sha(b)}", "pedata://us/persons@latest", "--format", "json", cwd=registry)
    d = json.loads(res.stdout)
    assert d["columns"]["retyped"] == [{"name": "age_years", "from": "int32", "to": "int64"}]
    assert d["columns"]["added"] == [] and d["columns"]["removed"] == []
    assert d["rows"] == {"person": {"from": 40, "to": 60}}
    assert d["b"]["sha256"] == sha(c)
    md = run_pedata("diff", f"pedata://us/persons@sha256:{sha(b)}", "pedata://us/persons@latest", "--format", "markdown", cwd=registry).stdout
    assert "| column retyped | `age_years` | `int32` → `int64` |" in md
    assert "| rows | person | 40 → 60 |" in md


def _snapshot(repo: Path) -> set[str]:
    return {p.relative_to(repo).as_posix() for p in repo.rglob("*") if ".dvc/tmp" not in p.as_posix() and ".git/" not in p.as_posix()}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--namespace", "fr"], "unknown namespace 'fr'"),
        (["--namespace", "../us"], "invalid namespace"),
        (["build.py"], "build.py is not a DVC output"),
        (["nope/x.parquet"], "is not a DVC output"),
    ],
)
def test_publish_bad_input_writes_nothing(registry, args, fragment):
    before = _snapshot(registry)
    res = run_pedata("publish", *args, cwd=registry)
    assert_one_line_error(res, fragment)
    assert _snapshot(registry) == before


@pytest.mark.parametrize("bad", ["Persons/x", "per..sons"])
def test_publish_rejects_bad_artifact_names(registry, bad):
    original = (registry / "dvc.yaml").read_text()
    (registry / "dvc.yaml").write_text(original.replace("  persons:\n", f"  {bad}:\n"))
    try:
        before = _snapshot(registry)
        # one line: pedata's own, without DVC's "Can't use ... as artifact name" warning first
        assert_one_line_error(run_pedata("publish", cwd=registry), "invalid artifact name")
        assert _snapshot(registry) == before
    finally:
        (registry / "dvc.yaml").write_text(original)


def test_publish_corrupt_parquet(registry):
    (registry / "build.py").write_text(STAGE_SCRIPT + "\nopen('persons.parquet', 'wb').write(b'PAR1 not really parquet')\n")
    run(["dvc", "repro", "-q"], cwd=registry)
    before = _snapshot(registry)
    res = run_pedata("publish", cwd=registry)
    assert_one_line_error(res, "persons.parquet")
    assert _snapshot(registry) == before


def test_modified_output_is_refused(registry):
    with open(registry / "persons.parquet", "ab") as f:
        f.write(b"junk")
    assert_one_line_error(run_pedata("publish", "persons.parquet", cwd=registry), "modified since dvc.lock")


def test_manifest_failing_its_schema(registry):
    out = publish_json(registry)
    mpath = registry / out["artifacts"][0]["manifest"]
    doc = json.loads(mpath.read_text())
    doc["size"] = "big"
    mpath.write_text(json.dumps(doc))
    res = run_pedata("schema", str(mpath), cwd=registry)
    assert_one_line_error(res, "fails the manifest schema at size")


def test_not_a_registry(git_repo):
    for args in (["publish"], ["schema", "pedata://us/x@latest"]):
        assert_one_line_error(run_pedata(*args, cwd=git_repo), "is not a pedata registry")


def test_unknown_artifact_and_bad_uri(registry):
    publish_json(registry)
    assert_one_line_error(run_pedata("schema", "pedata://us/nothing@latest", cwd=registry), "has no artifact 'nothing'")
    assert_one_line_error(run_pedata("schema", "pedata://us/persons@v1", cwd=registry), "not v<semver>")
    assert_one_line_error(run_pedata("schema", "pedata://us/persons@latest;path=../x", cwd=registry), "path qualifier")
    h = hashlib.sha256(b"nothing").hexdigest()
    assert_one_line_error(run_pedata("schema", f"pedata://us/persons@sha256:{h}", cwd=registry), "no manifest")


def test_init_with_an_s3_url_configures_a_real_remote_and_publish_pushes_there(git_repo, s3_remote):
    """`pedata init --remote s3://…` sets the URL; endpoint and credentials stay plain DVC."""
    from remotes import SECRET_OPTIONS

    res = run_pedata("init", "-n", "us", "--remote", s3_remote.url, cwd=git_repo)
    assert res.ok, res.stderr
    assert f"url = {s3_remote.url}" in (git_repo / ".dvc/config").read_text()
    for key, value in s3_remote.options.items():
        run(["dvc", "remote", "modify", *(["--local"] if key in SECRET_OPTIONS else []), "storage", key, value], cwd=git_repo)
    (git_repo / "build.py").write_text(STAGE_SCRIPT)
    (git_repo / "dvc.yaml").write_text(DVC_YAML)
    build(git_repo)
    out = publish_json(git_repo, "persons.parquet")
    md5 = out["artifacts"][0]["md5"]
    assert s3_remote.object_key(md5) in s3_remote.list_objects()
    assert hashlib.sha256(s3_remote.read_object(s3_remote.object_key(md5))).hexdigest() == out["artifacts"][0]["sha256"]


def test_publishing_twice_before_a_commit_makes_one_new_version(registry):
    """Every `prev` must name a version in git history: a second publish before committing
    replaces the uncommitted version instead of chaining a version onto it."""
    publish_json(registry)
    run(["git", "add", "-A"], cwd=registry)
    run(["git", "commit", "-qm", "publish v1"], cwd=registry)
    build(registry, rows=50)
    assert publish_json(registry, "persons.parquet")["channels"] == {"us": 2}
    build(registry, rows=60)
    assert publish_json(registry, "persons.parquet")["channels"] == {"us": 2}
    run(["git", "add", "-A"], cwd=registry)
    run(["git", "commit", "-qm", "publish again"], cwd=registry)
    res = run_pedata("verify", cwd=registry)
    assert res.ok, res.stdout + res.stderr
