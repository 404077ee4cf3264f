"""Issue 11 end to end through the real CLI: a PolicyEngine bundle manifest (the policyengine 6.11.1
format) whose pins live in a dataset and a model repository of a fake Hugging Face on 127.0.0.1
(TLS) is imported (``pedata import-bundle``), resolved over HTTPS, certified from the imported
channel, adopted into a local DVC remote (``pedata adopt``, which re-signs the signed ``bundle``
channel with ``--sign``), and a fresh ``git clone`` with an empty cache then resolves it by
release, channel and sha256 with no HTTP request at all. Bundles state no sizes: every pin here
has ``size: null``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, commit, run, run_pedata, sha256
from support.external import Route, policyengine_h5, start_fake_hf

from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys
from dvc_pedata.trust import root as trust

DATA = Path(__file__).parent / "data"
DATA_REV = "populace-us-2024-spm-20260915"
MODEL_REV = "fedcba9876543210fedcba9876543210fedcba98"
WEIGHTS = b"calibration weights from a model repository\n" * 400
H5_ROUTE = f"/datasets/policyengine/populace-us/resolve/{DATA_REV}/populace_us_2024.h5"
MODEL_ROUTE = f"/policyengine/pe-weights/resolve/{MODEL_REV}/weights/us_2024.bin"


@pytest.fixture
def hf(tmp_path, monkeypatch):
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token file from the real user
    fake = start_fake_hf(tmp_path)
    fake.h5 = policyengine_h5(tmp_path / "populace_us_2024.h5")
    fake.hub.routes[H5_ROUTE] = Route(fake.h5)
    fake.hub.routes[MODEL_ROUTE] = Route(WEIGHTS)
    yield fake
    fake.close()


def bundle_manifest(path: Path, h5: bytes) -> Path:
    """The vendored policyengine 6.11.1 bundle manifest, its ``us`` datasets pointing at the fake hub.

    As in the real file, the dataset entry has no ``repo_type`` (``data_package.repo_type`` says
    ``dataset``); the model entry states ``repo_type: model``. Neither states a size.
    """
    bundle = json.loads((DATA / "policyengine/manifest.json").read_text())
    us = bundle["data_releases"]["us"]
    us["datasets"] = {
        "populace_us_2024": {"path": "populace_us_2024.h5", "repo_id": "policyengine/populace-us",
                             "revision": DATA_REV, "sha256": sha256(h5)},
        "pe_weights": {"path": "weights/us_2024.bin", "repo_id": "policyengine/pe-weights", "repo_type": "model",
                       "revision": MODEL_REV, "sha256": sha256(WEIGHTS)},
    }
    us["certified_data_artifact"]["sha256"] = sha256(h5)
    us["certified_data_artifact"]["uri"] = f"hf://policyengine/populace-us/populace_us_2024.h5@{DATA_REV}"
    path.write_text(json.dumps(bundle, indent=2))
    return path


def status(repo: Path) -> str:
    return run(["git", "status", "--porcelain"], cwd=repo).stdout


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A registry with namespace us, promoter alice and certifier bob."""
    repo = tmp_path / "registry"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    # a fresh clone resolves from the remote: a shared (committed) one, not init's machine-local default
    assert run_pedata("init", "-n", "us", "--remote", str(tmp_path / "storage" / "registry"), cwd=repo).ok
    for name in ("alice", "bob"):
        keys.generate(name)
    trust.init_root(Registry(repo), ["alice"], {"promoter": ["alice"], "certifier": ["bob"], "revoker": ["alice"]})
    commit(repo, "registry with a trust root")
    return repo


def test_bundle_import_certify_adopt_and_a_fresh_clone_resolves_without_http(hf, repo, tmp_path):
    env = hf.env()
    pedata = lambda *args: run_pedata(*args, cwd=repo, env=env)  # noqa: E731

    # -- import: the real CLI, a signed channel us/bundle; no size anywhere ---------------------
    res = pedata("import-bundle", bundle_manifest(tmp_path / "manifest.json", hf.h5), "--namespace", "us", "--sign", "alice", "--json")
    assert res.ok, res.stderr
    assert json.loads(res.stdout)["pins"] == {"populace_us_2024": sha256(hf.h5), "pe_weights": sha256(WEIGHTS)}
    bundle_bytes = (repo / "channels/us/bundle.json").read_bytes()
    bundle_ch = json.loads(bundle_bytes)
    bundle_digest = Registry(repo).load_channel("us", "bundle").digest
    pins = bundle_ch["signed"]["artifacts"]
    assert {n: p["size"] for n, p in pins.items()} == {"populace_us_2024": None, "pe_weights": None}
    assert pins["populace_us_2024"]["location"] == {
        "type": "hf", "uri": f"hf://datasets/policyengine/populace-us/populace_us_2024.h5@{DATA_REV}",
        "repo_id": "policyengine/populace-us", "repo_type": "dataset", "revision": DATA_REV, "path": "populace_us_2024.h5"}
    assert pins["pe_weights"]["location"] == {
        "type": "hf", "uri": f"hf://policyengine/pe-weights/weights/us_2024.bin@{MODEL_REV}",
        "repo_id": "policyengine/pe-weights", "repo_type": "model", "revision": MODEL_REV, "path": "weights/us_2024.bin"}
    assert status(repo) == ""  # import-bundle committed
    assert hf.requests() == []

    # -- resolve both over HTTPS from the signed channel; the size is learnt from the bytes --------
    for name, data, route, source in (("populace_us_2024", hf.h5, H5_ROUTE, "external:hf:dataset"),
                                      ("pe_weights", WEIGHTS, MODEL_ROUTE, "external:hf:model")):
        hf.clear()
        res = pedata("get", f"pedata://us/{name}@bundle", "--json")
        assert res.ok, res.stderr
        got = json.loads(res.stdout)
        assert (got["source"], got["verified_by"], got["sha256"], got["size"]) == (source, "promoter", sha256(data), len(data))
        assert Path(got["path"]).read_bytes() == data
        assert hf.requests() == [route]  # the recorded repository type answered first

    # -- certify from the imported channel ----------------------------------------------------------
    res = pedata("certify", "us", "2.2.1", "--from", "bundle", "--sign", "bob", "--certified-for", "policyengine-us==2.2.1", "--json")
    assert res.ok, res.stderr
    assert json.loads(res.stdout)["tag"] == "us/v2.2.1"
    release_bytes = (repo / "releases/us/2.2.1.json").read_bytes()
    assert json.loads(release_bytes)["signed"]["pins"] == pins
    hf.clear()
    res = pedata("get", "pedata://us/pe_weights@v2.2.1", "--json")
    assert res.ok and json.loads(res.stdout)["source"] == "cache" and json.loads(res.stdout)["size"] == len(WEIGHTS), res
    assert hf.requests() == []

    # -- adopt without --sign: the bytes move, the signed channels are left as they are -----------
    res = pedata("adopt", "pedata://us/populace_us_2024@v2.2.1", "--json")
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["created"] and out["size"] == len(hf.h5) and out["remote"] == "storage" and out["channels"] == {}
    assert list(out["kept"]) == ["us/bundle"] and "--sign" in out["kept"]["us/bundle"]
    assert (repo / "channels/us/bundle.json").read_bytes() == bundle_bytes
    record = json.loads((repo / out["record"]).read_text())
    schema = record["manifest"]["schema"]  # the sidecar, read from the adopted HDF5 bytes
    assert schema["entities"]["household"]["rows"] == 40 and record["size"] == len(hf.h5)
    assert record["origin"] == pins["populace_us_2024"]["location"]

    # -- a key that is not a promoter: refused before anything is fetched or written --------------
    before = status(repo)
    assert_one_line_error(pedata("adopt", "pedata://us/pe_weights@bundle", "--sign", "bob"), "not a promoter key")
    assert status(repo) == before and not (repo / "adopted/us/pe_weights").exists()

    # -- adopt again with --sign: the record stays, channel bundle gets a signed DVC location -------
    res = pedata("adopt", "pedata://us/populace_us_2024@v2.2.1", "--sign", "alice", "--json")
    assert res.ok, res.stderr
    again = json.loads(res.stdout)
    assert not again["created"] and again["channels"] == {"us/bundle": 2} and again["md5"] == out["md5"]
    assert again["kept"] == {}
    moved = json.loads((repo / "channels/us/bundle.json").read_text())
    new_pin = moved["signed"]["artifacts"]["populace_us_2024"]
    assert new_pin == {**pins["populace_us_2024"], "location": {"type": "dvc", "md5": out["md5"], "dvcfile": out["dvcfile"]}}
    assert moved["signed"]["artifacts"]["pe_weights"] == pins["pe_weights"]
    assert moved["signed"]["prev"] == bundle_digest and moved["signed"]["expires"] == bundle_ch["signed"]["expires"]
    assert [s["keyid"] for s in moved["signatures"]] == [keys.load_signer("alice").keyid]
    assert (repo / "releases/us/2.2.1.json").read_bytes() == release_bytes  # identity never moves

    # the model pin, adopted straight from the channel with --sign: created; bundle version 2, not yet
    # committed, is replaced rather than chained (every version's prev must be in git history)
    res = pedata("adopt", "pedata://us/pe_weights@bundle", "--sign", "alice", "--json")
    assert res.ok, res.stderr
    weights = json.loads(res.stdout)
    assert weights["created"] and weights["size"] == len(WEIGHTS) and weights["channels"] == {"us/bundle": 2}
    moved = json.loads((repo / "channels/us/bundle.json").read_text())["signed"]
    assert moved["prev"] == bundle_digest
    assert {n: p["location"]["type"] for n, p in moved["artifacts"].items()} == {"populace_us_2024": "dvc", "pe_weights": "dvc"}
    assert weights["path"] == f"adopted/us/pe_weights/{sha256(WEIGHTS)}/us_2024.bin"
    again = pedata("adopt", "pedata://us/pe_weights@bundle", "--sign", "alice", "--json")
    assert again.ok and json.loads(again.stdout)["channels"] == {} and not json.loads(again.stdout)["created"], again
    commit(repo, "adopt the bundle's pins")
    hf.clear()
    assert pedata("get", "pedata://us/pe_weights@bundle").ok  # the re-signed channel verifies
    # the re-signed channel certifies; its release records the DVC locations
    res = pedata("certify", "us", "2.2.2", "--from", "bundle", "--sign", "bob")
    assert res.ok, res.stderr
    rel2 = json.loads((repo / "releases/us/2.2.2.json").read_text())["signed"]["pins"]
    assert {n: p["location"]["type"] for n, p in rel2.items()} == {"populace_us_2024": "dvc", "pe_weights": "dvc"}
    res = pedata("verify", "--json")
    assert res.ok, res.stdout
    assert json.loads(res.stdout)["checked"]["adoption"] == 2
    assert hf.requests() == []

    # -- a fresh clone, an empty cache: release, channel and sha256 resolve with zero HTTP ---------
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], cwd=tmp_path)
    fresh = {**env, "PEDATA_CACHE_DIR": str(tmp_path / "fresh-cache")}
    for name, data in (("populace_us_2024", hf.h5), ("pe_weights", WEIGHTS)):
        for ref in ("v2.2.1", "v2.2.2", "bundle", f"sha256:{sha256(data)}"):
            res = run_pedata("get", f"pedata://us/{name}@{ref}", "--json", cwd=clone, env=fresh)
            assert res.ok, (name, ref, res)
            got = json.loads(res.stdout)
            assert got["source"] in ("remote:storage", "cache") and got["sha256"] == sha256(data), (name, ref, got)
            assert got["size"] == len(data) and Path(got["path"]).read_bytes() == data
    assert hf.requests() == []
    res = run_pedata("verify", "--remote", "--deep", cwd=clone, env=fresh)
    assert res.ok, res.stdout
    assert hf.requests() == []


def test_adopt_never_re_signs_an_untrusted_channel(hf, repo, tmp_path):
    """An unsigned ``import-bundle`` channel is not trusted: adopt --sign moves the bytes but leaves it."""
    env = hf.env()
    res = run_pedata("import-bundle", bundle_manifest(tmp_path / "manifest.json", hf.h5), "--namespace", "us", "--channel", "bundle",
                     cwd=repo, env=env)  # an unsigned channel other than latest, asked for by name
    assert res.ok, res.stderr
    assert res.stderr.strip() == (
        "pedata: warning: channels/us/bundle.json is unsigned, and this registry has a trust root: pedata verify fails"
        " and the channel does not resolve until promoters sign it (pedata sign channels/us/bundle.json --sign KEY, then commit)"
    )
    before = (repo / "channels/us/bundle.json").read_bytes()
    uri = f"pedata://us/pe_weights@sha256:{sha256(WEIGHTS)}"  # the channel itself does not resolve: unsigned
    assert_one_line_error(run_pedata("get", "pedata://us/pe_weights@bundle", cwd=repo, env=env), "us/bundle", "not trusted")
    res = run_pedata("adopt", uri, "--sign", "alice", "--json", cwd=repo, env=env)
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["created"] and out["size"] == len(WEIGHTS) and out["channels"] == {}
    assert list(out["kept"]) == ["us/bundle"] and "not trusted" in out["kept"]["us/bundle"], out
    assert (repo / "channels/us/bundle.json").read_bytes() == before
    text = run_pedata("adopt", uri, "--sign", "alice", cwd=repo, env=env)
    assert text.ok and "already adopted" in text.stdout and "channel us/bundle still records the origin" in text.stdout, text


# -- bundle entries that state a `uri` (hf:// or plain https://), and entries that are refused ------
PLAIN = b"plain https bytes, no Hugging Face involved\n" * 100
PLAIN_ROUTE = "/files/plain.bin"


def entries_bundle(path: Path, datasets: dict) -> Path:
    """The vendored bundle manifest with ``data_releases.us.datasets`` replaced by ``datasets``."""
    bundle = json.loads((DATA / "policyengine/manifest.json").read_text())
    bundle["data_releases"]["us"]["datasets"] = datasets
    path.write_text(json.dumps(bundle, indent=2))
    return path


def head(repo: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def test_import_bundle_records_uri_entries_and_the_https_pin_resolves(hf, repo, tmp_path):
    hf.hub.routes[PLAIN_ROUTE] = Route(PLAIN)
    plain_uri = f"{hf.hub.base}{PLAIN_ROUTE}"
    datasets = {
        "plain": {"uri": plain_uri, "sha256": sha256(PLAIN)},
        # PolicyEngine's own form: no datasets/ prefix; data_package.repo_type says dataset
        "populace_us_2024": {"uri": f"hf://policyengine/populace-us/populace_us_2024.h5@{DATA_REV}", "sha256": sha256(hf.h5)},
        # uri and repo fields together, agreeing
        "pe_weights": {"uri": f"hf://models/policyengine/pe-weights/weights/us_2024.bin@{MODEL_REV}",
                       "repo_id": "policyengine/pe-weights", "repo_type": "model", "revision": MODEL_REV,
                       "path": "weights/us_2024.bin", "sha256": sha256(WEIGHTS)},
    }
    bundle = entries_bundle(tmp_path / "manifest.json", datasets)
    res = run_pedata("import-bundle", bundle, "--namespace", "us", "--sign", "alice", "--json", cwd=repo, env=hf.env())
    assert res.ok, res.stderr
    assert json.loads(res.stdout)["pins"] == {n: e["sha256"] for n, e in datasets.items()}
    pins = json.loads((repo / "channels/us/bundle.json").read_text())["signed"]["artifacts"]
    assert pins["plain"]["location"] == {"type": "https", "uri": plain_uri}
    assert pins["populace_us_2024"]["location"] == {
        "type": "hf", "uri": f"hf://datasets/policyengine/populace-us/populace_us_2024.h5@{DATA_REV}",
        "repo_id": "policyengine/populace-us", "repo_type": "dataset", "revision": DATA_REV, "path": "populace_us_2024.h5"}
    assert pins["pe_weights"]["location"] == {
        "type": "hf", "uri": f"hf://policyengine/pe-weights/weights/us_2024.bin@{MODEL_REV}",
        "repo_id": "policyengine/pe-weights", "repo_type": "model", "revision": MODEL_REV, "path": "weights/us_2024.bin"}
    manifest = json.loads((repo / f"manifests/us/plain/{sha256(PLAIN)}.json").read_text())
    assert (manifest["path"], manifest["location"]) == ("plain.bin", {"type": "https", "uri": plain_uri})
    assert status(repo) == "" and "Import PolicyEngine bundle" in run(["git", "log", "-1", "--format=%s"], cwd=repo).stdout
    assert hf.requests() == []

    # the https pin: fetched over TLS from the plain URL, verified, no token, no Hugging Face route
    res = run_pedata("get", "pedata://us/plain@bundle", "--json", cwd=repo, env=hf.env(HF_TOKEN="hf_never_sent"))
    assert res.ok, res.stderr
    got = json.loads(res.stdout)
    assert (got["source"], got["verified_by"], got["sha256"], got["size"]) == ("external:https", "promoter", sha256(PLAIN), len(PLAIN))
    assert Path(got["path"]).read_bytes() == PLAIN
    assert hf.hub.log == [(PLAIN_ROUTE, None)]
    for name, route in (("populace_us_2024", H5_ROUTE), ("pe_weights", MODEL_ROUTE)):
        hf.clear()
        res = run_pedata("get", f"pedata://us/{name}@bundle", "--json", cwd=repo, env=hf.env())
        assert res.ok and json.loads(res.stdout)["sha256"] == datasets[name]["sha256"], res
        assert hf.requests() == [route]


BAD_ENTRIES = {
    "no repo_id, no uri": ({"path": "a.h5", "revision": "r1"}, ["lacks 'repo_id'"]),
    "no sha256": ({"path": "a.h5", "repo_id": "policyengine/x", "revision": "r1"}, ["no valid sha256"]),
    "path escapes": ({"path": "../../etc/passwd", "repo_id": "policyengine/populace-us", "revision": "r1"}, ["'../../etc/passwd'", "without '..'"]),
    "uri path escapes": ({"uri": "hf://policyengine/populace-us/../../etc/passwd@r1"}, ["'../../etc/passwd'", "without '..'"]),
    "bad repo_id": ({"path": "a.h5", "repo_id": "policyengine/x/../y", "revision": "r1"}, ["invalid repo_id"]),
    "unknown repo_type": ({"path": "a.h5", "repo_id": "policyengine/x", "revision": "r1", "repo_type": "space"}, ["repo_type 'space'"]),
    "revision clash": ({"uri": "hf://policyengine/x/a.h5@r1", "repo_id": "policyengine/x", "revision": "r2", "path": "a.h5"},
                       ["revision 'r2'", "hf://policyengine/x/a.h5@r1", "disagree"]),
    "repo type clash": ({"uri": "hf://datasets/policyengine/x/a.h5@r1", "repo_type": "model"}, ["repo_type 'model'", "disagree"]),
    "https with repo": ({"uri": "https://example.org/a.h5", "repo_id": "policyengine/x"}, ["repo_id", "not a Hugging Face location"]),
    "https path clash": ({"uri": "https://example.org/files/a.h5", "path": "b.h5"}, ["path 'b.h5'", "disagree"]),
    "plain http": ({"uri": "http://example.org/a.h5"}, ["only HTTPS"]),
    "no host": ({"uri": "https:///a.h5"}, ["no host"]),
    "credentials in url": ({"uri": "https://user:s3cret@example.org/a.h5"}, ["carries credentials", "example.org/a.h5"]),
    "other scheme": ({"uri": "s3://bucket/a.h5"}, ["hf:// or https://"]),
    "bad hf uri": ({"uri": "hf://policyengine/a.h5"}, ["invalid hf:// location"]),
}


def test_import_bundle_checks_every_entry_before_writing_anything(hf, repo, tmp_path):
    """A bad entry sorts after a good one: one line naming it, non-zero exit, no file, no commit."""
    good = {"path": "populace_us_2024.h5", "repo_id": "policyengine/populace-us", "revision": DATA_REV, "sha256": sha256(hf.h5)}
    before = head(repo)
    for case, (entry, fragments) in BAD_ENTRIES.items():
        entry = {"sha256": sha256(WEIGHTS), **entry} if case != "no sha256" else entry
        bundle = entries_bundle(tmp_path / "manifest.json", {"populace_us_2024": good, "zz_bad": entry})
        res = run_pedata("import-bundle", bundle, "--namespace", "us", "--sign", "alice", cwd=repo, env=hf.env())
        try:
            assert_one_line_error(res, "dataset 'zz_bad'", *fragments)
        except AssertionError as exc:
            raise AssertionError(f"{case}: {exc}") from None
        assert head(repo) == before and status(repo) == "", case
        assert "s3cret" not in res.stderr, case  # a credential is never echoed
        assert not (repo / "manifests/us").exists() and not (repo / "channels/us/bundle.json").exists(), case
    assert hf.requests() == []
