"""The resolver over real S3 (moto server) and GCS (gcp-storage-emulator) DVC remotes on 127.0.0.1:
publish in one clone, resolve from a fresh clone, detect a flipped byte, write remote audit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, run, run_pedata
from support.resolve import _consumer_env, _publish_to, cache_objects, sha256_of

pytestmark = pytest.mark.slow  # emulator tests: `pytest -m 'not slow'` is the fast lane


URI = "pedata://us/people@latest"






@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_publish_then_get_from_a_fresh_clone(kind, request, tmp_path):
    remote = request.getfixturevalue(f"{kind}_remote")
    origin, sha, md5 = _publish_to(remote, tmp_path)
    assert remote.object_key(md5) in remote.list_objects()
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    env = _consumer_env(kind)
    cache = Path(os.environ["PEDATA_CACHE_DIR"])

    # A flipped byte in the bucket: refused, named, nothing cached (DVC's verify is off here).
    good = remote.read_object(remote.object_key(md5))
    remote.write_object(remote.object_key(md5), bytes([good[0] ^ 0xFF]) + good[1:])
    bad = run_pedata("get", URI, cwd=clone, env=env)
    assert_one_line_error(bad, URI, sha, "corrupted bytes in the remote", "nothing was cached")
    assert cache_objects(cache) == []
    remote.write_object(remote.object_key(md5), good)

    # Audit on: every access becomes its own object under audit/ in the same bucket.
    cfg = json.loads((clone / "pedata.json").read_text())
    cfg["audit"] = {"remote": True}
    (clone / "pedata.json").write_text(json.dumps(cfg))
    res = run_pedata("get", URI, "--json", cwd=clone, env=env)
    assert res.ok, res
    data = json.loads(res.stdout)
    assert (data["sha256"], data["source"]) == (sha, "remote:storage")
    assert sha256_of(Path(data["path"])) == sha
    by_sha = run_pedata("get", f"pedata://us/people@sha256:{sha}", "--json", cwd=clone, env=env)
    assert json.loads(by_sha.stdout)["source"] == "cache"
    audit = [k for k in remote.list_objects() if k.startswith("audit/")]
    assert len(audit) == 2
    entries = [json.loads(remote.read_object(k)) for k in audit]
    assert sorted(e["source"] for e in entries) == ["cache", "remote:storage"]
    assert {e["sha256"] for e in entries} == {sha}
    # The data owner reads the trail back through pedata, oldest first, --since included.
    trail = run_pedata("audit", "--remote", "--json", cwd=clone, env=env)
    assert trail.ok, trail
    assert [e["source"] for e in json.loads(trail.stdout)] == ["remote:storage", "cache"]
    second = json.loads(trail.stdout)[1]["time"]
    later = run_pedata("audit", "--remote", "--since", second, "--json", cwd=clone, env=env)
    assert [e["source"] for e in json.loads(later.stdout)] == ["cache"]

    # The same through a git URL (bare clone in the resolver's cache).
    bare = tmp_path / "registry.git"
    run(["git", "clone", "-q", "--bare", str(origin), str(bare)], cwd=tmp_path)
    (cache / "sha256").rename(tmp_path / "old-objects")
    res = run_pedata("get", URI, "--registry", f"file://{bare}", "--json", cwd=tmp_path, env=env)
    assert res.ok, res
    assert json.loads(res.stdout)["source"] == "remote:storage"


@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_every_ref_kind_and_a_tag_from_a_fresh_clone(kind, request, tmp_path):
    """@v<release>, @next (signed), @latest and @sha256: from a fresh clone, and a git URL at the
    release tag, each fetching from the real S3/GCS API into an empty cache."""
    remote = request.getfixturevalue(f"{kind}_remote")
    origin, sha, _ = _publish_to(remote, tmp_path)
    for args in (("key", "generate", "alice"), ("trust", "init", "--root", "alice", "--expires", "never"),
                 ("promote", "us", "--sign", "alice", "--no-commit")):
        res = run_pedata(*args, cwd=origin)
        assert res.ok, (args, res)
    run(["git", "add", "-A"], cwd=origin)
    run(["git", "commit", "-q", "-m", "trust and next"], cwd=origin)
    res = run_pedata("certify", "us", "1.0.0", "--sign", "alice", cwd=origin)
    assert res.ok, res
    assert run(["git", "tag", "--list", "us/v1.0.0"], cwd=origin).stdout.strip() == "us/v1.0.0"
    bare = tmp_path / "registry.git"
    run(["git", "clone", "-q", "--bare", str(origin), str(bare)], cwd=tmp_path)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    env = _consumer_env(kind)
    cache = Path(os.environ["PEDATA_CACHE_DIR"])

    def get(*args: str, cwd: Path) -> dict:
        if (cache / "sha256").exists():  # every ref starts from an empty cache: a real fetch
            (cache / "sha256").rename(cache / f"old-{len(list(cache.iterdir()))}")
        res = run_pedata("get", *args, "--json", cwd=cwd, env=env)
        assert res.ok, (args, res)
        data = json.loads(res.stdout)
        assert (data["sha256"], data["source"]) == (sha, "remote:storage"), data
        assert sha256_of(Path(data["path"])) == sha
        return data

    assert get("pedata://us/people@v1.0.0", cwd=clone)["verified_by"] == "certifier"
    assert get("pedata://us/people@next", cwd=clone)["verified_by"] == "promoter"
    assert get("pedata://us/people@latest", cwd=clone)["verified_by"] is None
    assert get(f"pedata://us/people@sha256:{sha}", cwd=clone)["ref"] == "sha256"
    tagged = get("pedata://us/people@v1.0.0", "--registry", f"file://{bare}", "--rev", "us/v1.0.0", cwd=tmp_path)
    assert tagged["rev"] == run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=origin).stdout.strip()
