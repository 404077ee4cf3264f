"""The attacker's toolkit: forge signed pedata documents from a key file and the documented format.

Nothing here imports pedata. It follows docs/trust.md ("Signatures"): a signature is Ed25519
over the DSSE v1 PAE of ``application/vnd.pedata.<kind>+json`` and the RFC 8785 canonical JSON
of ``signed`` (for these documents -- ASCII keys, strings and integers -- that is
``json.dumps(sort_keys=True, separators=(",", ":"))``); a keyid is the sha256 of the raw
32-byte public key; the file is sorted keys, two-space indent, trailing newline.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


def load(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def sign(doc: dict[str, Any], kind: str, key_file: Path, *, replace: bool = False) -> dict[str, Any]:
    """Add (or, with ``replace``, set as the only) signature of the PEM private key in ``key_file``."""
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    keyid = hashlib.sha256(raw).hexdigest()
    ptype = f"application/vnd.pedata.{kind}+json".encode()
    body = canonical(doc["signed"])
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
    sigs = [] if replace else [s for s in doc.get("signatures", []) if s["keyid"] != keyid]
    doc["signatures"] = [*sigs, {"keyid": keyid, "sig": key.sign(pae).hex()}]
    return doc


def write_signed(path: Path, kind: str, signed: dict[str, Any], key_file: Path | None) -> None:
    """Write ``{"signed": ..., "signatures": [...]}`` to ``path``, signed with ``key_file`` if given.

    Canonical bytes through ``rfc8785`` itself (not :func:`canonical`): documents that carry
    non-ASCII text or lone surrogates must sign exactly as the standard says."""
    sigs = []
    if key_file is not None:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        body = rfc8785.dumps(signed)
        ptype = f"application/vnd.pedata.{kind}+json".encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
        sigs = [{"keyid": hashlib.sha256(raw).hexdigest(), "sig": key.sign(pae).hex()}]
    text = json.dumps({"signed": signed, "signatures": sigs}, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
