"""Writing registry documents directly, as an attacker or a test fixture would (not through pedata's commands)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dvc_pedata.model.documents import Channel, Manifest, new_body
from dvc_pedata.publish.channels import advance, pin_of
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys, signing
from support.commands import run_pedata


def add_manifest(reg: Registry, ns: str, name: str, payload: bytes, rows: int = 10) -> dict:
    sha = hashlib.sha256(payload).hexdigest()
    body = new_body(
        "manifest", namespace=ns, name=name, path=f"data/{name}.bin", size=len(payload), format="binary",
        media_type="application/octet-stream", digest={"sha256": sha, "md5": hashlib.md5(payload).hexdigest()},
        schema={"rows": rows}, inputs={"deps": [], "params": {}, "locks": {}, "composite_digest": None},
        producer={"stage": None}, licence="CC0-1.0",
    )
    m = Manifest(body)
    m.save(reg.manifest_path(ns, name, sha))
    return pin_of(sha, m.digest, len(payload))


def write_channel(reg: Registry, ns: str, channel: str, pins: dict, signers=(), expires=None, replace=True) -> Channel:
    doc = advance(reg, ns, channel, pins, replace=replace, expires=expires)
    assert doc is not None
    for s in signers:
        signing.sign(doc, keys.load_signer(s))
    doc.save(reg.channel_path(ns, channel))
    return doc


def cli(repo: Path, *args: str):
    res = run_pedata(*args, cwd=repo)
    assert res.ok, (args, res.stdout, res.stderr)
    return res
