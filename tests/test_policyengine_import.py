"""``pedata import-bundle`` of the real policyengine 6.11.1 bundle manifest, read from the installed
``policyengine`` package (a test extra), for US and UK: a pin for every ``datasets`` and every
``dataset_overlays`` entry with its sha256, JSON and HDF5 named as such, sizes kept when an entry
states them, and ``pedata verify`` passing whether the channel is signed (``--sign``) or the pins
join the unsigned ``latest`` (no keys)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, run, run_pedata, sha256
from support.external import Route
from test_external_bundle import DATA_REV
from test_external_bundle import hf as hf  # noqa: F401 - fixture: a fake Hugging Face over TLS
from test_external_bundle import repo as repo  # noqa: F401 - fixture: a registry with promoter alice

from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys
from dvc_pedata.trust import root as trust

BUNDLE = Path(str(files("policyengine").joinpath("data", "bundle", "manifest.json")))


@pytest.fixture
def registry(git_repo, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    assert run_pedata("init", "-n", "us", "-n", "uk", cwd=git_repo).ok
    keys.generate("alice")
    trust.init_root(Registry(git_repo), ["alice"], {"promoter": ["alice"], "certifier": ["alice"], "revoker": ["alice"]})
    run(["git", "add", "-A"], cwd=git_repo)
    run(["git", "commit", "-qm", "init"], cwd=git_repo)
    return git_repo


def expected(country: str) -> tuple[dict[str, str], dict[str, str]]:
    bundle = json.loads(BUNDLE.read_text())
    return ({n: d["sha256"] for n, d in bundle["data_releases"][country]["datasets"].items()},
            {n: d["sha256"] for n, d in bundle["dataset_overlays"].get(country, {}).items()})


def status(folder: Path) -> str:
    return run(["git", "status", "--porcelain"], cwd=folder).stdout


@pytest.mark.parametrize("country", ["us", "uk"])
def test_real_bundle_imports_every_dataset_and_overlay_and_verifies(registry, country):
    datasets, overlays = expected(country)
    assert datasets and (country == "us" or overlays)  # the real uk bundle carries 7 overlays
    res = run_pedata("import-bundle", BUNDLE, "--namespace", country, "--sign", "alice", "--json", cwd=registry)
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["pins"] == {**datasets, **overlays} and out["overlays"] == sorted(overlays)
    assert out["channel"] == "bundle" and out["signed"] is True
    ch = json.loads((registry / f"channels/{country}/bundle.json").read_text())["signed"]
    assert {n: p["sha256"] for n, p in ch["artifacts"].items()} == {**datasets, **overlays}
    for name, pin in ch["artifacts"].items():
        m = json.loads((registry / f"manifests/{country}/{name}/{pin['sha256']}.json").read_text())
        suffix = Path(m["path"]).suffix
        assert (m["format"], m["media_type"]) == {".h5": ("hdf5", "application/x-hdf5"), ".csv": ("csv", "text/csv"),
                                                  ".json": ("json", "application/json")}.get(
                                                      suffix, ("binary", "application/octet-stream")), (name, m["path"])
        assert (m["producer"].get("bundle_section") == "dataset_overlays") == (name in overlays)
    assert run_pedata("verify", cwd=registry).ok
    assert status(registry) == ""


@pytest.mark.parametrize("country", ["us", "uk"])
def test_without_keys_the_pins_join_latest_and_verify_passes(registry, country):
    datasets, overlays = expected(country)
    res = run_pedata("import-bundle", BUNDLE, "--namespace", country, cwd=registry)
    assert res.ok, res.stderr
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"imported {len(datasets) + len(overlays)} external artifacts ({len(overlays)} from"
                               f" dataset_overlays) into channel {country}/latest (version 1), commit ")
    assert lines[-1] == (f"next: promote them to a signed channel (pedata promote {country} --to bundle --sign KEY)"
                         f" or certify a release from latest (pedata certify {country} VERSION --from latest --sign KEY)")
    ch = json.loads((registry / f"channels/{country}/latest.json").read_text())
    assert ch["signatures"] == [] and {n: p["sha256"] for n, p in ch["signed"]["artifacts"].items()} == {**datasets, **overlays}
    res = run_pedata("verify", cwd=registry)
    assert res.ok, res.stdout + res.stderr
    # the next step works as printed
    res = run_pedata("promote", country, "--to", "bundle", "--sign", "alice", "--no-commit", cwd=registry)
    assert res.ok, res.stderr
    run(["git", "commit", "-qm", "promote"], cwd=registry)
    assert run_pedata("verify", cwd=registry).ok


def test_sizes_stated_by_an_entry_are_recorded(registry, tmp_path):
    bundle = json.loads(BUNDLE.read_text())
    us = bundle["data_releases"]["us"]["datasets"]
    us["populace_us_2024"]["size_bytes"] = 123456789
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(bundle))
    res = run_pedata("import-bundle", path, "--namespace", "us", "--sign", "alice", cwd=registry)
    assert res.ok, res.stderr
    ch = json.loads((registry / "channels/us/bundle.json").read_text())["signed"]["artifacts"]
    assert ch["populace_us_2024"]["size"] == 123456789 and ch["build_manifest"]["size"] is None
    assert run_pedata("verify", cwd=registry).ok
    us["populace_us_2024"]["size_bytes"] = "big"
    path.write_text(json.dumps(bundle))
    before = status(registry)
    assert_one_line_error(run_pedata("import-bundle", path, "--namespace", "us", "--sign", "alice", cwd=registry),
                          "dataset 'populace_us_2024'", "size_bytes must be a whole number of bytes")
    assert status(registry) == before


def test_an_overlay_that_shadows_a_certified_dataset_is_refused(registry, tmp_path):
    bundle = json.loads(BUNDLE.read_text())
    bundle["dataset_overlays"]["uk"]["microcosm_uk_2024_25"] = bundle["dataset_overlays"]["uk"]["frs_2024_25"]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(bundle))
    assert_one_line_error(run_pedata("import-bundle", path, "--namespace", "uk", cwd=registry),
                          "dataset_overlays.uk shadows certified datasets: microcosm_uk_2024_25")
    assert status(registry) == "" and not (registry / "channels/uk/latest.json").exists()


def test_adopt_lets_the_bytes_name_the_format(hf, repo, tmp_path):  # noqa: F811 - the imported fixtures
    """Entries whose names say nothing: adopt reads the verified bytes and describes HDF5 and JSON as such."""
    h5_route = f"/datasets/policyengine/populace-us/resolve/{DATA_REV}/weights/populace"
    json_route = f"/datasets/policyengine/populace-us/resolve/{DATA_REV}/diagnostics.bin"
    diagnostics = json.dumps({"loss": 0.25, "targets": [1, 2, 3]}).encode()
    hf.hub.routes[h5_route] = Route(hf.h5)
    hf.hub.routes[json_route] = Route(diagnostics)
    bundle = json.loads(BUNDLE.read_text())
    bundle["data_releases"]["us"]["datasets"] = {
        "populace": {"path": "weights/populace", "repo_id": "policyengine/populace-us", "revision": DATA_REV,
                     "sha256": sha256(hf.h5)},
        "diagnostics": {"path": "diagnostics.bin", "repo_id": "policyengine/populace-us", "revision": DATA_REV,
                        "sha256": sha256(diagnostics)}}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(bundle))
    env = hf.env()
    res = run_pedata("import-bundle", path, "--namespace", "us", "--sign", "alice", cwd=repo, env=env)
    assert res.ok, res.stderr
    formats = {}
    for name in ("populace", "diagnostics"):
        res = run_pedata("adopt", f"pedata://us/{name}@bundle", "--json", cwd=repo, env=env)
        assert res.ok, res.stderr
        record = json.loads((repo / json.loads(res.stdout)["record"]).read_text())
        formats[name] = (record["manifest"]["format"], record["manifest"]["media_type"])
        if name == "populace":
            assert record["manifest"]["schema"]["entities"]["household"]["rows"] == 40
    assert formats == {"populace": ("hdf5", "application/x-hdf5"), "diagnostics": ("json", "application/json")}
    assert run_pedata("verify", cwd=repo, env=env).ok
