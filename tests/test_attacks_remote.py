"""A hostile remote or a pushed wrong size must never cost a consumer its disk or its cache.

* A bucket object far larger than its pin (a hostile mirror with write access to the DVC remote)
  is refused after pinned size + 1 bytes: the consumer runs with ``RLIMIT_FSIZE`` a few MB above
  the pin, so writing the object in full would fail with EFBIG instead of the refusal.
* A channel whose pin names the right sha256 with a wrong ``size`` (push access to the registry,
  ``latest`` is unsigned) is reported; the verified, shared cache object is kept.

Real moto S3 server, real git, the real CLI in a subprocess; the consumer resolves before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import rfc8785
from support.commands import Result, assert_one_line_error, run, run_pedata
from support.resolve import _consumer_env, _publish_to

from dvc_pedata.base.atomic import TMP_PREFIX

URI = "pedata://us/people@latest"
SIZE = 300_000
LIMIT = 4 << 20  # the consumer's largest possible file: far below the hostile object


def _get_limited(clone: Path, env: dict[str, str]) -> Result:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    proc = subprocess.run([sys.executable, "-m", "dvc_pedata", "get", URI], cwd=clone, env={**os.environ, **env},
                          capture_output=True, text=True, preexec_fn=limit, timeout=300)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _cache_files(cache: Path) -> list[Path]:
    root = cache / "sha256"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_remote_object_larger_than_its_pin_stops_at_pin_plus_one_byte(s3_remote, tmp_path):
    origin, sha, md5 = _publish_to(s3_remote, tmp_path, size=SIZE)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    env = {**_consumer_env("s3"), "PEDATA_CACHE_DIR": str(tmp_path / "cache-before")}
    res = _get_limited(clone, env)
    assert res.ok and res.stdout.strip().endswith(sha[2:]), res  # the consumer resolves before

    key = s3_remote.object_key(md5)
    good = s3_remote.read_object(key)
    s3_remote.write_object(key, good + os.urandom(1 << 20) * 24)  # 24 MB past the pinned bytes
    cache = tmp_path / "cache-after"
    res = _get_limited(clone, {**env, "PEDATA_CACHE_DIR": str(cache)})
    assert_one_line_error(res, URI, f"expected sha256 {sha} ({SIZE} bytes), got more than the pinned {SIZE} bytes",
                          "nothing was cached")
    assert [p for p in _cache_files(cache) if not p.name.startswith(TMP_PREFIX)] == []

    s3_remote.write_object(key, good)
    res = _get_limited(clone, {**env, "PEDATA_CACHE_DIR": str(cache)})
    assert res.ok and Path(res.stdout.strip()).read_bytes() == good, res  # and after


def test_pin_with_a_wrong_size_is_reported_and_the_verified_object_kept(s3_remote, tmp_path):
    origin, sha, _ = _publish_to(s3_remote, tmp_path, size=SIZE)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    env = _consumer_env("s3")
    res = run_pedata("get", URI, cwd=clone, env=env)
    assert res.ok, res
    obj = Path(res.stdout.strip())
    good = obj.read_bytes()

    # the attacker (push access, no keys) commits a manifest and latest with the right sha256 and
    # a wrong size (the pin's manifest_sha256 re-derived: sha256 of the manifest's RFC 8785 JSON)
    mpath = origin / f"manifests/us/people/{sha}.json"
    manifest = json.loads(mpath.read_text())
    manifest["size"] = SIZE + 1
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    path = origin / "channels/us/latest.json"
    doc = json.loads(path.read_text())
    doc["signed"]["artifacts"]["people"].update(size=SIZE + 1, manifest_sha256=hashlib.sha256(rfc8785.dumps(manifest)).hexdigest())
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    run(["git", "commit", "-qam", "size"], cwd=origin)
    run(["git", "pull", "-q"], cwd=clone)
    for args in (("get", URI, "--offline"), ("get", URI)):
        res = run_pedata(*args, cwd=clone, env=env)
        assert_one_line_error(res, f"sha256:{sha} is {SIZE} bytes", f"but the pin says {SIZE + 1} bytes",
                              "the cached object was kept")
        assert obj.read_bytes() == good  # never deleted

    run(["git", "revert", "--no-edit", "HEAD"], cwd=origin)
    run(["git", "pull", "-q"], cwd=clone)
    res = run_pedata("get", URI, "--offline", cwd=clone, env=env)
    assert res.ok and res.stdout.strip() == str(obj), res
