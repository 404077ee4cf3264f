"""Faults against a real S3 API (moto on 127.0.0.1): the server stopping mid-transfer, and a
consumer without credentials or with wrong ones (moto checking keys against its IAM users). A clear
one-line error, nothing cached, and a retry that succeeds once the server is back.

"Mid-transfer" is made certain, not left to timing: the server sends part of the object's body and
then hangs (``S3Server.stall_downloads``), and is stopped while it hangs, so the client has an
open, half-answered GET when its connection is cut."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import remotes  # the tests/support/remotes.py plugin (always present)
from support.checks import assert_cache_objects_right
from support.commands import assert_one_line_error, run, run_pedata
from support.resolve import _consumer_env, _publish_to

from dvc_pedata.base.atomic import TMP_PREFIX

pytestmark = pytest.mark.slow  # emulator tests: `pytest -m 'not slow'` is the fast lane

URI = "pedata://us/people@latest"


def _cached(cache: Path) -> list[Path]:
    root = cache / "sha256"
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(TMP_PREFIX)] if root.exists() else []


def _temps(cache: Path) -> list[Path]:
    root = cache / "sha256"
    return [p for p in root.rglob(f"{TMP_PREFIX}*") if p.is_file()] if root.exists() else []


SIZE = 1 << 20
STALL_AFTER = 384 << 10  # body bytes the server sends before it hangs: well inside the object


def test_s3_server_stops_mid_transfer_then_retry_succeeds(s3_server, s3_remote, tmp_path):
    origin, sha, md5 = _publish_to(s3_remote, tmp_path, size=SIZE)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    cache = tmp_path / "cache"
    env = {**os.environ, **_consumer_env("s3"), **remotes.S3_FAIL_FAST_ENV, "PEDATA_CACHE_DIR": str(cache)}
    try:
        # The server answers the object's GET with part of its body, then hangs (a stalled
        # network); the server is stopped exactly then, cutting that connection mid-body.
        with s3_server.stall_downloads(md5[2:], after=STALL_AFTER) as stall:
            proc = subprocess.Popen([sys.executable, "-m", "dvc_pedata", "get", URI], cwd=clone, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            started = stall.stalled.wait(timeout=90)
            staged = _temps(cache)  # the resolver's staged write for this object is open
            s3_server.stop()
            _, err = proc.communicate(timeout=120)
        # The transfer really had started: the GET for this object arrived and part of its body
        # (not all of it) was on the wire, while the resolver held its temporary file.
        assert started, ("the get never reached the object's download", err)
        assert any(md5[2:] in path for path in stall.requests), stall.requests
        assert 0 < stall.sent < SIZE, stall.sent
        assert [p.name.startswith(f"{TMP_PREFIX}{sha[2:14]}") for p in staged] == [True], staged
        # A clear one-line error naming the URI; nothing partial under a sha256 name, no temp left.
        assert proc.returncode != 0, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("pedata: error: ") and "Traceback" not in err, err
        assert URI in lines[0] and "could not be fetched" in lines[0], lines[0]
        assert _cached(cache) == [] and _temps(cache) == []
        # While the server is down a new attempt fails the same clean way.
        res = run_pedata("get", URI, cwd=clone, env={**env})
        assert_one_line_error(res, URI)
        assert _cached(cache) == []
    finally:
        s3_server.start()
    # Back up: the retry downloads the whole object and caches it under its sha256.
    res = run_pedata("get", URI, "--json", cwd=clone, env=env)
    assert res.ok, res
    assert [p.parent.name + p.name for p in _cached(cache)] == [sha]
    assert _temps(cache) == []
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
