"""Faults against a real S3 API (moto on 127.0.0.1): the server stopping mid-transfer, and a
consumer without credentials or with wrong ones (moto checking keys against its IAM users). A clear one-line error, nothing cached, and a retry that
succeeds once the server is back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import remotes  # the tests/remotes.py plugin (always present)
from conftest import assert_one_line_error, run, run_pedata
from test_hardening_crash import assert_cache_objects_right
from test_resolve_remotes import _consumer_env, _publish_to

from dvc_pedata.atomic import TMP_PREFIX

URI = "pedata://us/people@latest"


def _cached(cache: Path) -> list[Path]:
    root = cache / "sha256"
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(TMP_PREFIX)] if root.exists() else []


def test_s3_server_stops_mid_transfer_then_retry_succeeds(s3_server, s3_remote, tmp_path):
    origin, sha, _ = _publish_to(s3_remote, tmp_path)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    cache = tmp_path / "cache"
    env = {**os.environ, **_consumer_env("s3"), **remotes.S3_FAIL_FAST_ENV, "PEDATA_CACHE_DIR": str(cache)}
    # Stop the server while a get is under way (or before it connects: both must fail cleanly).
    proc = subprocess.Popen([sys.executable, "-m", "dvc_pedata", "get", URI], cwd=clone, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.4)
    s3_server.stop()
    try:
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            pytest.skip("the download finished before the server stopped")
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("pedata: error: ") and "Traceback" not in err, err
        assert URI in lines[0]
        assert _cached(cache) == []
        res = run_pedata("get", URI, cwd=clone, env={**env})
        assert_one_line_error(res, URI)
    finally:
        s3_server.start()
    res = run_pedata("get", URI, "--json", cwd=clone, env=env)
    assert res.ok, res
    assert [p.parent.name + p.name for p in _cached(cache)] == [sha]
    assert_cache_objects_right(cache)


def test_s3_without_credentials_is_a_clear_error(s3_remote, tmp_path):
    origin, _, _ = _publish_to(s3_remote, tmp_path)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    cache = tmp_path / "cache"
    # moto accepts any key pair, so "wrong credentials" here means none at all (the clone has no
    # .dvc/config.local and the environment holds no AWS keys).
    res = run_pedata("get", URI, cwd=clone, env={**remotes.S3_FAIL_FAST_ENV, "PEDATA_CACHE_DIR": str(cache)})
    assert_one_line_error(res, URI)
    assert "credential" in res.stderr.lower(), res.stderr
    assert _cached(cache) == []


def test_s3_wrong_credentials_are_a_clear_error_and_right_ones_work(s3_server, s3_remote, tmp_path):
    origin, sha, _ = _publish_to(s3_remote, tmp_path)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    cache = tmp_path / "cache"
    key_id, secret = s3_server.iam_user(f"consumer-{tmp_path.name}")
    base = {**remotes.S3_FAIL_FAST_ENV, "PEDATA_CACHE_DIR": str(cache)}
    with s3_server.enforce_credentials():
        for wrong in (("AKIAWRONGWRONGWRONG0", secret), (key_id, "not-the-secret")):
            creds = {"AWS_ACCESS_KEY_ID": wrong[0], "AWS_SECRET_ACCESS_KEY": wrong[1]}
            res = run_pedata("get", URI, cwd=clone, env={**base, **creds})
            assert_one_line_error(res, URI)
            assert "could not be fetched" in res.stderr and "remote 'storage' refused access" in res.stderr, res.stderr
            assert "check the credentials" in res.stderr and wrong[1] not in res.stderr  # a secret is never echoed
            assert _cached(cache) == []
        res = run_pedata("get", URI, "--json", cwd=clone, env={**base, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
        assert res.ok, res
    assert [p.parent.name + p.name for p in _cached(cache)] == [sha]
