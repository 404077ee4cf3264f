"""The attacker's signing kit: sign a document from a key file and the documented format alone.

docs/trust.md: a signature covers DSSE v1 PAE of ``application/vnd.pedata.<kind>+json`` and the
RFC 8785 canonical JSON of ``signed``; the keyid is the sha256 hex of the raw 32-byte public key;
``sig`` is the hex Ed25519 signature; files are sorted-key, two-space-indent JSON with a newline.
Nothing here imports pedata, so a test that forges with it proves the format, not pedata's code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.hazmat.primitives import serialization


def write_signed(path: Path, kind: str, signed: dict[str, Any], key_file: Path | None) -> None:
    """Write ``{"signed": ..., "signatures": [...]}`` to ``path``, signed with ``key_file`` if given."""
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
