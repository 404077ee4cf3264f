"""``pedata cite --format policyengine`` judged by PolicyEngine's own code (the ``policyengine==6.11.1``
package, a test extra): ``CountryReleaseManifest.model_validate`` on every ``data_releases`` block,
``policyengine.bundle.load_bundle_manifest`` on the whole file, its shipped ``trace_tro.schema.json``
on the TRO and its ``verify_trace_tro_path`` on the relative manifest location; a release certified
with and without ``--certified-for``. The signed TRO is checked from the verifier's side: the DSSE
envelope is decoded by hand and its signature checked with the certifier's public key file."""

from __future__ import annotations

import base64
import json
import os
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from policyengine.bundle import load_bundle_manifest
from policyengine.provenance.manifest import CountryReleaseManifest
from policyengine.provenance.verify import verify_trace_tro_path
from support.commands import assert_one_line_error, run, run_pedata
from support.publish import DVC_YAML, STAGE_SCRIPT, build

from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys
from dvc_pedata.trust import root as trust

PE_SCHEMA = Path(str(files("policyengine").joinpath("data", "schemas", "trace_tro.schema.json")))


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """publish -> promote -> certify 1.0.0 with --certified-for and 1.1.0 without."""
    repo = tmp_path_factory.mktemp("pe") / "repo"
    repo.mkdir()
    home = repo.parent  # keys, remote, caches: never the user's (the autouse home fixture is per test)
    env = {"PEDATA_KEYS_DIR": str(keys_of(repo)), "PEDATA_STORAGE_DIR": str(home / "storage"),
           "PEDATA_CACHE_DIR": str(home / "cache"), "XDG_CACHE_HOME": str(home / "xdg-cache"),
           "XDG_CONFIG_HOME": str(home / "config")}
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
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-qm", "pipeline and trust"], cwd=repo)
        for args in (("publish",), ("promote", "us", "--sign", "alice"),
                     ("certify", "us", "1.0.0", "--sign", "bob", "--certified-for", "policyengine-us==2.2.1"),
                     ("certify", "us", "1.1.0", "--sign", "bob")):
            res = run_pedata(*args, cwd=repo)
            assert res.ok, (args, res.stderr)
            run(["git", "add", "-A"], cwd=repo)
            run(["git", "commit", "-qm", " ".join(args), "--allow-empty"], cwd=repo)
        yield repo
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def keys_of(repo: Path) -> Path:
    return repo.parent / "keys"


def cite(repo: Path, out: Path, version: str, *extra: str):
    out.parent.mkdir(parents=True, exist_ok=True)
    return run_pedata("cite", f"us@{version}", "--format", "policyengine", "-o", out, *extra, cwd=repo,
                      env={"PEDATA_KEYS_DIR": str(keys_of(repo))})


def check_with_policyengine(out: Path) -> dict:
    """Every block through CountryReleaseManifest, the file through PolicyEngine's bundle loader."""
    doc = json.loads(out.read_bytes())
    for country, block in doc["data_releases"].items():
        m = CountryReleaseManifest.model_validate(block)
        assert m.country_id == country
    loaded = load_bundle_manifest(manifest_ref=str(out))
    assert loaded["bundle_version"] == doc["bundle_version"]
    return doc


@pytest.mark.parametrize("version,extra,model", [
    ("1.0.0", (), ("policyengine-us", "2.2.1")),  # from the release's certified_for
    ("1.1.0", ("--model-package", "policyengine-us==2.2.2"), ("policyengine-us", "2.2.2")),  # certified without it
])
def test_policyengine_accepts_the_export_and_its_tro(released, tmp_path, version, extra, model):
    out = tmp_path / version / "manifest.json"
    res = cite(released, out, version, "--policyengine-version", "6.11.1", "--base-url", "https://data.example.org/dvc", *extra)
    assert res.ok, res.stderr
    doc = check_with_policyengine(out)
    block = doc["data_releases"]["us"]
    m = CountryReleaseManifest.model_validate(block)
    assert (m.policyengine_version, m.model_package.name, m.model_package.version) == ("6.11.1", *model)
    assert m.certification.certified_for_model_version == model[1]
    rel = json.loads((released / f"releases/us/{version}.json").read_text())["signed"]
    assert {n: d.sha256 for n, d in m.datasets.items()} == {n: p["sha256"] for n, p in rel["pins"].items()}
    assert m.data_package.repo_type == "dataset" and {d.repo_type for d in m.datasets.values()} == {"dataset"}
    # pedata's coordinates sit where PolicyEngine's format has room: keys its models ignore, a mirror entry
    micro = block["datasets"]["micro"]
    assert micro["pedata_uri"] == f"pedata://us/micro@sha256:{rel['pins']['micro']['sha256']}"
    assert micro["preservation_mirrors"][0]["kind"] == "pedata"
    assert micro["preservation_mirrors"][0]["url"].startswith("https://data.example.org/dvc/files/md5/")
    assert doc["pedata"]["release"] == f"us@{version}" and doc["pedata"]["tag"] == f"us/v{version}"
    # the TRO: PolicyEngine's schema, and its verifier re-hashes the manifest from the relative location
    tro_path = out.parent / "us.trace.tro.jsonld"
    tro = json.loads(tro_path.read_text())
    jsonschema.Draft202012Validator(json.loads(PE_SCHEMA.read_text())).validate(tro)
    report = verify_trace_tro_path(tro_path, fetch=lambda url: pytest.fail(f"no network expected: {url}"),
                                   skip=[a["@id"].split("/artifact/")[1] for a in
                                         tro["@graph"][0]["trov:hasComposition"]["trov:hasArtifact"]
                                         if not a["@id"].endswith("/bundle_manifest")])
    assert report.fingerprint_status == "ok"
    checked = {c.artifact_id: (c.status, c.location) for c in report.artifacts if c.status != "skipped"}
    assert checked == {"bundle_manifest": ("ok", "manifest.json")}
    assert report.ok


def test_missing_policyengine_fields_are_named(released, tmp_path):
    res = cite(released, tmp_path / "a" / "manifest.json", "1.1.0")
    assert_one_line_error(res, "--policyengine-version VERSION", "--model-package PACKAGE==VERSION",
                          "us@1.1.0 was certified without --certified-for")
    res = cite(released, tmp_path / "b" / "manifest.json", "1.0.0")
    assert_one_line_error(res, "requires policyengine_version and model_package", "--policyengine-version")
    assert "--model-package" not in res.stderr  # the release's certified_for provides it
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    res = cite(released, tmp_path / "c" / "us-bundle.json", "1.0.0", "--policyengine-version", "6.11.1")
    assert_one_line_error(res, "-o", "us-bundle.json", "[a-z_]+.json")
    res = cite(released, tmp_path / "d" / "manifest.json", "1.1.0", "--policyengine-version", "6.11.1",
               "--model-package", "policyengine-us")
    assert_one_line_error(res, "--model-package 'policyengine-us'", "PACKAGE==VERSION")
    assert not (tmp_path / "d" / "manifest.json").exists()
    # a model package other than the one the release was certified for would be a false certification
    res = cite(released, tmp_path / "e" / "manifest.json", "1.0.0", "--policyengine-version", "6.11.1",
               "--model-package", "policyengine-us==2.3.0")
    assert_one_line_error(res, "us@1.0.0 is certified for policyengine-us==2.2.1",
                          "--model-package policyengine-us==2.3.0 disagrees")
    assert not (tmp_path / "e" / "manifest.json").exists()


def test_signed_tro_is_a_dsse_envelope_by_the_certifier(released, tmp_path):
    out = tmp_path / "s" / "manifest.json"
    res = cite(released, out, "1.0.0", "--policyengine-version", "6.11.1", "--sign", "bob")
    assert res.ok, res.stderr
    tro_bytes = (out.parent / "us.trace.tro.jsonld").read_bytes()
    env = json.loads((out.parent / "us.trace.tro.dsse.json").read_text())
    assert env["payloadType"] == "application/vnd.pedata.tro+json"
    assert base64.b64decode(env["payload"]) == tro_bytes
    [sig] = env["signatures"]
    pub = load_pem_public_key((keys_of(released) / "bob.pub").read_bytes())
    ptype = env["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(tro_bytes), tro_bytes)
    pub.verify(base64.b64decode(sig["sig"]), pae)  # raises InvalidSignature on a bad signature
    root = json.loads((released / "trust/root/1.json").read_text())["signed"]
    assert sig["keyid"] in root["roles"]["certifier"]["keyids"]
    # a promoter key is not a certifier: refused, and nothing is written
    out2 = tmp_path / "p" / "manifest.json"
    assert_one_line_error(cite(released, out2, "1.0.0", "--policyengine-version", "6.11.1", "--sign", "alice"),
                          "not a certifier key")
    assert not out2.exists()


@pytest.mark.parametrize("country,default", [("us", "populace_us_2024"), ("uk", "microcosm_uk_2024_25")])
def test_a_bundle_imported_certified_and_cited_keeps_policyengine_coordinates(git_repo, tmp_path, monkeypatch, country, default):
    """PolicyEngine -> pedata -> PolicyEngine: its own resolver finds every dataset (and overlay) where it was."""
    from policyengine.provenance.dataset_materialization import _resolve_bundle_dataset
    from policyengine.provenance.manifest import _apply_dataset_overlays

    bundle_file = Path(str(files("policyengine").joinpath("data", "bundle", "manifest.json")))
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    assert run_pedata("init", "-n", country, cwd=git_repo).ok
    keys.generate("alice")
    trust.init_root(Registry(git_repo), ["alice"], {"promoter": ["alice"], "certifier": ["alice"], "revoker": ["alice"]})
    run(["git", "add", "-A"], cwd=git_repo)
    run(["git", "commit", "-qm", "init"], cwd=git_repo)
    for args in (("import-bundle", bundle_file, "--namespace", country, "--sign", "alice"),
                 ("certify", country, "1.0.0", "--from", "bundle", "--sign", "alice", "--certified-for", "policyengine-x==1.0")):
        res = run_pedata(*args, cwd=git_repo)
        assert res.ok, (args, res.stderr)
    out = tmp_path / "out" / "manifest.json"
    out.parent.mkdir()
    res = run_pedata("cite", f"{country}@1.0.0", "--format", "policyengine", "--policyengine-version", "6.11.1",
                     "--dataset", default, "-o", out, cwd=git_repo)
    assert res.ok, res.stderr
    check_with_policyengine(out)
    ours = CountryReleaseManifest.model_validate(json.loads(out.read_text())["data_releases"][country])
    original_bundle = json.loads(bundle_file.read_text())
    theirs = CountryReleaseManifest.model_validate(
        _apply_dataset_overlays(country, original_bundle["data_releases"][country], original_bundle))
    assert sorted(ours.datasets) == sorted(theirs.datasets)
    data = tmp_path / "data"
    for name in theirs.datasets:
        a = _resolve_bundle_dataset(country, name, data_dir=data, manifest=ours)
        b = _resolve_bundle_dataset(country, name, data_dir=data, manifest=theirs)
        assert (a.source_uri, a.repo_type, a.path, a.revision, a.sha256, a.destination) == \
               (b.source_uri, b.repo_type, b.path, b.revision, b.sha256, b.destination), name
