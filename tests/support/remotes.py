"""Real S3 and GCS servers on 127.0.0.1 for tests that push to and pull from DVC remotes.

Loaded from ``tests/conftest.py`` with ``pytest_plugins = ["support.remotes"]``.

Fixtures:

- ``s3_server`` (session): moto's S3 server in a thread (``S3Server``). ``stop()`` closes the
  listening socket *and* cuts every open connection (a client mid-transfer sees a reset, a new
  client gets "connection refused"); ``start()`` binds the same port again. Buckets and objects
  live in moto's in-process backend, so they survive a restart; ``reset()`` wipes them.
  ``stall_downloads(key, after)`` makes a GET of an object whose key contains ``key`` send its
  first ``after`` body bytes and then hang (a stalled network), so ``stop()`` lands mid-transfer.
- ``s3_remote`` (function): a fresh bucket on that server, as a ``Remote``.
- ``gcs_server`` (session): ``gcp-storage-emulator`` in memory (``GCSServer``), same interface.
- ``gs_remote`` (function): a fresh bucket on that server, as a ``Remote``.

gcsfs >= 2025 replaces ``gcsfs.GCSFileSystem`` with ``ExtendedGcsFileSystem`` unless
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT`` is false; that class asks the Storage Control gRPC API
for the bucket's layout before opening any file, which an HTTP-only emulator never answers
(retries until a 60 s deadline, per bucket and process). This module sets the variable to
``false`` in ``os.environ`` at import, so every ``dvc`` subprocess inherits it, and
``Remote.env`` carries it for callers that build their own environment. See
docs/testing-remotes.md.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

HOST = "127.0.0.1"

# Must be set before gcsfs is imported anywhere (it is read at import time) and inherited by the
# dvc subprocesses: keeps gcsfs on its plain JSON-API GCSFileSystem (no gRPC bucket-type probe).
GCS_ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
os.environ.update(GCS_ENV)

# S3: never read the developer's AWS files or probe EC2 instance metadata. botocore wants the
# files it is pointed to to exist (it rejects /dev/null), so point it to an empty one.
_AWS_DIR = Path(tempfile.mkdtemp(prefix="pedata-aws-"))
(_AWS_DIR / "empty").write_text("")
atexit.register(shutil.rmtree, _AWS_DIR, True)
S3_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": str(_AWS_DIR / "empty"),
    "AWS_SHARED_CREDENTIALS_FILE": str(_AWS_DIR / "empty"),
}
for _var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ.pop(_var, None)
os.environ.update(S3_ENV)
# For a command expected to fail while the S3 server is down: no botocore retries (a `dvc pull`
# against a stopped server fails in ~0.9 s instead of ~7 s).
S3_FAIL_FAST_ENV = {"AWS_MAX_ATTEMPTS": "1"}

# The servers are local: never route 127.0.0.1 through a proxy (aiohttp in dvc-gs trusts env).
_no_proxy = [p for p in os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")).split(",") if p]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(dict.fromkeys([*_no_proxy, HOST, "localhost"]))

S3_ACCESS_KEY_ID = "testing"
S3_SECRET_ACCESS_KEY = "testing"
S3_REGION = "us-east-1"
GCS_PROJECT = "pedata-test"

# Options that `configure` writes with `dvc remote modify --local` (kept out of .dvc/config).
SECRET_OPTIONS = frozenset({"access_key_id", "secret_access_key", "session_token", "credentialpath"})


def _wait_for_port(port: int, up: bool, timeout: float = 10.0) -> None:
    """Bounded readiness polling: until a TCP connect to the port succeeds (up) or is refused."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                reachable = True
        except OSError:
            reachable = False
        if reachable == up:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{HOST}:{port} still {'down' if up else 'up'} after {timeout} s")
        time.sleep(0.02)


def _unique_bucket(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _dvc() -> list[str]:
    return [str(Path(sys.executable).with_name("dvc"))]


def _dvc_run(args: list[str], repo: Path) -> None:
    proc = subprocess.run([*_dvc(), *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


class _ObjectStore(Protocol):
    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...
    def read(self, bucket: str, key: str) -> bytes: ...
    def write(self, bucket: str, key: str, data: bytes) -> None: ...
    def delete(self, bucket: str, key: str) -> None: ...


@dataclass
class Remote:
    """One DVC remote on a test server. Object keys in the helpers are relative to ``prefix``."""

    url: str
    options: dict[str, str]
    bucket: str
    prefix: str
    env: dict[str, str] = field(default_factory=dict)
    store: _ObjectStore = field(repr=False, default=None)  # type: ignore[assignment]

    def configure(self, repo: Path, name: str = "storage", default: bool = True) -> None:
        """Real ``dvc remote add`` (+ ``-d``), ``dvc remote modify`` per option; secrets ``--local``."""
        _dvc_run(["remote", "add", *(["-d"] if default else []), name, self.url], repo)
        for key, value in self.options.items():
            local = ["--local"] if key in SECRET_OPTIONS else []
            _dvc_run(["remote", "modify", *local, name, key, value], repo)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key.lstrip('/')}" if self.prefix else key.lstrip("/")

    def list_objects(self) -> list[str]:
        """Sorted keys under the remote's prefix, relative to it (e.g. ``files/md5/ab/cd...``)."""
        cut = len(self.prefix) + 1 if self.prefix else 0
        return sorted(k[cut:] for k in self.store.list_keys(self.bucket, self._key("")))

    def read_object(self, key: str) -> bytes:
        return self.store.read(self.bucket, self._key(key))

    def write_object(self, key: str, data: bytes) -> None:
        self.store.write(self.bucket, self._key(key), data)

    def delete_object(self, key: str) -> None:
        self.store.delete(self.bucket, self._key(key))

    @staticmethod
    def object_key(md5: str) -> str:
        """Where DVC 3 stores an object: ``files/md5/<2 hex>/<30 hex>``."""
        return f"files/md5/{md5[:2]}/{md5[2:]}"


# --------------------------------------------------------------------------------------------
# S3 (moto)


class Stall:
    """What a stalled download saw: ``requests`` (paths of the GETs it held), ``sent`` (body bytes
    written to the socket before the stall), and ``stalled`` (set once a GET hangs mid-body)."""

    def __init__(self, key: str, after: int) -> None:
        self.key = key
        self.after = after
        self.requests: list[str] = []
        self.sent = 0
        self.stalled = threading.Event()
        self.release = threading.Event()

    def body(self, path: str, body: Any) -> Iterator[bytes]:
        """The response body, cut into 64 KB pieces; after ``after`` bytes it hangs until released."""
        self.requests.append(path)
        sent = 0
        try:
            for chunk in body:
                for i in range(0, len(chunk), 1 << 16):
                    if sent >= self.after:
                        self.sent = max(self.sent, sent)
                        self.stalled.set()
                        self.release.wait(timeout=120)
                        return  # the connection is cut by now: the rest is never sent
                    piece = chunk[i : i + (1 << 16)]
                    yield piece  # returns once werkzeug has written it to the socket
                    sent += len(piece)
        finally:
            if hasattr(body, "close"):
                body.close()


class S3Server:
    """moto's S3 server on 127.0.0.1 that can stop (dropping live connections) and restart
    on the same port. Backend state is process-global in moto, so it survives a restart."""

    def __init__(self) -> None:
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._client: Any = None
        self._stall: Stall | None = None

    def _wsgi(self, app: Any) -> Any:
        """moto's WSGI app, with GETs of the stalled key routed through :class:`Stall`."""

        def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
            stall, path = self._stall, environ.get("PATH_INFO", "")
            if stall is None or environ.get("REQUEST_METHOD") != "GET" or stall.key not in path:
                return app(environ, start_response)
            return stall.body(path, app(environ, start_response))

        return wrapped

    @contextlib.contextmanager
    def stall_downloads(self, key: str, after: int) -> Iterator[Stall]:
        """While inside, a GET of an object whose key contains ``key`` sends ``after`` body bytes
        and then hangs until ``stop()`` cuts its connection (or the block ends)."""
        stall = self._stall = Stall(key, after)
        try:
            yield stall
        finally:
            self._stall = None
            stall.release.set()

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request
        app = self._wsgi(DomainDispatcherApplication(create_backend_app))
        server = make_server(HOST, self.port, app, threaded=True, request_handler=MotoRequestHandler)
        # Track open connections so stop() can cut them like a dying server would.
        process, finish = server.process_request, server.shutdown_request

        def process_request(request, client_address):
            with self._lock:
                self._conns.add(request)
            process(request, client_address)

        def shutdown_request(request):
            with self._lock:
                self._conns.discard(request)
            finish(request)

        server.process_request = process_request
        server.shutdown_request = shutdown_request
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=f"moto-s3-{self.port}", daemon=True)
        self._thread.start()
        _wait_for_port(self.port, up=True)

    def stop(self) -> None:
        """Stop listening (new connections are refused) and reset every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._stall is not None:  # a stalled response ends now, its connection already cut
            self._stall.release.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        _wait_for_port(self.port, up=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def reset(self) -> None:
        """Wipe all buckets and objects (moto's ``POST /moto-api/reset``)."""
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    @property
    def client(self):
        """A boto3 S3 client against this server (built once; the port never changes)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                aws_access_key_id=S3_ACCESS_KEY_ID,
                aws_secret_access_key=S3_SECRET_ACCESS_KEY,
                region_name=S3_REGION,
                config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
            )
        return self._client

    def iam_user(self, name: str) -> tuple[str, str]:
        """An IAM user allowed ``s3:*`` on this server, and its new access key (id, secret)."""
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint_url, aws_access_key_id=S3_ACCESS_KEY_ID,
                           aws_secret_access_key=S3_SECRET_ACCESS_KEY, region_name=S3_REGION)
        iam.create_user(UserName=name)
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName=name, PolicyName="s3-all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    @contextlib.contextmanager
    def enforce_credentials(self) -> Iterator[None]:
        """While inside, the server checks every request's key and signature against its IAM users
        (moto's own switch; by default moto accepts any key pair)."""
        from moto.core.authorization import enable_iam_authentication

        with enable_iam_authentication():
            yield

    # _ObjectStore
    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def read(self, bucket: str, key: str) -> bytes:
        return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def write(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

    def make_remote(self, prefix: str = "data") -> Remote:
        bucket = _unique_bucket("pedata-s3")
        self.client.create_bucket(Bucket=bucket)
        return Remote(
            url=f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}",
            options={
                "endpointurl": self.endpoint_url,
                "region": S3_REGION,
                "access_key_id": S3_ACCESS_KEY_ID,
                "secret_access_key": S3_SECRET_ACCESS_KEY,
            },
            bucket=bucket,
            prefix=prefix,
            env=dict(S3_ENV),
            store=self,
        )


# --------------------------------------------------------------------------------------------
# GCS (gcp-storage-emulator)


class GCSServer:
    """gcp-storage-emulator in memory on 127.0.0.1, spoken to over its JSON API with urllib."""

    def __init__(self) -> None:
        from gcp_storage_emulator.server import create_server

        self.port = 0
        self._server = create_server(HOST, 0, in_memory=True)
        self._running = False

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        if self._running:
            return
        from gcp_storage_emulator.server import APIThread

        api = self._server._api
        if api.ident is not None:  # a thread runs once: a fresh one on the same port and storage
            api = self._server._api = APIThread(HOST, self.port, self._server._storage)
        api.daemon = True
        self._server.start()
        self.port = api._httpd.server_address[1]
        self._running = True
        _wait_for_port(self.port, up=True)

    def stop(self) -> None:
        if not self._running:
            return
        self._server.stop()  # APIThread.join: httpd.shutdown() + server_close()
        threading.Thread.join(self._server._api, timeout=10)
        self._running = False
        _wait_for_port(self.port, up=False)

    def reset(self) -> None:
        self._server.wipe()

    def _request(self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
        req = urllib.request.Request(f"{self.endpoint_url}{path}", method=method, data=data, headers=headers or {})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()

    @staticmethod
    def _q(name: str) -> str:
        return urllib.parse.quote(name, safe="")

    # _ObjectStore
    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        token = None
        while True:
            query = {"prefix": prefix, **({"pageToken": token} if token else {})}
            page = json.loads(self._request("GET", f"/storage/v1/b/{self._q(bucket)}/o?{urllib.parse.urlencode(query)}"))
            keys += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                return keys

    def read(self, bucket: str, key: str) -> bytes:
        return self._request("GET", f"/download/storage/v1/b/{self._q(bucket)}/o/{self._q(key)}?alt=media")

    def write(self, bucket: str, key: str, data: bytes) -> None:
        query = urllib.parse.urlencode({"uploadType": "media", "name": key})
        self._request(
            "POST",
            f"/upload/storage/v1/b/{self._q(bucket)}/o?{query}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def delete(self, bucket: str, key: str) -> None:
        self._request("DELETE", f"/storage/v1/b/{self._q(bucket)}/o/{self._q(key)}")

    def make_remote(self, prefix: str = "data") -> Remote:
        bucket = _unique_bucket("pedata-gs")
        self._request(
            "POST",
            f"/storage/v1/b?project={GCS_PROJECT}",
            data=json.dumps({"name": bucket}).encode(),
            headers={"Content-Type": "application/json"},
        )
        return Remote(
            url=f"gs://{bucket}/{prefix}" if prefix else f"gs://{bucket}",
            options={"endpointurl": self.endpoint_url, "allow_anonymous_login": "true"},
            bucket=bucket,
            prefix=prefix,
            env=dict(GCS_ENV),
            store=self,
        )


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_remote(s3_server) -> Remote:
    if not s3_server.running:  # a previous test left it stopped
        s3_server.start()
    return s3_server.make_remote()


@pytest.fixture(scope="session")
def gcs_server():
    server = GCSServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gs_remote(gcs_server) -> Remote:
    if not gcs_server._running:
        gcs_server.start()
    return gcs_server.make_remote()
