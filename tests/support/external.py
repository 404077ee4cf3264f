"""A fake Hugging Face on 127.0.0.1 speaking TLS (a throwaway self-signed certificate), a second
HTTPS host standing in for its CDN, and registries holding external pins written through the API.

Routes follow Hugging Face's: ``/{repo_id}/resolve/{rev}/{path}`` (models) and
``/datasets/{repo_id}/resolve/{rev}/{path}`` (datasets). Unknown repositories answer like the real
site does to an anonymous client (401 with ``X-Error-Code: RepoNotFound``); the gated one answers
401 ``GatedRepo`` without the right bearer token, and redirects to the CDN with it.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TOKEN = "hf_test_token_0123456789"
REV = "0123456789abcdef0123456789abcdef01234567"


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed CA-capable certificate for 127.0.0.1 and localhost (cert, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pedata test host")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Route:
    body: bytes | None = None
    status: int = 200
    redirect: str | None = None  # absolute URL, or a "cdn:" path on the second host
    token: str | None = None  # required bearer token (gated)


@dataclass
class Host:
    server: http.server.ThreadingHTTPServer
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Authorization)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"


def _handler(host_ref: list[Host], cdn_ref: list[Host]):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            host = host_ref[0]
            host.log.append((self.path, self.headers.get("Authorization")))
            route = host.routes.get(self.path)
            if route is None:
                self.send_response(401 if self.headers.get("Authorization") is None else 404)
                self.send_header("X-Error-Code", "RepoNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.token is not None and self.headers.get("Authorization") != f"Bearer {route.token}":
                self.send_response(401 if self.headers.get("Authorization") is None else 403)
                self.send_header("X-Error-Code", "GatedRepo")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.redirect is not None:
                target = route.redirect
                if target.startswith("cdn:"):
                    target = cdn_ref[0].base + target[4:]
                self.send_response(302)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Length", str(len(route.body or b"")))
            self.end_headers()
            self.wfile.write(route.body or b"")

    return Handler


def _serve(cert: Path, key: Path, host_ref: list[Host], cdn_ref: list[Host]) -> Host:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(host_ref, cdn_ref))
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    host = Host(server)
    host_ref.append(host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return host


@dataclass
class FakeHF:
    hub: Host
    cdn: Host
    cert: Path

    def env(self, **extra: str) -> dict[str, str]:
        return {"HF_ENDPOINT": self.hub.base, "PEDATA_CA_BUNDLE": str(self.cert), "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost", **extra}

    def requests(self) -> list[str]:
        return [p for p, _ in self.hub.log] + ["cdn:" + p for p, _ in self.cdn.log]

    def clear(self) -> None:
        self.hub.log.clear()
        self.cdn.log.clear()

    def close(self) -> None:
        for h in (self.hub, self.cdn):
            h.server.shutdown()
            h.server.server_close()


def start_fake_hf(folder: Path) -> FakeHF:
    cert, key = make_cert(folder)
    hub_ref: list[Host] = []
    cdn_ref: list[Host] = []
    hub = _serve(cert, key, hub_ref, cdn_ref)
    cdn = _serve(cert, key, cdn_ref, cdn_ref)
    return FakeHF(hub, cdn, cert)


def hf_location(repo_id: str, path: str, repo_type: str | None, rev: str = REV) -> dict:
    """A location as ``pedata import-bundle`` records it from a PolicyEngine bundle manifest."""
    return {"type": "hf", "uri": f"hf://{repo_id}/{path}@{rev}", "repo_id": repo_id, "repo_type": repo_type,
            "revision": rev, "path": path}


def policyengine_h5(path: Path, households: int = 40) -> bytes:
    """A small PolicyEngine-layout HDF5 file (one group per variable, one dataset per period)."""
    import h5py
    import numpy as np

    persons = households * 2
    with h5py.File(path, "w", track_order=True) as fh:
        def put(name: str, data: object) -> None:
            fh.create_dataset(f"{name}/2024", data=data, track_times=False)

        put("person_id", np.arange(persons, dtype=np.int64))
        put("household_id", np.arange(households, dtype=np.int64))
        put("person_household_id", np.repeat(np.arange(households, dtype=np.int64), 2))
        put("household_weight", np.full(households, 1.5))
        put("person_weight", np.full(persons, 1.5))
        put("age", (np.arange(persons) % 90).astype(np.int16))
    return path.read_bytes()
