"""External pins (hf:// and https://) through a fake Hugging Face on 127.0.0.1 over TLS, and
``pedata adopt`` into a local DVC remote: real git, real DVC, the real CLI; no mocks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, commit, run, run_pedata, sha256
from support.external import REV, TOKEN, Route, hf_location, policyengine_h5, start_fake_hf

from dvc_pedata.model.documents import Channel, Manifest, Release, new_body
from dvc_pedata.publish.channels import advance, pin_of
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys, signing
from dvc_pedata.trust import root as trust

DATASET = b"dataset bytes from a dataset repository\n" * 500
MODEL = b"weights from a model repository\n" * 300
GATED = b"gated,bytes\n1,2\n" * 200
PLAIN = b"plain https bytes\n" * 100


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fakehf")
    fake = start_fake_hf(folder)
    h5 = policyengine_h5(folder / "populace_us_2024.h5")
    r = fake.hub.routes
    r[f"/datasets/policyengine/populace-us/resolve/{REV}/populace_us_2024.h5"] = Route(h5)
    r[f"/datasets/policyengine/populace-us/resolve/{REV}/extra/data.bin"] = Route(DATASET)
    r[f"/policyengine/pe-weights/resolve/{REV}/weights.bin"] = Route(MODEL)
    r[f"/datasets/policyengine/gated-us/resolve/{REV}/gated.csv"] = Route(redirect="cdn:/blobs/gated", token=TOKEN)
    fake.cdn.routes["/blobs/gated"] = Route(GATED)
    r[f"/datasets/policyengine/populace-us/resolve/{REV}/wrong.bin"] = Route(DATASET + b"tampered")
    r[f"/datasets/policyengine/populace-us/resolve/{REV}/insecure.bin"] = Route(redirect="http://127.0.0.1:9/insecure.bin")
    r["/files/plain.bin"] = Route(PLAIN)
    fake.h5 = h5
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _no_real_tokens(monkeypatch, tmp_path):
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token file from the real user


@pytest.fixture
def cache() -> Path:
    return Path(os.environ["PEDATA_CACHE_DIR"])


def external_pin(reg: Registry, name: str, data: bytes, location: dict, fmt: str = "binary", size: bool = True) -> dict:
    """What import-bundle records for one PolicyEngine dataset: a manifest with a location, and a pin."""
    sha = sha256(data)
    body = new_body(
        "manifest", namespace="us", name=name, path=location.get("path") or location["uri"], size=len(data),
        format=fmt, media_type="application/x-hdf5" if fmt == "hdf5" else "application/octet-stream",
        digest={"sha256": sha, "md5": None}, schema={}, inputs={"deps": [], "params": {}, "locks": {}, "composite_digest": None},
        producer={"stage": None, "source": "policyengine bundle"}, licence="CC-BY-4.0", location=location,
    )
    m = Manifest(body)
    m.save(reg.manifest_path("us", name, sha))
    return pin_of(sha, m.digest, len(data), location=location)


@pytest.fixture
def registry(tmp_path, monkeypatch, hf) -> Path:
    repo = tmp_path / "registry"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    # a fresh clone resolves from the remote: a shared (committed) one, not init's machine-local default
    assert run_pedata("init", "-n", "us", "--remote", str(tmp_path / "storage" / "registry"), cwd=repo).ok
    reg = Registry(repo)
    pins = {
        "populace_us_2024": external_pin(reg, "populace_us_2024", hf.h5, hf_location("policyengine/populace-us", "populace_us_2024.h5", "dataset"), "hdf5"),
        "extra": external_pin(reg, "extra", DATASET, hf_location("policyengine/populace-us", "extra/data.bin", "dataset")),
        # recorded as a dataset, but it lives in a model repository: discovered and remembered
        "weights": external_pin(reg, "weights", MODEL, hf_location("policyengine/pe-weights", "weights.bin", "dataset")),
        "gated": external_pin(reg, "gated", GATED, hf_location("policyengine/gated-us", "gated.csv", None)),
        "wrong": external_pin(reg, "wrong", DATASET + b"original", hf_location("policyengine/populace-us", "wrong.bin", "dataset")),
        "insecure": external_pin(reg, "insecure", PLAIN, hf_location("policyengine/populace-us", "insecure.bin", "dataset")),
        "plain": external_pin(reg, "plain", PLAIN, {"type": "https", "uri": f"{hf.hub.base}/files/plain.bin"}),
    }
    doc = advance(reg, "us", "latest", pins)
    doc.save(reg.channel_path("us", "latest"))
    commit(repo, "import PolicyEngine bundle pins")
    hf.clear()
    return repo


def get(repo: Path, hf, uri: str, *extra: str, **env: str):
    return run_pedata("get", uri, "--json", *extra, cwd=repo, env=hf.env(**env))


def objects(cache: Path) -> list[Path]:
    root = cache / "sha256"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_dataset_and_model_repositories_resolve_and_the_type_is_remembered(registry, hf, cache):
    res = get(registry, hf, "pedata://us/populace_us_2024@latest")
    assert res.ok, res
    data = json.loads(res.stdout)
    assert data["sha256"] == sha256(hf.h5) and data["source"] == "external:hf:dataset"
    assert Path(data["path"]).read_bytes() == hf.h5
    assert data["location"]["repo_id"] == "policyengine/populace-us"
    assert hf.requests() == [f"/datasets/policyengine/populace-us/resolve/{REV}/populace_us_2024.h5"]

    hf.clear()
    res = get(registry, hf, "pedata://us/weights@latest")
    assert res.ok, res
    data = json.loads(res.stdout)
    assert (data["source"], Path(data["path"]).read_bytes()) == ("external:hf:model", MODEL)
    # the recorded type (dataset) first, then the other, which answered
    assert hf.requests() == [f"/datasets/policyengine/pe-weights/resolve/{REV}/weights.bin",
                             f"/policyengine/pe-weights/resolve/{REV}/weights.bin"]
    remembered = json.loads((cache / "external/hf-repo-types.json").read_text())
    assert remembered == {f"{hf.hub.base} policyengine/pe-weights": "model", f"{hf.hub.base} policyengine/populace-us": "dataset"}

    # a cache hit makes no request; after the object is gone, the remembered type is asked first
    hf.clear()
    assert json.loads(get(registry, hf, "pedata://us/weights@latest").stdout)["source"] == "cache"
    assert hf.requests() == []
    Path(data["path"]).unlink()
    assert get(registry, hf, f"pedata://us/weights@sha256:{sha256(MODEL)}").ok
    assert hf.requests() == [f"/policyengine/pe-weights/resolve/{REV}/weights.bin"]

    res = get(registry, hf, "pedata://us/plain@latest")
    assert res.ok and json.loads(res.stdout)["source"] == "external:https", res
    assert Path(json.loads(res.stdout)["path"]).read_bytes() == PLAIN


def test_gated_repository_needs_a_token_which_never_reaches_the_cdn(registry, hf, cache):
    uri = "pedata://us/gated@latest"
    res = get(registry, hf, uri)
    assert_one_line_error(res, uri, "policyengine/gated-us", f"revision {REV}", "path gated.csv", "HF_TOKEN", "gated")
    assert objects(cache) == []

    res = get(registry, hf, uri, HF_TOKEN="hf_wrong")
    assert_one_line_error(res, "policyengine/gated-us", "HTTP 403", "no access")
    assert objects(cache) == []

    hf.clear()
    res = get(registry, hf, uri, HUGGING_FACE_HUB_TOKEN=TOKEN)
    assert res.ok, res
    assert Path(json.loads(res.stdout)["path"]).read_bytes() == GATED
    # model type tried first (nothing recorded), then datasets; the redirect goes to the second host
    assert hf.requests()[-2:] == [f"/datasets/policyengine/gated-us/resolve/{REV}/gated.csv", "cdn:/blobs/gated"]
    assert [auth for _, auth in hf.hub.log] == [f"Bearer {TOKEN}"] * len(hf.hub.log)
    assert [auth for _, auth in hf.cdn.log] == [None]  # the token stays with the hub


def test_token_from_the_login_file(registry, hf, tmp_path):
    (tmp_path / "hf-home").mkdir(exist_ok=True)
    (tmp_path / "hf-home" / "token").write_text(TOKEN + "\n")
    res = get(registry, hf, "pedata://us/gated@latest")
    assert res.ok, res


def test_wrong_bytes_and_insecure_redirects_are_refused_and_nothing_is_cached(registry, hf, cache):
    res = get(registry, hf, "pedata://us/wrong@latest")
    assert_one_line_error(res, "pedata://us/wrong@latest", "policyengine/populace-us", f"revision {REV}",
                          "path wrong.bin", "wrong bytes", "nothing was cached")
    assert res.returncode == 3
    assert objects(cache) == []

    res = get(registry, hf, "pedata://us/insecure@latest")
    assert_one_line_error(res, "policyengine/populace-us", "path insecure.bin", "http://127.0.0.1:9/insecure.bin", "only to https")
    assert objects(cache) == []

    # without trusting the test CA, TLS verification fails (no silent downgrade)
    res = run_pedata("get", "pedata://us/extra@latest", cwd=registry, env={**hf.env(), "PEDATA_CA_BUNDLE": ""})
    assert_one_line_error(res, "policyengine/populace-us", "path extra/data.bin", "TLS")
    assert objects(cache) == []

    # a file missing under both repository types names both attempts
    reg = Registry(registry)
    pin = external_pin(reg, "missing", b"nothing", hf_location("policyengine/nowhere", "a.h5", "model"))
    advance(reg, "us", "latest", {"missing": pin}).save(reg.channel_path("us", "latest"))
    res = get(registry, hf, "pedata://us/missing@latest")
    assert_one_line_error(res, "policyengine/nowhere", "path a.h5", "not found as a dataset or a model")


def _signed_release(repo: Path, pins: dict) -> None:
    reg = Registry(repo)
    keys.generate("alice")
    trust.init_root(reg, ["alice"], {"promoter": ["alice"], "certifier": ["alice"], "revoker": ["alice"]})
    body = new_body(
        "release", namespace="us", version="1.0.0", status="certified", compat_mode="both",
        notice={"type": "release", "summary": "PolicyEngine US data 1.0.0", "date": "2025-01-01"},
        pins=pins, source_channel=None, certified_for={"package": "policyengine-us", "version": "1.0.0"},
        previous=None, expires=None,
    )
    rel = Release(body, [])
    signing.sign(rel, keys.load_signer("alice"))
    rel.save(reg.release_path("us", "1.0.0"))


def test_adopt_moves_the_pin_into_dvc_and_a_fresh_clone_resolves_without_http(registry, hf, cache, tmp_path):
    reg = Registry(registry)
    latest = reg.load_channel("us", "latest")
    pin = latest.artifacts["populace_us_2024"]
    _signed_release(registry, {"populace_us_2024": pin})
    commit(registry, "certify 1.0.0")
    from dvc_pedata.releases.catalog import tag_message

    digest = Registry(registry).load_release("us", "1.0.0").digest
    run(["git", "tag", "-a", "us/v1.0.0", "-m", tag_message("us", "1.0.0", "releases/us/1.0.0.json", digest)], cwd=registry)
    release_bytes = (registry / "releases/us/1.0.0.json").read_bytes()
    manifest_rel = f"manifests/us/populace_us_2024/{pin['sha256']}.json"
    manifest_bytes = (registry / manifest_rel).read_bytes()

    uri = "pedata://us/populace_us_2024@v1.0.0"
    res = run_pedata("adopt", uri, "--json", cwd=registry, env=hf.env())
    assert res.ok, res
    out = json.loads(res.stdout)
    assert out["created"] and out["sha256"] == pin["sha256"] and out["remote"] == "storage"
    record = json.loads((registry / out["record"]).read_text())
    # the adopted copy's manifest carries a real sidecar read from the HDF5 bytes
    schema = record["manifest"]["schema"]
    assert schema["entities"]["household"]["rows"] == 40 and schema["entities"]["person"]["rows"] == 80
    assert record["manifest"]["digest"] == {"sha256": pin["sha256"], "md5": out["md5"]}
    assert record["origin"] == pin["location"]
    dvc_text = (registry / out["dvcfile"]).read_text()
    assert out["md5"] in dvc_text
    # identity unchanged: the signed release and the pinned manifest are untouched; only latest's location moved
    assert (registry / "releases/us/1.0.0.json").read_bytes() == release_bytes
    assert (registry / manifest_rel).read_bytes() == manifest_bytes
    new_pin = Registry(registry).load_channel("us", "latest").artifacts["populace_us_2024"]
    assert {k: v for k, v in new_pin.items() if k != "location"} == {k: v for k, v in pin.items() if k != "location"}
    assert new_pin["location"] == {"type": "dvc", "md5": out["md5"], "dvcfile": out["dvcfile"]}
    storage = next((tmp_path / "storage").iterdir())
    assert (storage / "files/md5" / out["md5"][:2] / out["md5"][2:]).is_file()

    again = run_pedata("adopt", uri, cwd=registry, env=hf.env())
    assert again.ok and "already adopted" in again.stdout, again
    commit(registry, "adopt populace_us_2024")
    ok = run_pedata("verify", "--json", cwd=registry)
    assert ok.ok, ok
    assert json.loads(ok.stdout)["checked"]["adoption"] == 1

    # a fresh clone and an empty cache: every ref resolves from the DVC remote, no HTTP at all
    hf.clear()
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(registry), str(clone)], cwd=tmp_path)
    fresh = {**hf.env(), "PEDATA_CACHE_DIR": str(tmp_path / "fresh-cache")}
    for ref in ("v1.0.0", "latest", f"sha256:{pin['sha256']}"):
        res = run_pedata("get", f"pedata://us/populace_us_2024@{ref}", "--json", cwd=clone, env=fresh)
        assert res.ok, (ref, res)
        data = json.loads(res.stdout)
        assert data["source"] in ("remote:storage", "cache") and data["sha256"] == pin["sha256"]
        assert Path(data["path"]).read_bytes() == hf.h5
    assert hf.requests() == []
    assert run_pedata("verify", "--remote", "--deep", cwd=clone).ok

    # verify catches an adoption record that names other bytes
    rec_path = registry / out["record"]
    rec = json.loads(rec_path.read_text())
    rec["md5"] = "0" * 32
    rec_path.write_text(json.dumps(rec, indent=2))
    bad = run_pedata("verify", cwd=registry)
    assert bad.returncode != 0 and out["record"] in bad.stdout and "md5" in bad.stdout, bad


def test_adopt_refuses_native_pins_and_wrong_bytes(registry, hf, cache):
    res = run_pedata("adopt", "pedata://us/wrong@latest", cwd=registry, env=hf.env())
    assert_one_line_error(res, "policyengine/populace-us", "path wrong.bin", "wrong bytes")
    assert not (registry / "adopted").exists() and objects(cache) == []
    res = run_pedata("adopt", "pedata://us/nothere", cwd=registry, env=hf.env())
    assert_one_line_error(res, "nothere")


def flip_a_byte(path: Path) -> bytes:
    """Flip one bit in the middle of ``path`` (made writable first); returns the new bytes."""
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return bytes(data)


def test_verify_finds_adopted_bytes_that_no_longer_hash_to_the_pin(registry, hf):
    res = run_pedata("adopt", "pedata://us/extra@latest", "--json", cwd=registry, env=hf.env())
    assert res.ok, res
    out = json.loads(res.stdout)
    commit(registry, "adopt extra")
    assert run_pedata("verify", cwd=registry).ok  # hashes the adopted copy once, and remembers it

    # the workspace copy: a flipped byte is found although the hash state remembered the good bytes
    flipped = flip_a_byte(registry / out["path"])
    bad = run_pedata("verify", cwd=registry)
    assert bad.returncode == 1, bad
    assert bad.stdout.splitlines() == [
        f"{out['record']}: adopted bytes at {out['path']} hash to sha256 {sha256(flipped)[:12]}…, not the pinned {sha256(DATASET)[:12]}…"]
    assert "pedata verify: 1 violation(s)" in bad.stderr

    # no workspace copy: the local DVC cache's copy is the one hashed
    (registry / out["path"]).unlink()
    cached = f".dvc/cache/files/md5/{out['md5'][:2]}/{out['md5'][2:]}"
    flipped = flip_a_byte(registry / cached)
    bad = run_pedata("verify", cwd=registry)
    assert bad.returncode == 1, bad
    assert bad.stdout.splitlines() == [
        f"{out['record']}: adopted bytes at {cached} hash to sha256 {sha256(flipped)[:12]}…, not the pinned {sha256(DATASET)[:12]}…"]


def _trust_alice(repo: Path) -> None:
    keys.generate("alice")
    trust.init_root(Registry(repo), ["alice"], {"promoter": ["alice"], "certifier": ["alice"], "revoker": ["alice"]})


def _write_signed_unchecked(path: Path, doc) -> None:
    """Sign ``doc`` as alice and write it without schema validation (as a hand edit would)."""
    signing.sign(doc, keys.load_signer("alice"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc.to_obj(), indent=2))


def test_a_pin_without_a_sha256_is_refused_for_certification_and_resolution(registry, hf, cache):
    _trust_alice(registry)
    reg = Registry(registry)
    pin = {k: v for k, v in reg.load_channel("us", "latest").artifacts["plain"].items() if k != "sha256"}
    channel = Channel(new_body("channel", namespace="us", channel="next", version=1, prev=None, expires=None,
                               artifacts={"plain": pin}), [])
    _write_signed_unchecked(reg.channel_path("us", "next"), channel)
    commit(registry, "a promoter-signed channel whose pin lacks its sha256")
    head = run(["git", "rev-parse", "HEAD"], cwd=registry).stdout

    res = run_pedata("certify", "us", "1.0.0", "--from", "next", "--sign", "alice", cwd=registry, env=hf.env())
    assert_one_line_error(res, "channels/us/next.json", "signed/artifacts/plain", "'sha256' is a required property")
    assert res.returncode == 1
    assert not (registry / "releases/us/1.0.0.json").exists()
    assert run(["git", "rev-parse", "HEAD"], cwd=registry).stdout == head
    assert run(["git", "tag", "--list"], cwd=registry).stdout == ""
    assert run(["git", "status", "--porcelain"], cwd=registry).stdout == ""

    # the same pin in a certifier-signed release: refused before any trust check or download
    release = Release(new_body(
        "release", namespace="us", version="1.0.0", status="certified", compat_mode="both",
        notice={"type": "release", "summary": "PolicyEngine US data 1.0.0", "date": "2025-01-01"},
        pins={"plain": pin}, source_channel=None, certified_for=None, previous=None, expires=None), [])
    _write_signed_unchecked(reg.release_path("us", "1.0.0"), release)
    for ref, where in (("v1.0.0", "releases/us/1.0.0.json: fails the release schema at signed/pins/plain"),
                       ("next", "channels/us/next.json: fails the channel schema at signed/artifacts/plain")):
        res = get(registry, hf, f"pedata://us/plain@{ref}")
        assert_one_line_error(res, where, "'sha256' is a required property")
    assert hf.requests() == [] and objects(cache) == []
    bad = run_pedata("verify", cwd=registry)
    assert bad.returncode == 1
    assert "channels/us/next.json: fails the channel schema at signed/artifacts/plain: 'sha256' is a required property" in bad.stdout.splitlines()


def test_adopt_checks_the_remote_before_fetching_or_writing(registry, hf, cache, tmp_path):
    head = run(["git", "rev-parse", "HEAD"], cwd=registry).stdout
    latest = (registry / "channels/us/latest.json").read_bytes()

    def nothing_changed() -> None:
        assert not (registry / "adopted").exists()
        assert run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=registry).stdout == status_before
        assert run(["git", "rev-parse", "HEAD"], cwd=registry).stdout == head
        assert (registry / "channels/us/latest.json").read_bytes() == latest

    status_before = run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=registry).stdout
    for extra in ((), ("--no-push",)):
        res = run_pedata("adopt", "pedata://us/extra@latest", "--remote", "nonexistent", *extra, cwd=registry, env=hf.env())
        assert_one_line_error(res, "DVC remote 'nonexistent' does not exist", "DVC remotes: storage")
        nothing_changed()
        assert hf.requests() == [] and objects(cache) == []

    # pedata.json naming a remote DVC does not know: the same, and it says where the name came from
    config = json.loads((registry / "pedata.json").read_text())
    (registry / "pedata.json").write_text(json.dumps({**config, "remote": "gone"}, indent=2))
    res = run_pedata("adopt", "pedata://us/extra@latest", cwd=registry, env=hf.env())
    assert_one_line_error(res, "pedata.json", "DVC remote 'gone' does not exist")
    assert hf.requests() == [] and objects(cache) == []
    # no remote anywhere (pedata.json, DVC's default): pushing is impossible, said before fetching
    (registry / "pedata.json").write_text(json.dumps({k: v for k, v in config.items() if k != "remote"}, indent=2))
    dvc_config = (registry / ".dvc/config").read_text()
    (registry / ".dvc/config").write_text(dvc_config.replace("[core]\n    remote = storage\n", ""))
    res = run_pedata("adopt", "pedata://us/extra@latest", cwd=registry, env=hf.env())
    assert_one_line_error(res, "no DVC remote to push to", "--remote NAME", "--no-push")
    assert hf.requests() == [] and objects(cache) == []
    run(["git", "checkout", "pedata.json", ".dvc/config"], cwd=registry)
    nothing_changed()

    # a remote that exists but cannot take the push: what adopt wrote is taken back
    blocker = tmp_path / "a-file-not-a-folder"
    blocker.write_text("the remote's folder cannot be created here\n")
    config_local = registry / ".dvc/config.local"
    config_local.write_text(f"['remote \"broken\"']\n    url = {blocker}/store\n")
    status_before = run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=registry).stdout
    res = run_pedata("adopt", "pedata://us/extra@latest", "--remote", "broken", cwd=registry, env=hf.env())
    assert_one_line_error(res, "dvc push failed")
    nothing_changed()

    # a working remote that is not the default: the bytes go there, and only there
    partner = tmp_path / "partner-store"
    config_local.write_text(f"['remote \"partner\"']\n    url = {partner}\n")
    res = run_pedata("adopt", "pedata://us/extra@latest", "--remote", "partner", "--json", cwd=registry, env=hf.env())
    assert res.ok, res
    out = json.loads(res.stdout)
    assert out["remote"] == "partner" and out["created"]
    obj = partner / "files/md5" / out["md5"][:2] / out["md5"][2:]
    assert obj.is_file() and sha256(obj.read_bytes()) == out["sha256"]
    default = next((tmp_path / "storage").iterdir())
    assert not (default / "files/md5" / out["md5"][:2] / out["md5"][2:]).exists()
