"""`pedata lineage` and `pedata lock` on the example registry: JSON, DOT, PROV-JSON, lint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from support.commands import run, run_pedata
from support.example import certify, commit, make_example, set_params

PROV_SCHEMA = json.loads((Path(__file__).parent / "data/prov-json.schema.json").read_text())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One certified example registry per module (keys in its own folder); tests get copies."""
    base = tmp_path_factory.mktemp("example")
    saved = os.environ.get("PEDATA_KEYS_DIR")
    os.environ["PEDATA_KEYS_DIR"] = str(base / "keys")
    try:
        repo = make_example(base)
        certify(repo)
    finally:
        if saved is None:
            os.environ.pop("PEDATA_KEYS_DIR", None)
        else:
            os.environ["PEDATA_KEYS_DIR"] = saved
    return repo


@pytest.fixture
def example(built, tmp_path) -> Path:
    repo = tmp_path / "registry"
    shutil.copytree(built, repo, symlinks=True)
    return repo


def lineage(repo: Path, *args: str) -> str:
    res = run_pedata("lineage", *args, cwd=repo)
    assert res.ok, res.stderr
    return res.stdout


def test_lineage_outputs_and_lint(example):
    graph = json.loads(lineage(example, "us@1.0.0"))
    ids = {n["id"] for n in graph["nodes"]}
    linked = {e["from"] for e in graph["edges"]} | {e["to"] for e in graph["edges"]}
    assert ids == linked  # no dangling node
    assert all(e["from"] in ids and e["to"] in ids for e in graph["edges"])
    stage = next(n for n in graph["nodes"] if n["type"] == "stage")
    assert stage["name"] == "generate" and len(stage["cmd_digest"]) == 64
    assert stage["params"]["params.yaml"]["generate"]["households"] == 200
    pins = json.loads((example / "releases/us/1.0.0.json").read_text())["signed"]["pins"]
    arts = {n["path"]: n for n in graph["nodes"] if n["type"] == "artifact"}
    assert {a["sha256"] for a in arts.values() if a.get("pins")} == {p["sha256"] for p in pins.values()}
    assert all(a["sha256"] and a["md5"] for a in arts.values())
    assert arts["pipeline/generate.py"]["sha256"] == json.loads((example / "locks/inputs.manifest.json").read_text())["inputs"][0]["sha256"]
    assert graph["scope"]["release"] == "1.0.0"

    prov = json.loads(lineage(example, "--format", "prov"))
    jsonschema.Draft4Validator(PROV_SCHEMA).validate(prov)
    assert len(prov["entity"]) == 4 and len(prov["activity"]) == 1
    assert len(prov["used"]) == 1 and len(prov["wasGeneratedBy"]) == 3

    dot = lineage(example, "--format", "dot")
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert dot.count(" -> ") == 4 and '"stage:dvc.yaml:generate" [shape=box' in dot
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout
        assert "<svg" in svg and "generate" in svg
        lineage(example, "--format", "dot", "--svg", str(example / "lineage.svg"))
        assert (example / "lineage.svg").read_text().lstrip().startswith(("<?xml", "<svg", "<!--"))

    events = [json.loads(line) for line in lineage(example, "--format", "openlineage").splitlines()]
    assert len(events) == 1 and events[0]["eventType"] == "COMPLETE"
    assert len(events[0]["outputs"]) == 3 and events[0]["inputs"][0]["name"] == "pipeline/generate.py"

    res = run_pedata("lineage", "--lint", cwd=example)
    assert res.ok and res.stdout.startswith("pedata lineage --lint: OK"), res.stdout + res.stderr


def test_lint_fails_on_an_unconnected_stage(example):
    text = (example / "dvc.yaml").read_text().replace(
        "artifacts:",
        "  stray:\n    cmd: python -c \"open('stray.txt', 'w').write('x')\"\n    outs:\n      - stray.txt\n\nartifacts:",
        1,
    )
    (example / "dvc.yaml").write_text(text)
    res = run_pedata("lineage", "--lint", cwd=example)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "lineage graph is not connected: 2 separate parts" in res.stdout
    assert "artifact stray.txt has no sha256" in res.stdout
    assert "violation(s)" in res.stderr


def test_lint_fails_on_a_dangling_stage_and_names_it(example):
    """A stage with neither deps nor outs (it only reads params): no edge reaches it."""
    text = (example / "dvc.yaml").read_text().replace(
        "artifacts:", "  announce:\n    cmd: echo built\n    params:\n      - generate.year\n\nartifacts:", 1)
    (example / "dvc.yaml").write_text(text)
    graph = json.loads(lineage(example))
    node = next(n for n in graph["nodes"] if n["id"] == "stage:dvc.yaml:announce")
    assert node["cmd"] == "echo built" and not any("stage:dvc.yaml:announce" in (e["from"], e["to"]) for e in graph["edges"])
    res = run_pedata("lineage", "--lint", cwd=example)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    # the rest of the graph is still one connected part: the dangling stage is the only finding
    assert res.stdout == "dangling node stage:dvc.yaml:announce: nothing connects it to the pipeline\n"
    assert res.stderr.strip() == f"pedata lineage --lint: 1 violation(s) in {len(graph['nodes'])} node(s)"


def test_lint_requires_inputs_lock_and_semver(example):
    (example / "locks/inputs.manifest.json").unlink()
    (example / "releases/us/1.0.json").write_text("{}")
    commit(example, "drop the lock, odd release name")
    res = run_pedata("lineage", "--lint", cwd=example)
    assert res.returncode == 1
    assert "replay is enabled but locks/inputs.manifest.json is missing" in res.stdout
    assert "releases/us/1.0.json: release version '1.0' is not semver" in res.stdout


def test_lock_is_stable_and_describes_the_environment(example):
    import platform

    from dvc_pedata.model.locks import load_deps_lock

    before = {p: (example / p).read_bytes() for p in ("locks/inputs.manifest.json", "locks/deps.lock.yaml")}
    res = run_pedata("lock", "--json", cwd=example)
    assert res.ok, res.stderr
    assert json.loads(res.stdout)["written"] == []  # unchanged inputs keep retrieved_at
    assert {p: (example / p).read_bytes() for p in before} == before
    env = load_deps_lock(before["locks/deps.lock.yaml"])
    assert env["python"]["version"] == platform.python_version()
    pkgs = {p["name"]: p for p in env["packages"]}
    assert pkgs["dvc"]["version"].startswith("3.67") and pkgs["dvc"]["hash"].startswith("sha256:")
    assert pkgs["pyarrow"]["hash_origin"] in ("archive", "record")
    # publish ran after the locks were written: every manifest records both lock digests
    import hashlib

    digests = {p: hashlib.sha256(data).hexdigest() for p, data in before.items()}
    manifests = sorted(m for m in (example / "manifests/us").glob("*/*.json") if not m.name.endswith(".fields.json"))
    assert [m.parent.name for m in manifests] == ["cps_households_2024", "enhanced_cps_2024", "us_microdata_2024"]
    for manifest in manifests:
        assert json.loads(manifest.read_text())["inputs"]["locks"] == digests, manifest


def test_a_stale_inputs_lock_lends_no_sha256_to_an_edited_input(example):
    """A manifest names a dep's sha256 only when the inputs lock hashed the bytes dvc.lock records;
    publish re-records a stale lock first, so the edited input gets its own sha256."""
    import hashlib

    gen = example / "pipeline/generate.py"
    locked = next(i for i in json.loads((example / "locks/inputs.manifest.json").read_text())["inputs"] if i["path"] == "pipeline/generate.py")
    old = json.loads(next((example / "manifests/us/enhanced_cps_2024").glob("*.json")).read_text())
    assert old["inputs"]["deps"] == [{"path": "pipeline/generate.py", "md5": locked["md5"], "size": locked["size"], "sha256": locked["sha256"]}]
    gen.write_text(gen.read_text() + "# edited after 'pedata lock'\n")
    set_params(example, households=20)  # new bytes, so new manifests
    run(["dvc", "repro", "-q"], cwd=example)
    res = run_pedata("publish", "--no-push", "--json", cwd=example)
    assert res.ok, res.stderr
    created = [a for a in json.loads(res.stdout)["artifacts"] if a["manifest_created"]]
    assert len(created) == 3
    edited = gen.read_bytes()
    for a in created:
        deps = json.loads((example / a["manifest"]).read_text())["inputs"]["deps"]
        # the edited script's md5, size and sha256: publish re-recorded the stale lock (the old
        # sha256 belongs to the old bytes and is never lent to the new ones)
        assert deps == [{"path": "pipeline/generate.py", "md5": hashlib.md5(edited).hexdigest(), "size": len(edited),
                         "sha256": hashlib.sha256(edited).hexdigest()}], a["name"]
    relocked = json.loads((example / "locks/inputs.manifest.json").read_text())["inputs"]
    assert next(i for i in relocked if i["path"] == "pipeline/generate.py")["sha256"] == hashlib.sha256(edited).hexdigest() != locked["sha256"]


def test_lineage_errors_are_one_line(example):
    from support.commands import assert_one_line_error

    assert_one_line_error(run_pedata("lineage", "us@2.0.0", cwd=example), "no release tag us/v2.0.0")
    assert_one_line_error(run_pedata("lineage", "nonsense ref", cwd=example), "bad reference")


def test_svg_implies_dot_and_conflicting_flags_are_refused(example):
    from support.commands import assert_one_line_error

    svg = example / "graph.svg"
    res = run_pedata("lineage", "--svg", str(svg), cwd=example)
    assert res.stdout.startswith("digraph lineage {"), res.stdout[:200]  # DOT, not JSON
    if shutil.which("dot"):
        assert res.ok, res.stderr
        assert svg.read_text().lstrip().startswith(("<?xml", "<svg", "<!--"))
    else:
        assert_one_line_error(res, "--svg needs Graphviz")
    for args, message in (
        (("--format", "json"), "--svg renders the DOT graph: it cannot be combined with --format json"),
        (("--lint",), "--svg renders the graph; --lint only checks it: use one or the other"),
    ):
        other = example / "other.svg"
        res = run_pedata("lineage", *args, "--svg", str(other), cwd=example)
        assert_one_line_error(res, message)
        assert res.returncode == 2 and res.stdout == "" and not other.exists()
    res = run_pedata("lineage", "--lint", "--format", "prov", cwd=example)
    assert_one_line_error(res, "--lint only checks the graph and prints findings: drop --format prov")
    assert res.returncode == 2
