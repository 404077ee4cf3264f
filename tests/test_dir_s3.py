"""Directory artifacts over a real S3 API (moto on 127.0.0.1): a folder of PolicyEngine HDF5 files.

Publish a DVC-tracked folder, certify it (``pedata promote`` + ``pedata certify``), then from a fresh clone: fetch one file by ``;path=`` (the moto server
counts the GETs: exactly one object is read), fetch the whole folder (one GET per distinct
object), recompute the Merkle digest with the documented snippet, and resume a get killed half way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from support import remotes  # the tests/support/remotes.py plugin (always present)
from support.commands import run, run_pedata
from support.dirs import certify, make_registry, snippet_digest, trust_init

pytestmark = pytest.mark.slow  # emulator tests: `pytest -m 'not slow'` is the fast lane

# moto answers ~0.1-0.6 s per request on two shared cores, so the 500-file test runs on a local
# remote (tests/test_dir_local.py, counting opens with inotify); here 44 files show the same over S3.
N_CONST, N_DIST = 40, 3  # + one byte-identical copy = 44 files, 43 distinct objects
N_FILES = N_CONST + N_DIST + 1
URI = "pedata://uk/local_areas@v2.0.0"
CREDS = {"AWS_ACCESS_KEY_ID": remotes.S3_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": remotes.S3_SECRET_ACCESS_KEY}


class Counting:
    """WSGI middleware on the moto server: counts GETs and bytes per object key; can hold GETs.

    With ``allow`` set, object GETs after the first ``allow`` wait on ``release`` (and ``blocked``
    is set), so a test can kill a client while some files are done and others are in flight.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.gets: Counter[str] = Counter()
        self.bytes = 0
        self.allow: int | None = None
        self.blocked = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        is_object = environ.get("REQUEST_METHOD") == "GET" and "/files/md5/" in path
        if is_object:
            with self._lock:
                self.gets[path] += 1
                n = sum(self.gets.values())
            if self.allow is not None and n > self.allow:
                self.blocked.set()
                self.release.wait(60)
        body = self.app(environ, start_response)
        if not is_object:
            return body
        chunks = list(body)
        with self._lock:
            self.bytes += sum(len(c) for c in chunks)
        return chunks

    def reset(self) -> None:
        self.gets.clear()
        self.bytes = 0
        self.allow = None
        self.blocked.clear()
        self.release.clear()


@pytest.fixture(scope="module")
def counting(s3_server):
    if not s3_server.running:
        s3_server.start()
    server = s3_server._server
    mw = Counting(server.app)
    server.app = mw
    try:
        yield mw
    finally:
        mw.release.set()
        if s3_server._server is server:
            server.app = mw.app


@pytest.fixture(scope="module")
def published(tmp_path_factory, s3_server, counting):
    base = tmp_path_factory.mktemp("dir-s3")
    remote = s3_server.make_remote()
    reg = make_registry(base, remote, constituencies=N_CONST, districts=N_DIST)
    out = reg.publish()
    trust_init(reg)
    run(["git", "add", "-A"], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "trust root"], cwd=reg.origin)
    certify(reg)
    art = out["artifacts"][0]
    return reg, remote, art


def _clone(reg, dest: Path) -> Path:
    run(["git", "clone", "-q", str(reg.origin), str(dest)], cwd=dest.parent)
    return dest


def test_publish_folder_manifest(published):
    reg, remote, art = published
    m = reg.manifest(art["sha256"])
    assert m["format"] == "directory" and m["digest"]["md5"].endswith(".dir")
    assert m["files"]["count"] == N_FILES and len(m["files"]["entries"]) == N_FILES  # inline: <= 1,000 files
    layouts = m["schema"]["layouts"]
    assert [(g["files"], g["format"]) for g in layouts] == [(N_CONST, "hdf5"), (N_DIST + 1, "hdf5")]
    assert "council_tax" in {f["name"] for f in layouts[1]["schema"]["fields"]}
    assert "council_tax" not in {f["name"] for f in layouts[0]["schema"]["fields"]}
    entries = m["files"]["entries"]
    assert m["schema"]["rows"] == sum(e["rows"] for e in entries) == sum(g["rows"] for g in layouts)
    assert layouts[0]["entities"]["household"] == 2 * N_CONST
    assert m["size"] == sum(e["size"] for e in entries) == sum(p.stat().st_size for p in (reg.origin / "local_areas").rglob("*.h5"))
    # The bytes are in the bucket: one object per distinct file + DVC's .dir listing.
    keys = [k for k in remote.list_objects() if k.startswith("files/md5/")]
    assert len(keys) == len({e["md5"] for e in entries}) + 1 == N_FILES
    # The documented standard-library snippet recomputes the identity from the published folder.
    assert snippet_digest(reg.origin / "local_areas") == art["sha256"]
    res = run_pedata("verify", "--json", cwd=reg.origin, env=reg.env)
    assert res.ok, res.stdout


def test_path_qualifier_reads_only_that_file(published, counting, tmp_path):
    reg, remote, art = published
    clone = _clone(reg, tmp_path / "clone")
    target = "constituency/E14000023.h5"
    counting.reset()
    res = run_pedata("get", f"{URI};path={target}", "--json", "-o", str(tmp_path / "one.h5"), cwd=clone, env=CREDS)
    assert res.ok, res
    data = json.loads(res.stdout)
    entry = next(e for e in reg.manifest(art["sha256"])["files"]["entries"] if e["path"] == target)
    assert (data["sha256"], data["directory_sha256"], data["verified_by"]) == (entry["sha256"], art["sha256"], "certifier")
    assert (tmp_path / "one.h5").read_bytes() == (reg.origin / "local_areas" / target).read_bytes()
    # Only that file crossed the wire: one GET, of its own object, and exactly its bytes.
    assert list(counting.gets.values()) == [1]
    assert next(iter(counting.gets)).endswith(f"files/md5/{entry['md5'][:2]}/{entry['md5'][2:]}")
    assert counting.bytes == entry["size"]
    # A second get is a cache hit: no request at all.
    counting.reset()
    assert run_pedata("get", f"{URI};path={target}", cwd=clone, env=CREDS).ok
    assert counting.gets == Counter()


def test_whole_folder_then_resume_after_kill(published, counting, tmp_path):
    reg, remote, art = published
    clone = _clone(reg, tmp_path / "clone")
    entries = reg.manifest(art["sha256"])["files"]["entries"]
    distinct = len({e["sha256"] for e in entries})
    cache = Path(os.environ["PEDATA_CACHE_DIR"])
    # First attempt: 15 object GETs are served, the rest hang; the client is then killed.
    counting.reset()
    counting.allow = 15
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc_pedata", "get", URI], cwd=clone, env={**os.environ, **CREDS},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    def finished() -> list[Path]:
        return [p for p in (cache / "sha256").glob("*/*") if not p.name.startswith(".pedata-tmp-")]

    try:
        assert counting.blocked.wait(120), "the get never got past 15 files"
        # the 16th request hangs; a batch whose objects were all served is still being made
        # durable and named (two syncs), so the kill waits for the first finished object
        deadline = time.monotonic() + 60
        while not finished() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        counting.release.set()
    kept = finished()
    assert 0 < len(kept) <= 15
    assert not (cache / "trees").exists() or not list((cache / "trees").glob("*.json"))
    # Resume: only the missing objects are requested, each once.
    counting.reset()
    res = run_pedata("get", URI, "--json", "-o", str(tmp_path / "ws"), cwd=clone, env=CREDS)
    assert res.ok, res
    assert sum(counting.gets.values()) == distinct - len(kept)
    assert max(counting.gets.values()) == 1
    data = json.loads(res.stdout)
    assert data["files"] == N_FILES and data["sha256"] == art["sha256"]
    assert snippet_digest(tmp_path / "ws") == art["sha256"]
    assert snippet_digest(Path(data["path"])) == art["sha256"]  # the cached tree
    from dvc_pedata.resolver.cachecheck import verify_all

    report = verify_all(cache)
    assert report.ok and report.objects == distinct and report.trees == 1, report.problems
    # Everything is cached now: a third get reads nothing from S3.
    counting.reset()
    assert run_pedata("get", URI, cwd=clone, env=CREDS).ok
    assert counting.gets == Counter()
