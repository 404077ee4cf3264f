"""Foundation: init, publish (parquet, HDF5, CSV), schema without the payload, diff, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, run, run_pedata
from support.inotify import IN_ACCESS, IN_OPEN, Inotify
from support.publish import DVC_YAML, STAGE_SCRIPT, build


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]




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
    # the folder is machine-local: its path stays out of the committed config (init says so)
    assert "url = " + str(url) in (git_repo / ".dvc/config.local").read_text()
    assert str(url) not in (git_repo / ".dvc/config").read_text() and "remote = storage" in (git_repo / ".dvc/config").read_text()
    assert run(["git", "ls-files", ".dvc"], cwd=git_repo).stdout.split() == [".dvc/.gitignore", ".dvc/config"]
    assert info["remote_local"] is True
    # idempotent, and extends namespaces
    res = run_pedata("init", "-n", "uk", cwd=git_repo)
    assert res.ok and json.loads((git_repo / "pedata.json").read_text())["namespaces"] == ["us", "uk"]
    assert res.stdout.endswith(
        "  this folder is on this machine only, so its path is in .dvc/config.local (not committed);\n"
        "  for a remote others can use: pedata init --remote s3://BUCKET/PREFIX (or gs://...), then commit .dvc/config\n")
    # a shared remote: committed, and the machine-local URL is gone (DVC's local file would win)
    res = run_pedata("init", "--remote", str(tmp_path / "shared"), "--json", cwd=git_repo)
    assert res.ok and json.loads(res.stdout)["remote_local"] is False
    assert f"url = {tmp_path / 'shared'}" in (git_repo / ".dvc/config").read_text()
    assert "url" not in (git_repo / ".dvc/config.local").read_text()


def test_init_outside_git_is_one_line_error(tmp_path):
    res = run_pedata("init", cwd=tmp_path)
    assert_one_line_error(res, "not inside a git repository")
    assert not (tmp_path / "pedata.json").exists() and not (tmp_path / ".dvc").exists()


def test_publish_three_formats(registry):
    import yaml  # PyYAML comes with DVC

    # Stage params from params.yaml, and both locks (raw inputs with sha256, the environment),
    # committed: the manifests must record exactly what dvc.lock and the locks say.
    (registry / "params.yaml").write_text("build:\n  scale: 2\n  label: three formats\n")
    (registry / "dvc.yaml").write_text(DVC_YAML.replace("    deps: [build.py, params.json]\n",
                                                        "    deps: [build.py, params.json]\n    params: [build]\n"))
    run(["dvc", "repro", "-q"], cwd=registry)
    res = run_pedata("lock", cwd=registry)
    assert res.ok, res.stderr
    run(["git", "add", "-A"], cwd=registry)
    run(["git", "commit", "-qm", "params and locks"], cwd=registry)
    head = run(["git", "rev-parse", "HEAD"], cwd=registry).stdout.strip()
    out = publish_json(registry)
    by_name = {a["name"]: a for a in out["artifacts"]}
    assert set(by_name) == {"persons", "households", "micro"}
    lock = yaml.safe_load((registry / "dvc.lock").read_text())
    raw = {i["path"]: i for i in json.loads((registry / "locks/inputs.manifest.json").read_text())["inputs"]}
    assert set(raw) == {"build.py", "params.json"}  # raw inputs: deps no stage produces
    for path, entry in raw.items():
        assert entry["sha256"] == sha256sum(registry / path)
    locks = {rel: sha256sum(registry / rel) for rel in ("locks/inputs.manifest.json", "locks/deps.lock.yaml")}
    for name, fname, fmt in [("persons", "persons.parquet", "parquet"), ("households", "households.csv", "csv"), ("micro", "micro.h5", "hdf5")]:
        a = by_name[name]
        assert a["sha256"] == sha256sum(registry / fname)
        # The dvc.lock stage that records this output (by its path), and that output's md5.
        stages = [(s, st) for s, st in lock["stages"].items() if any(o["path"] == fname for o in st["outs"])]
        assert len(stages) == 1, stages
        stage, st = stages[0]
        assert a["md5"] == next(o["md5"] for o in st["outs"] if o["path"] == fname)
        m = json.loads((registry / a["manifest"]).read_text())
        assert m["digest"] == {"sha256": a["sha256"], "md5": a["md5"]}
        assert m["format"] == fmt and m["size"] == (registry / fname).stat().st_size
        # inputs: each dep as dvc.lock records it, plus its sha256 from the inputs lock.
        deps = [{"path": d["path"], "md5": d["md5"], "size": d["size"]} | ({"sha256": raw[d["path"]]["sha256"]} if d["path"] in raw else {})
                for d in st["deps"]]
        assert m["inputs"]["deps"] == deps and [d["path"] for d in deps] == ["build.py", "params.json"]
        assert m["inputs"]["params"] == st["params"] == {"params.yaml": {"build": {"scale": 2, "label": "three formats"}}}
        assert m["inputs"]["locks"] == locks
        # composite_digest = digest of {deps, params, locks} (docs/registry.md), recomputed here.
        assert m["inputs"]["composite_digest"] == canonical_sha256({"deps": deps, "params": st["params"], "locks": locks})
        assert m["producer"] == {"stage": stage, "dvcfile": "dvc.yaml", "cmd": st["cmd"], "git_commit": head,
                                 "cmd_digest": hashlib.sha256(st["cmd"].encode()).hexdigest()}
        assert st["cmd"] == "python build.py"
        assert len((registry / a["manifest"]).read_bytes()) < 8_192
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


class FileWatch(Inotify):
    """Which of some files any process opened or read between two calls of :meth:`seen`."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(paths, IN_ACCESS | IN_OPEN)

    def seen(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for path, _name, mask in self.events():
            out.setdefault(path.name, set()).update(k for k, bit in (("open", IN_OPEN), ("read", IN_ACCESS)) if mask & bit)
        return out


def test_publish_is_idempotent_and_does_not_rehash(registry):
    """A second publish of unchanged outputs writes nothing and does not even open the payloads:
    the sha256 comes from the memo (path, inode, mtime, size) and the manifest, which exists for
    those bytes and is immutable, is kept without reading the file again (no CSV parse)."""
    payloads = [registry / "persons.parquet", registry / "households.csv", registry / "micro.h5"]
    watch = FileWatch(payloads)
    try:
        publish_json(registry)
        first = watch.seen()  # the watch works: the first publish reads every payload
        assert {n: "read" in k for n, k in first.items()} == {p.name: True for p in payloads}, first
        run(["git", "commit", "-qam", "publish"], cwd=registry)
        before = {p: p.read_bytes() for p in (registry / "channels").rglob("*.json")}
        watch.seen()
        out = publish_json(registry)
        assert watch.seen() == {}  # not opened, not read: no hash, no sidecar
    finally:
        watch.close()
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
    from dvc_pedata.model.canonical import digest

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
    from support.remotes import SECRET_OPTIONS

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


# -- wide tables: small manifests, complete field lists ----------------------------------------------
WIDE_SCRIPT = r'''
"""A 5,000-column parquet and a PolicyEngine HDF5 with 600 variables, from params.json."""
import json
import h5py, numpy as np, pyarrow as pa, pyarrow.parquet as pq
p = json.load(open("params.json"))
n = 20
cols = {f"variable_{i:04d}": pa.array(np.arange(n, dtype="int64") + i) for i in range(p["columns"])}
if p.get("retype"):
    cols[p["retype"]] = pa.array(np.arange(n) + 0.5)                 # int64 -> double
if p.get("drop"):
    del cols[p["drop"]]
if p.get("add"):
    cols[p["add"]] = pa.array(np.arange(n, dtype="int64") * 1000)    # other values: not a rename
pq.write_table(pa.table(cols), "wide.parquet")
rows = {"person": 12, "household": 5}
with h5py.File("wide.h5", "w") as h:
    for e, k in rows.items():
        h.create_dataset(f"{e}_id/2024", data=np.arange(k), track_times=False)
        h.create_dataset(f"{e}_weight/2024", data=np.ones(k), track_times=False)
    h.create_dataset("person_household_id/2024", data=np.arange(12) % 5, track_times=False)
    for i in range(p["variables"]):
        dtype = "int32" if i == p.get("retype_variable") else "float32"
        for year in ("2023", "2024"):
            h.create_dataset(f"pe_variable_{i:04d}/{year}", data=np.zeros(rows["person"] if i % 2 else rows["household"], dtype), track_times=False)
'''

WIDE_DVC_YAML = """
stages:
  build:
    cmd: python build.py
    deps: [build.py, params.json]
    outs: [wide.parquet, wide.h5]
artifacts:
  wide:
    path: wide.parquet
    meta: {pedata: {namespace: us}}
  widepe:
    path: wide.h5
    meta: {pedata: {namespace: us, layout: policyengine}}
"""

MANIFEST_BUDGET = 8 * 1024  # "a manifest stays a few KB"


def canonical_sha256(obj) -> str:
    """RFC 8785 digest, standard library only (exact for strings, integers, booleans and null)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


def wide_registry(repo: Path, columns: int = 5000, variables: int = 600) -> Path:
    assert run_pedata("init", "-n", "us", cwd=repo).ok
    (repo / "build.py").write_text(WIDE_SCRIPT)
    (repo / "dvc.yaml").write_text(WIDE_DVC_YAML)
    (repo / "params.json").write_text(json.dumps({"columns": columns, "variables": variables}))
    run(["dvc", "repro", "-q"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "wide pipeline"], cwd=repo)
    return repo


def test_wide_tables_keep_small_manifests_and_every_column(git_repo, tmp_path, monkeypatch):
    import h5py
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import dvc_pedata

    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    repo = wide_registry(git_repo)
    first = {a["name"]: a for a in publish_json(repo)["artifacts"]}
    arrow = pq.read_schema(repo / "wide.parquet")
    with h5py.File(repo / "wide.h5") as fh:
        variables = set(fh)
    for name, n_fields in (("wide", 5000), ("widepe", 600 + 5)):
        mpath = repo / first[name]["manifest"]
        assert mpath.stat().st_size <= MANIFEST_BUDGET, (name, mpath.stat().st_size)
        schema = json.loads(mpath.read_text())["schema"]
        assert schema["field_count"] == n_fields and schema["fields_truncated"] is True
        # The complete list is a content-addressed file beside the manifest, named by its digest.
        companion = mpath.parent / schema["fields_sidecar"]
        assert schema["fields_sidecar"] == f"{schema['fields_sidecar_sha256']}.fields.json"
        listed = json.loads(companion.read_text())
        assert canonical_sha256(listed) == schema["fields_sidecar_sha256"]
        assert len(listed["fields"]) == n_fields and listed["fields"][: len(schema["fields"])] == schema["fields"]
        assert run(["git", "ls-files", "--", companion.relative_to(repo).as_posix()], cwd=repo).stdout.strip()  # staged

    # `pedata schema` and dvc_pedata.schema() give every column (names and types as pyarrow reads them).
    res = run_pedata("schema", "pedata://us/wide@latest", "--json", cwd=repo)
    assert res.ok, res.stderr
    full = json.loads(res.stdout)["schema"]
    assert [(f["name"], f["type"]) for f in full["fields"]] == [(f.name, str(f.type)) for f in arrow]
    assert full["fields_truncated"] is False and len(full["stats"]) == 5000
    last = pq.read_table(repo / "wide.parquet", columns=["variable_4999"])["variable_4999"]
    assert full["stats"]["variable_4999"] == {"min": pc.min(last).as_py(), "max": pc.max(last).as_py(), "null_count": 0}
    text = run_pedata("schema", "pedata://us/wide@latest", cwd=repo).stdout
    assert "variable_4999  int64" in text and "more columns" not in text
    pe = dvc_pedata.schema("pedata://us/widepe@latest", registry=str(repo))
    assert {f["name"] for f in pe["fields"]} == variables and len(pe["format_details"]["variables"]) == len(variables)
    assert pe["format_details"]["variables"]["pe_variable_0599"]["shape"] == [12]
    assert pe["entities"]["person"] == {"rows": 12, "key": "person_id", "weight": "person_weight"}
    assert run_pedata("verify", cwd=repo).ok
    run(["git", "commit", "-qm", "publish wide"], cwd=repo)

    # Columns retyped, removed and added far past the inline ones: diff reports each exactly.
    (repo / "params.json").write_text(json.dumps({"columns": 5000, "variables": 600, "retype": "variable_4321",
                                                  "drop": "variable_4998", "add": "zz_added", "retype_variable": 555}))
    run(["dvc", "repro", "-q"], cwd=repo)
    second = {a["name"]: a for a in publish_json(repo)["artifacts"]}
    res = run_pedata("diff", f"pedata://us/wide@sha256:{first['wide']['sha256']}", "pedata://us/wide@latest", "--format", "json", cwd=repo)
    assert res.ok, res.stderr
    cols = json.loads(res.stdout)["columns"]
    assert cols == {"added": ["zz_added"], "removed": ["variable_4998"], "renamed": [], "complete": True,
                    "retyped": [{"name": "variable_4321", "from": "int64", "to": "double"}]}
    md = run_pedata("diff", f"pedata://us/wide@sha256:{first['wide']['sha256']}", "pedata://us/wide@latest", "--format", "markdown", cwd=repo).stdout
    assert "| column retyped | `variable_4321` | `int64` → `double` |" in md and "| column added | `zz_added` |  |" in md
    res = run_pedata("diff", first["widepe"]["manifest"], second["widepe"]["manifest"], "--format", "json", cwd=repo)
    assert res.ok, res.stderr
    assert json.loads(res.stdout)["columns"]["retyped"] == [{"name": "pe_variable_0555", "from": "float", "to": "int32"}]
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "publish wide v2"], cwd=repo)
    gc = run_pedata("gc", "--dry-run", "--json", cwd=repo)
    assert gc.ok and json.loads(gc.stdout)["orphans"] == [], gc.stdout + gc.stderr

    # verify: the field list must be there, unmodified, and every field list must be named.
    mpath = repo / second["wide"]["manifest"]
    companion = mpath.parent / json.loads(mpath.read_text())["schema"]["fields_sidecar"]
    companion.write_text(companion.read_text().replace('"double"', '"float"', 1))
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and f"field list {companion.relative_to(repo).as_posix()} was modified" in res.stdout, res.stdout
    assert_one_line_error(run_pedata("schema", "pedata://us/wide@latest", cwd=repo), "was modified")
    companion.unlink()
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "is missing from the registry" in res.stdout, res.stdout
    run(["git", "checkout", "--", "manifests"], cwd=repo)
    stray = companion.with_name("0" * 64 + ".fields.json")
    stray.write_bytes(companion.read_bytes())
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "a field list that no manifest names" in res.stdout, res.stdout
    stray.unlink()
    assert run_pedata("verify", cwd=repo).ok


def test_manifests_from_before_field_lists_still_load_and_verify(git_repo, tmp_path, monkeypatch):
    """A manifest written before companion field lists (256 fields inline, the rest only in the
    fingerprint) is immutable: it keeps loading, verifying and answering schema and diff."""
    from dvc_pedata.base.hashing import FileDigest
    from dvc_pedata.dvcio.repo import DvcRepo
    from dvc_pedata.publish.manifests import build_manifest

    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    repo = wide_registry(git_repo, columns=300, variables=3)
    sha = sha256sum(repo / "wide.parquet")
    with DvcRepo(repo) as dvc:
        out = dvc.out_info("wide.parquet")
    head = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    # What pedata wrote before field lists: the lists capped at 256 inline, nothing beside them.
    legacy, extra = build_manifest(root=repo, namespace="us", name="wide", out=out, meta={"namespace": "us"},
                                   file_digest=FileDigest(sha, (repo / "wide.parquet").stat().st_size, out.md5),
                                   git_commit=head, licence=None, companions=False)
    assert extra == {} and len(legacy.schema["fields"]) == 256 and "fields_sidecar" not in legacy.schema
    mpath = repo / "manifests/us/wide" / f"{sha}.json"
    mpath.parent.mkdir(parents=True)
    mpath.write_bytes(legacy.to_bytes())
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "a manifest from an older pedata"], cwd=repo)
    before = mpath.read_bytes()

    out = {a["name"]: a for a in publish_json(repo, "wide.parquet")["artifacts"]}
    assert not out["wide"]["manifest_created"] and mpath.read_bytes() == before  # kept as it is
    assert not list(mpath.parent.glob("*.fields.json"))  # and no field list it does not name
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "publish"], cwd=repo)
    res = run_pedata("verify", cwd=repo)
    assert res.ok, res.stdout + res.stderr
    text = run_pedata("schema", "pedata://us/wide@latest", cwd=repo).stdout
    assert "variable_0255" in text and "variable_0256" not in text and "... 44 more columns" in text

    # Against it, diff reports what the listed columns show and says what it cannot compare.
    (repo / "params.json").write_text(json.dumps({"columns": 300, "variables": 3, "retype": "variable_0100",
                                                  "drop": "variable_0290", "add": "zz_added"}))
    run(["dvc", "repro", "-q"], cwd=repo)
    publish_json(repo, "wide.parquet")
    res = run_pedata("diff", f"pedata://us/wide@sha256:{sha}", "pedata://us/wide@latest", "--format", "json", cwd=repo)
    cols = json.loads(res.stdout)["columns"]
    assert cols["retyped"] == [{"name": "variable_0100", "from": "int64", "to": "double"}]
    assert cols["added"] == [] and cols["removed"] == [] and cols["complete"] is False
    text = run_pedata("diff", f"pedata://us/wide@sha256:{sha}", "pedata://us/wide@latest", cwd=repo).stdout
    assert "! a manifest lists only its first columns" in text


def test_the_library_publishes_a_registry_from_another_working_folder(registry, tmp_path, monkeypatch):
    # DVC's dvcfile.relpath is relative to the current folder: publish once pushed
    # '<registry>/<cwd-relative path>/dvc.yaml' (no such file) and recorded that path as the producer's
    from dvc_pedata.publish.publish import publish

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = publish(root=registry)
    assert result.pushed > 0 and result.artifacts
    for a in result.artifacts:
        manifest = json.loads((registry / a.manifest).read_text())
        assert manifest["producer"]["dvcfile"] == "dvc.yaml", manifest["producer"]
