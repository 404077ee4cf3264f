"""``pedata policyengine seed`` end to end: a release published through the real DVC pipeline and
pushed to its remote is exported as a PolicyEngine bundle (``pedata cite --format policyengine``);
seeding a data folder from an empty cache fetches the bytes from the DVC remote, sha256-verified,
and PolicyEngine's own reuse path (``policyengine.provenance.dataset_materialization``, the
function ``materialize_dataset`` calls for a bundle dataset) then takes ``D/<path>`` as it is, with
every proxy pointing at a closed port so any download would fail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
from policyengine.provenance import dataset_materialization as pe_dm
from policyengine.provenance.manifest import CountryReleaseManifest
from support.commands import assert_one_line_error, run, run_pedata
from support.publish import DVC_YAML, STAGE_SCRIPT, build

from dvc_pedata.base.hashing import hash_file
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys
from dvc_pedata.trust import root as trust

NO_NETWORK = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "http_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    """publish (real DVC pipeline, pushed to a local remote) -> promote -> certify us@1.0.0, once per module."""
    repo = tmp_path_factory.mktemp("seed") / "repo"
    repo.mkdir()
    home = repo.parent  # keys, remote, caches: never the user's (the autouse home fixture is per test)
    env = {"PEDATA_KEYS_DIR": str(home / "keys"), "PEDATA_STORAGE_DIR": str(home / "storage"),
           "PEDATA_CACHE_DIR": str(home / "cache"), "XDG_CACHE_HOME": str(home / "xdg-cache"),
           "XDG_CONFIG_HOME": str(home / "config")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        run(["git", "init", "-q", "-b", "main"], cwd=repo)
        # consumers fetch through clones: a shared remote (init's default is machine-local)
        assert run_pedata("init", "-n", "us", "--remote", str(home / "storage" / "origin"), cwd=repo).ok
        (repo / "build.py").write_text(STAGE_SCRIPT)
        (repo / "dvc.yaml").write_text(DVC_YAML)
        build(repo)
        for name in ("alice", "bob"):
            keys.generate(name)
        trust.init_root(Registry(repo), ["alice"], {"promoter": ["alice"], "certifier": ["bob"], "revoker": ["alice"]})
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-qm", "pipeline and trust"], cwd=repo)
        for args in (("publish",), ("promote", "us", "--sign", "alice"),
                     ("certify", "us", "1.0.0", "--sign", "bob", "--certified-for", "policyengine-us==2.2.1")):
            res = run_pedata(*args, cwd=repo)
            assert res.ok, (args, res.stderr)
            run(["git", "add", "-A"], cwd=repo)
            run(["git", "commit", "-qm", " ".join(args), "--allow-empty"], cwd=repo)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return repo


def pe_bundle(repo: Path, tmp_path: Path) -> tuple[Path, dict]:
    """The release as a PolicyEngine bundle, plus a dataset pedata does not hold and a metadata file."""
    out = tmp_path / "bundle" / "manifest.json"
    out.parent.mkdir()
    res = run_pedata("cite", "us@1.0.0", "--format", "policyengine", "--policyengine-version", "6.11.1", "-o", out, cwd=repo)
    assert res.ok, res.stderr
    bundle = json.loads(out.read_text())
    ds = bundle["data_releases"]["us"]["datasets"]
    ds["foreign"] = {"path": "foreign_2024.h5", "repo_id": "policyengine/other", "revision": "v1", "sha256": "ab" * 32}
    ds["micro"]["metadata_sha256"] = ds["households"]["sha256"]  # any held bytes will do as a metadata file
    out.write_text(json.dumps(bundle, indent=2))
    return out, bundle


def test_seeded_files_are_reused_by_policyengine_without_network(released, tmp_path, monkeypatch):
    bundle_path, bundle = pe_bundle(released, tmp_path)
    ds = bundle["data_releases"]["us"]["datasets"]
    data = tmp_path / "pe-data"
    env = {"PEDATA_CACHE_DIR": str(tmp_path / "empty-cache")}  # the bytes must come from the DVC remote
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--data-dir", data, "--json", cwd=released, env=env)
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["counts"] == {"placed": 4, "present": 0, "not-held": 1, "conflict": 0, "failed": 0}
    by_path = {i["path"]: i for i in out["items"]}
    assert by_path["foreign_2024.h5"]["outcome"] == "not-held"
    for name in ("micro", "persons", "households"):
        item = by_path[ds[name]["path"]]
        assert item["outcome"] == "placed" and item["source"] != "cache", item
        assert hash_file(data / ds[name]["path"]).sha256 == ds[name]["sha256"]
    assert (data / "micro.h5.metadata.json").read_bytes() == (data / ds["households"]["path"]).read_bytes()

    # PolicyEngine's reuse path, with every HTTP(S) request sent to a closed port
    for k, v in NO_NETWORK.items():
        monkeypatch.setenv(k, v)
    manifest = CountryReleaseManifest.model_validate(bundle["data_releases"]["us"])
    before = {p: os.stat(p).st_mtime_ns for p in data.rglob("*")}
    for name in ("micro", "persons", "households"):
        source = pe_dm._use_bundle_dataset("us", name, data_dir=data, manifest=manifest)
        assert Path(source.path) == data / ds[name]["path"] and source.bundle_dataset.sha256 == ds[name]["sha256"]
    assert {p: os.stat(p).st_mtime_ns for p in data.rglob("*")} == before
    # the guard holds: the one dataset not seeded makes PolicyEngine try to download, which fails
    with pytest.raises(requests.exceptions.ConnectionError):
        pe_dm._use_bundle_dataset("us", "foreign", data_dir=data, manifest=manifest)

    # a second run touches nothing; text output names every file
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--data-dir", data, cwd=released, env=env)
    assert res.ok, res.stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == f"5 files from {bundle_path} into {data}: 0 placed, 4 present, 1 not held, 0 conflict, 0 failed"
    assert f"not held us foreign: {data / 'foreign_2024.h5'} (no artifact with sha256 abababababab… in the registry)" in lines


def test_other_bytes_at_the_path_are_left_alone_unless_forced(released, tmp_path):
    bundle_path, bundle = pe_bundle(released, tmp_path)
    micro = bundle["data_releases"]["us"]["datasets"]["micro"]
    data = tmp_path / "pe-data"
    (data / micro["path"]).parent.mkdir(parents=True, exist_ok=True)
    (data / micro["path"]).write_bytes(b"someone else's file")
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--data-dir", data, "--country", "us", cwd=released)
    assert res.returncode == 1
    assert f"conflict us micro: {data / micro['path']}: {data / micro['path']} holds other bytes; left alone (pass --force to replace it)" in res.stdout
    assert (data / micro["path"]).read_bytes() == b"someone else's file"
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--data-dir", data, "--force", cwd=released)
    assert res.ok, res.stderr
    assert hash_file(data / micro["path"]).sha256 == micro["sha256"]


def test_installed_bundle_and_bad_input(released, tmp_path):
    # the real bundle of the installed policyengine 6.11.1: this registry holds none of its datasets
    res = run_pedata("policyengine", "seed", "--installed", "--data-dir", tmp_path / "d", "--json", cwd=released)
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["bundle"].endswith("policyengine/data/bundle/manifest.json")
    assert out["counts"]["not-held"] == len(out["items"]) > 20 and not (tmp_path / "d").exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data_releases": {"us": {"datasets": {"x": {"path": "../../etc/passwd", "sha256": "0" * 64}}}}}))
    assert_one_line_error(run_pedata("policyengine", "seed", "--bundle", bad, cwd=released),
                          str(bad), "us dataset 'x'", "'../../etc/passwd' must be relative")
    assert_one_line_error(run_pedata("policyengine", "seed", "--bundle", tmp_path / "nope.json", cwd=released), "no such file")
    assert_one_line_error(run_pedata("policyengine", "seed", "--bundle", bad, "--country", "fr", cwd=released),
                          "no data release for fr")


def test_seed_from_a_registry_given_by_git_url(released, tmp_path):
    """--registry names a bare git repository (read at a commit, as a URL is): the same files are placed."""
    bundle_path, bundle = pe_bundle(released, tmp_path)
    bare = tmp_path / "registry.git"
    run(["git", "clone", "-q", "--bare", str(released), str(bare)], cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = elsewhere / "data"
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--registry", bare, "--json", cwd=elsewhere,
                     env={"PEDATA_CACHE_DIR": str(tmp_path / "another-cache")})
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["data_dir"] == "data" and out["counts"]["placed"] == 4 and out["counts"]["not-held"] == 1
    for name in ("micro", "persons", "households"):
        entry = bundle["data_releases"]["us"]["datasets"][name]
        assert hash_file(data / entry["path"]).sha256 == entry["sha256"]


def test_revoked_bytes_are_never_placed(released, tmp_path):
    """Runs last in this module: it revokes micro in the shared registry."""
    bundle_path, bundle = pe_bundle(released, tmp_path)
    micro = bundle["data_releases"]["us"]["datasets"]["micro"]
    res = run_pedata("revoke", f"pedata://us/micro@sha256:{micro['sha256']}", "--reason", "disclosure risk",
                     "--authority", "the statistics office", "--sign", "alice", "bob", cwd=released,
                     env={"PEDATA_KEYS_DIR": str(released.parent / "keys")})
    assert res.ok, res.stderr
    data = tmp_path / "pe-data"
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--data-dir", data, "--json", cwd=released)
    assert res.returncode == 1
    out = json.loads(res.stdout)
    item = next(i for i in out["items"] if i["path"] == micro["path"])
    assert item["outcome"] == "failed" and "revoked" in item["detail"] and "disclosure risk" in item["detail"], item
    assert not (data / micro["path"]).exists()
    assert out["counts"]["placed"] == 3  # the rest are placed (the metadata file is other bytes)
