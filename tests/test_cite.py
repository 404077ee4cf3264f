"""Citing and exporting a release: SWHIDs equal git's ids; CFF, PolicyEngine TRO, Croissant and
Data Package documents validate against the real schemas; a real bundle imports as exact pins."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
from support.commands import assert_one_line_error, run, run_pedata
from support.publish import DVC_YAML, STAGE_SCRIPT, build

from dvc_pedata.registry.repo import Registry
from dvc_pedata.releases.swhid import blob_id, dir_id
from dvc_pedata.trust import keys
from dvc_pedata.trust import root as trust

DATA = Path(__file__).parent / "data"


def schema_validator(path: Path):
    schema = json.loads(path.read_text())
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """publish (real DVC pipeline) -> promote (signed) -> certify -> tag, once for this module."""
    home = tmp_path_factory.mktemp("citehome")
    repo = tmp_path_factory.mktemp("cite") / "repo"
    repo.mkdir()
    env = {"PEDATA_KEYS_DIR": str(home / "keys"), "PEDATA_STORAGE_DIR": str(home / "storage")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run(["git", "init", "-q", "-b", "main"], cwd=repo)
        run(["git", "remote", "add", "origin", "https://example.org/lab/registry.git"], cwd=repo)
        assert run_pedata("init", "-n", "us", cwd=repo).ok
        (repo / "build.py").write_text(STAGE_SCRIPT)
        (repo / "dvc.yaml").write_text(DVC_YAML)
        build(repo)
        for name in ("alice", "bob"):
            keys.generate(name)
        trust.init_root(Registry(repo), ["alice"], {"promoter": ["alice"], "certifier": ["bob"], "revoker": ["alice"]})
        res = run_pedata("lock", cwd=repo)  # the inputs and environment locks the TRO covers
        assert res.ok, res.stderr
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-qm", "pipeline and trust"], cwd=repo)
        res = run_pedata("publish", cwd=repo)
        assert res.ok, res.stderr
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-qm", "publish"], cwd=repo)
        res = run_pedata("promote", "us", "--sign", "alice", cwd=repo)
        assert res.ok, res.stderr
        res = run_pedata("certify", "us", "1.0.0", "--sign", "bob", "--certified-for", "policyengine-us==2.2.1", cwd=repo)
        assert res.ok, res.stderr
        yield repo
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def git(repo: Path, *args: str) -> str:
    return run(["git", *args], cwd=repo).stdout.strip()


def test_swhids_equal_git_object_ids(released):
    repo = released
    res = run_pedata("cite", "us@1.0.0", "--format", "swhid", cwd=repo)
    assert res.ok, res.stderr
    lines = res.stdout.splitlines()
    tag_obj = git(repo, "rev-parse", "us/v1.0.0")
    commit = git(repo, "rev-parse", "us/v1.0.0^{commit}")
    origin = "https://example.org/lab/registry"
    anchor = f"swh:1:rel:{tag_obj}"
    assert lines[0] == f"swh:1:rel:{tag_obj};origin={origin}"
    assert lines[1] == f"swh:1:rev:{commit};origin={origin};anchor={anchor}"
    assert lines[2] == f"swh:1:dir:{git(repo, 'rev-parse', commit + '^{tree}')};origin={origin};anchor={anchor}"
    cnt = [line for line in lines if line.startswith("swh:1:cnt:")]
    manifests = sorted(p.relative_to(repo).as_posix() for p in (repo / "manifests").rglob("*.json"))
    assert len(cnt) == len(manifests) + 1  # every manifest and the release file
    for line in cnt:
        oid = line.split(";")[0].removeprefix("swh:1:cnt:")
        path = line.split(";path=/")[1]
        assert oid == git(repo, "hash-object", path) == git(repo, "rev-parse", f"{commit}:{path}")


def test_dir_and_blob_ids_of_a_folder_match_git_write_tree(tmp_path):
    folder = tmp_path / "d"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"alpha\n")
    (folder / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (folder / "sub" / "deeper" / "x").write_text("x")
    (folder / "sub.txt").write_text("sorts before sub/ in git order? no: after")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    os.symlink("a.txt", folder / "link")
    run(["git", "init", "-q"], cwd=folder)
    run(["git", "add", "-A"], cwd=folder)
    assert dir_id(folder) == git(folder, "write-tree")
    assert blob_id((folder / "sub" / "b.bin").read_bytes()) == git(folder, "hash-object", "sub/b.bin")


def test_citation_cff_validates_and_names_the_release(released):
    import yaml  # ruamel is a dependency; PyYAML comes with DVC

    res = run_pedata("cite", "us@1.0.0", "--format", "cff", "-o", "CITATION.cff", cwd=released)
    assert res.ok, res.stderr
    cff = yaml.safe_load((released / "CITATION.cff").read_text())
    schema_validator(DATA / "schemas/cff-1.2.0.schema.json").validate(cff)
    assert cff["type"] == "dataset" and cff["version"] == "1.0.0"
    values = [i["value"] for i in cff["identifiers"] if i["type"] == "swh"]
    assert f"swh:1:rel:{git(released, 'rev-parse', 'us/v1.0.0')}" in values
    assert f"swh:1:dir:{git(released, 'rev-parse', 'us/v1.0.0^{tree}')}" in values
    assert cff["repository"] == "https://example.org/lab/registry"
    # The message is a command a reader can run as printed: the artifact and the registry's URL.
    names = ", ".join(sorted(json.loads((released / "releases/us/1.0.0.json").read_text())["signed"]["pins"]))
    assert cff["message"].endswith("Fetch the same bytes with: pedata get pedata://us/<name>@v1.0.0 "
                                   f"--registry https://example.org/lab/registry (<name>: {names})"), cff["message"]
    assert cff["abstract"].startswith("Release us@1.0.0 (release digest sha256:") and "status certified). Release us 1.0.0. Artifacts: " in cff["abstract"]
    bib = run_pedata("cite", "us@1.0.0", "--format", "bibtex", cwd=released)
    assert bib.ok and bib.stdout.startswith("@misc{us_1_0_0,") and "version = {1.0.0}" in bib.stdout
    (released / "CITATION.cff").unlink()


def test_tro_covers_release_artifacts_manifests_and_locks(released):
    import hashlib

    res = run_pedata("cite", "us@1.0.0", "--format", "tro", cwd=released)
    assert res.ok, res.stderr
    tro = json.loads(res.stdout)["@graph"][0]
    arts = {a["@id"].rsplit("/artifact/", 1)[1]: a for a in tro["trov:hasComposition"]["trov:hasArtifact"]}
    where = {loc["trov:artifact"]["@id"].rsplit("/artifact/", 1)[1]: loc["trov:path"]
             for loc in tro["trov:hasArrangement"][0]["trov:hasArtifactLocation"]}
    assert set(where) == set(arts)
    rel = json.loads((released / "releases/us/1.0.0.json").read_text())["signed"]
    # Every pinned artifact by its sha256 and pedata URI.
    for name, pin in rel["pins"].items():
        a = arts[f"data/{name}"]
        assert a["trov:hash"] == {"trov:hashAlgorithm": "sha256", "trov:hashValue": pin["sha256"]}
        assert where[f"data/{name}"] == f"pedata://us/{name}@sha256:{pin['sha256']}"
    # The release document, each manifest and every lock file: the sha256 of the bytes at the tag.
    files = {"release": "releases/us/1.0.0.json",
             **{f"manifest/{n}": f"manifests/us/{n}/{p['sha256']}.json" for n, p in rel["pins"].items()}}
    locks = {k: v for k, v in where.items() if k.startswith("lock/")}
    assert sorted(locks.values()) == ["dvc.lock", "dvc.yaml", "locks/deps.lock.yaml", "locks/inputs.manifest.json"]
    for key, path in {**files, **locks}.items():
        at_tag = run(["git", "show", f"us/v1.0.0:{path}"], cwd=released).stdout.encode()
        assert where[key] == path and arts[key]["trov:hash"]["trov:hashValue"] == hashlib.sha256(at_tag).hexdigest(), key
    hashes = [a["trov:hash"]["trov:hashValue"] for a in arts.values()]
    fp = tro["trov:hasComposition"]["trov:hasFingerprint"]["trov:hash"]["trov:hashValue"]
    assert fp == hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()
    # The pipeline as the system, the certification as the performance.
    commit = run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=released).stdout.strip()
    assert f"DVC pipeline (dvc.yaml / dvc.lock) at commit {commit}" in tro["trov:wasAssembledBy"]["rdfs:comment"]
    perf = tro["trov:hasPerformance"][0]
    assert perf["rdfs:comment"].startswith("Certification of channel next version 1 as release 1.0.0 (certified, compat ")
    assert perf["trov:accessedArrangement"] == {"@id": "arrangement/1"} and perf["trov:wasConductedBy"] == {"@id": "trs"}
    signed_by = json.loads((released / "releases/us/1.0.0.json").read_text())["signatures"][0]["keyid"]
    assert f"signed by certifier keys {signed_by[:12]}" in perf["rdfs:comment"], perf


def test_policyengine_export_and_tro_validate_against_policyengine_schema(released, tmp_path):
    out = tmp_path / "bundle" / "manifest.json"
    out.parent.mkdir()
    res = run_pedata("cite", "us@1.0.0", "--format", "policyengine", "-o", out, "--base-url", "https://data.example.org/dvc",
                     "--policyengine-version", "6.11.1", cwd=released)
    assert res.ok, res.stderr
    block = json.loads(out.read_text())["data_releases"]["us"]
    rel = json.loads((released / "releases/us/1.0.0.json").read_text())["signed"]
    art = block["certified_data_artifact"]
    assert art["dataset"] == "micro" and art["sha256"] == rel["pins"]["micro"]["sha256"]
    assert art["uri"] == f"pedata://us/micro@sha256:{rel['pins']['micro']['sha256']}"
    assert block["certification"]["certified_for_model_version"] == "2.2.1"
    assert {n: d["sha256"] for n, d in block["datasets"].items()} == {n: p["sha256"] for n, p in rel["pins"].items()}
    tro = json.loads((tmp_path / "bundle" / "us.trace.tro.jsonld").read_text())
    schema_validator(DATA / "policyengine/trace_tro.schema.json").validate(tro)
    locs = [loc["trov:hasLocation"] for loc in tro["@graph"][0]["trov:hasArrangement"][0]["trov:hasArtifactLocation"]]
    assert "manifest.json" in locs and any(x.startswith("https://data.example.org/dvc/files/md5/") for x in locs)


def test_import_policyengine_bundle_yields_its_exact_sha256s(git_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    assert run_pedata("init", "-n", "us", "-n", "uk", cwd=git_repo).ok
    keys.generate("alice")
    trust.init_root(Registry(git_repo), ["alice"], {"promoter": ["alice"], "certifier": ["alice"], "revoker": ["alice"]})
    run(["git", "add", "-A"], cwd=git_repo)
    run(["git", "commit", "-qm", "init"], cwd=git_repo)
    bundle = json.loads((DATA / "policyengine/manifest.json").read_text())
    res = run_pedata("import-bundle", DATA / "policyengine/manifest.json", "--namespace", "us", "--sign", "alice", "--json", cwd=git_repo)
    assert res.ok, res.stderr
    expected = {n: d["sha256"] for n, d in bundle["data_releases"]["us"]["datasets"].items()}
    assert json.loads(res.stdout)["pins"] == expected
    ch = json.loads((git_repo / "channels/us/bundle.json").read_text())["signed"]
    assert {n: p["sha256"] for n, p in ch["artifacts"].items()} == expected
    pin = ch["artifacts"]["populace_us_2024"]
    assert pin["size"] is None
    assert pin["location"] == {"type": "hf", "uri": "hf://datasets/policyengine/populace-us/populace_us_2024.h5@populace-us-2024-spm-20260915",
                               "repo_id": "policyengine/populace-us", "repo_type": "dataset",
                               "revision": "populace-us-2024-spm-20260915", "path": "populace_us_2024.h5"}
    assert run_pedata("verify", cwd=git_repo).ok
    # the imported channel certifies like any other
    res = run_pedata("certify", "us", "2.2.1", "--from", "bundle", "--sign", "alice", cwd=git_repo)
    assert res.ok, res.stderr
    assert run_pedata("verify", cwd=git_repo).ok
    # uk by --country; an unknown country is a one-line error
    res = run_pedata("import-bundle", DATA / "policyengine/manifest.json", "--namespace", "uk", "--json", cwd=git_repo)
    uk = {**bundle["data_releases"]["uk"]["datasets"], **bundle["dataset_overlays"]["uk"]}  # overlays are pins too
    assert res.ok and json.loads(res.stdout)["pins"] == {n: d["sha256"] for n, d in uk.items()}
    assert_one_line_error(run_pedata("import-bundle", DATA / "policyengine/manifest.json", "--namespace", "us", "--country", "fr", cwd=git_repo), "no data release for 'fr'")


def test_datapackage_validates(released, tmp_path):
    res = run_pedata("export", "us@1.0.0", "--format", "datapackage", "-o", tmp_path / "dp", cwd=released)
    assert res.ok, res.stderr
    dp = json.loads((tmp_path / "dp" / "datapackage.json").read_text())
    schema_validator(DATA / "schemas/datapackage.schema.json").validate(dp)
    rel = json.loads((released / "releases/us/1.0.0.json").read_text())["signed"]
    by = {r["name"]: r for r in dp["resources"]}
    for name, pin in rel["pins"].items():
        assert by[name]["hash"] == f"sha256:{pin['sha256']}" and by[name]["bytes"] == pin["size"]
    assert [f["name"] for f in by["persons"]["schema"]["fields"]] == ["person_id", "household_id", "age", "person_weight"]
    assert by["persons"]["schema"]["fields"][0]["type"] == "integer"


def test_croissant_validates_with_mlcroissant(released, tmp_path):
    import mlcroissant as mlc  # a test dependency: its absence is a failure, not a skip
    res = run_pedata("export", "us@1.0.0", "--format", "croissant", "-o", tmp_path / "cr", cwd=released)
    assert res.ok, res.stderr
    path = tmp_path / "cr" / "croissant.json"
    doc = json.loads(path.read_text())
    rel = json.loads((released / "releases/us/1.0.0.json").read_text())["signed"]
    assert {d["@id"]: d["sha256"] for d in doc["distribution"]} == {f"file/{n}": p["sha256"] for n, p in rel["pins"].items()}
    ds = mlc.Dataset(jsonld=str(path))
    assert not ds.metadata.issues.errors, ds.metadata.issues.errors
    persons = next(r for r in doc["recordSet"] if r["@id"] == "persons")
    assert {f["name"]: f["dataType"] for f in persons["field"]}["person_id"] == "cr:Int64"
    # Entity keys and foreign keys survive: each key names a field of its own record set, each
    # reference a field that exists in the document.
    field_ids = {f["@id"] for r in doc["recordSet"] for f in r["field"]}
    keyed = [r for r in doc["recordSet"] if "key" in r]
    assert keyed and all(r["key"]["@id"] in {f["@id"] for f in r["field"]} for r in keyed)
    assert persons["key"]["@id"].endswith("/person_id")
    refs = [f["references"]["field"]["@id"] for r in doc["recordSet"] for f in r["field"] if "references" in f]
    assert refs and set(refs) <= field_ids, refs


def test_exports_carry_every_column_of_a_wide_table(tmp_path, monkeypatch):
    """The example's parquet (22 columns) and HDF5 (31 variables) are wider than their manifests
    list inline; Data Package and Croissant still describe every column (from the field lists)."""
    import h5py
    import pyarrow.parquet as pq
    from support.example import certify, make_example

    monkeypatch.setenv("PEDATA_KEYS_DIR", str(tmp_path / "keys"))
    repo = make_example(tmp_path, households=50)
    certify(repo)
    columns = [(f.name, str(f.type)) for f in pq.read_schema(repo / "data/persons.parquet")]
    with h5py.File(repo / "data/us_microdata.h5") as fh:
        variables = set(fh)
    for name in ("enhanced_cps_2024", "us_microdata_2024"):
        manifest = json.loads(next((repo / "manifests/us" / name).glob("*[0-9a-f].json")).read_text())
        assert manifest["schema"]["fields_truncated"] and manifest["schema"]["fields_sidecar"]

    res = run_pedata("export", "us@1.0.0", "--format", "datapackage", "-o", tmp_path / "dp", cwd=repo)
    assert res.ok, res.stderr
    dp = json.loads((tmp_path / "dp" / "datapackage.json").read_text())
    schema_validator(DATA / "schemas/datapackage.schema.json").validate(dp)
    persons = next(r for r in dp["resources"] if r["name"] == "enhanced_cps_2024")
    assert [(f["name"], f["pedata:arrowType"]) for f in persons["schema"]["fields"]] == columns
    assert persons["schema"]["primaryKey"] == ["person_id"]

    res = run_pedata("export", "us@1.0.0", "--format", "croissant", "-o", tmp_path / "cr", cwd=repo)
    assert res.ok, res.stderr
    doc = json.loads((tmp_path / "cr" / "croissant.json").read_text())
    sets = {r["@id"]: r for r in doc["recordSet"]}
    assert [f["name"] for f in sets["enhanced_cps_2024"]["field"]] == [n for n, _ in columns]
    micro = {f["name"] for rid, r in sets.items() if rid.startswith("us_microdata_2024") for f in r["field"]}
    assert micro == variables
    field_ids = {f["@id"] for r in doc["recordSet"] for f in r["field"]}
    refs = [f["references"]["field"]["@id"] for r in doc["recordSet"] for f in r["field"] if "references" in f]
    assert refs and set(refs) <= field_ids


def test_swhids_leave_out_a_local_origin(released, tmp_path):
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(released), str(clone)], cwd=tmp_path)  # origin = a local path
    run(["git", "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*"], cwd=clone)
    res = run_pedata("cite", "us@1.0.0", "--format", "swhid", cwd=clone)
    assert res.ok, res.stderr
    assert res.stdout.startswith("swh:1:rel:") and "origin=" not in res.stdout, res.stdout
    bib = run_pedata("cite", "us@1.0.0", "--format", "bibtex", cwd=clone)
    assert bib.ok and str(released) not in bib.stdout, bib.stdout


def test_cite_errors_are_one_line(released):
    assert_one_line_error(run_pedata("cite", "us@9.9.9", "--format", "cff", cwd=released), "no release us@9.9.9")
    assert_one_line_error(run_pedata("cite", "us", "--format", "cff", cwd=released), "expected NS@VERSION")
    assert_one_line_error(run_pedata("show", "us@1.0", cwd=released), "invalid version")
