"""Real DVC push/pull against the S3 (moto) and GCS (gcp-storage-emulator) test servers."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pytest
from support.commands import dvc_cmd, run
from support.remotes import S3_FAIL_FAST_ENV

pytestmark = pytest.mark.slow  # emulator tests: `pytest -m 'not slow'` is the fast lane

PAYLOAD = b"id,income\n1,52000\n2,61000\n"
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def _tracked_repo(git_repo: Path, remote) -> Path:
    run([*dvc_cmd(), "init", "-q"], cwd=git_repo)
    remote.configure(git_repo)
    (git_repo / "data.csv").write_bytes(PAYLOAD)
    run([*dvc_cmd(), "add", "-q", "data.csv"], cwd=git_repo)
    return git_repo


def _forget_local(repo: Path) -> None:
    (repo / "data.csv").unlink()
    shutil.rmtree(repo / ".dvc" / "cache")


def _roundtrip(repo: Path, remote) -> dict[str, float]:
    t0 = time.monotonic()
    run([*dvc_cmd(), "push"], cwd=repo)
    t1 = time.monotonic()
    assert remote.list_objects() == [remote.object_key(MD5)]
    assert remote.read_object(remote.object_key(MD5)) == PAYLOAD
    _forget_local(repo)
    t2 = time.monotonic()
    run([*dvc_cmd(), "pull"], cwd=repo)
    t3 = time.monotonic()
    assert (repo / "data.csv").read_bytes() == PAYLOAD
    return {"push": t1 - t0, "pull": t3 - t2}


@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_push_pull_roundtrip(kind, request, git_repo):
    remote = request.getfixturevalue(f"{kind}_remote")
    repo = _tracked_repo(git_repo, remote)
    times = _roundtrip(repo, remote)
    # gcsfs's gRPC bucket probe would stall ~60 s here; the whole roundtrip is a few seconds.
    assert times["push"] < 20 and times["pull"] < 20, times
    print(f"{kind}: push {times['push']:.2f} s, pull {times['pull']:.2f} s")


def test_configure_keeps_secrets_local(s3_remote, git_repo):
    run([*dvc_cmd(), "init", "-q"], cwd=git_repo)
    s3_remote.configure(git_repo, name="archive", default=False)
    shared = (git_repo / ".dvc" / "config").read_text()
    local = (git_repo / ".dvc" / "config.local").read_text()
    assert s3_remote.url in shared and s3_remote.options["endpointurl"] in shared
    assert "remote = archive" not in shared
    assert "secret_access_key" not in shared and "secret_access_key" in local


@pytest.mark.parametrize("kind", ["s3", "gs"])
def test_object_helpers(kind, request):
    remote = request.getfixturevalue(f"{kind}_remote")
    assert remote.list_objects() == []
    remote.write_object("files/md5/00/x", b"one")
    remote.write_object("other/y", b"two")
    assert remote.list_objects() == ["files/md5/00/x", "other/y"]
    assert remote.read_object("other/y") == b"two"
    remote.delete_object("other/y")
    assert remote.list_objects() == ["files/md5/00/x"]


def test_flipped_remote_bytes_are_pulled_silently(s3_remote, git_repo):
    """Remote verify is off for S3: the helpers can corrupt an object and DVC does not notice."""
    repo = _tracked_repo(git_repo, s3_remote)
    run([*dvc_cmd(), "push"], cwd=repo)
    key = s3_remote.object_key(MD5)
    bad = bytearray(s3_remote.read_object(key))
    bad[0] ^= 0xFF
    s3_remote.write_object(key, bytes(bad))
    _forget_local(repo)
    run([*dvc_cmd(), "pull"], cwd=repo)
    assert (repo / "data.csv").read_bytes() == bytes(bad)


def test_s3_server_restart_same_port(s3_server, s3_remote, git_repo):
    repo = _tracked_repo(git_repo, s3_remote)
    run([*dvc_cmd(), "push"], cwd=repo)
    port = s3_server.port
    s3_server.stop()
    try:
        _forget_local(repo)
        down = run([*dvc_cmd(), "pull"], cwd=repo, env=S3_FAIL_FAST_ENV, check=False)
        assert down.returncode != 0
        assert not (repo / "data.csv").exists()
    finally:
        s3_server.start()
    assert s3_server.port == port
    run([*dvc_cmd(), "pull"], cwd=repo)  # objects survived the restart: moto's state is in-process
    assert (repo / "data.csv").read_bytes() == PAYLOAD


def test_s3_stop_cuts_open_connections(s3_server, s3_remote):
    """A client in the middle of a request sees the connection drop, not a hang."""
    import socket

    s3_remote.write_object("big", b"x" * 1024)
    conn = socket.create_connection(("127.0.0.1", s3_server.port), timeout=10)
    try:
        # Headers promise a body that never comes: the server thread waits on this connection.
        conn.sendall(
            f"PUT /{s3_remote.bucket}/data/partial HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Length: 1000000\r\n\r\nabc".encode()
        )
        deadline = time.monotonic() + 5
        while not s3_server._conns and time.monotonic() < deadline:  # bounded readiness polling
            time.sleep(0.01)
        s3_server.stop()
        try:
            assert conn.recv(1024) == b""  # EOF
        except ConnectionResetError:
            pass
    finally:
        conn.close()
        s3_server.start()
    assert "partial" not in s3_remote.list_objects()


def test_gcs_server_restart_same_port(gcs_server, gs_remote):
    gs_remote.write_object("k", b"v")
    port = gcs_server.port
    gcs_server.stop()
    gcs_server.start()
    assert gcs_server.port == port
    assert gs_remote.read_object("k") == b"v"


def test_s3_reset_wipes_buckets(s3_server, s3_remote):
    s3_remote.write_object("k", b"v")
    s3_server.reset()
    names = [b["Name"] for b in s3_server.client.list_buckets().get("Buckets", [])]
    assert s3_remote.bucket not in names
