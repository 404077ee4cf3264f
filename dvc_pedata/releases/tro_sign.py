"""A signed TRO: a DSSE envelope over the exact bytes of a TRO file, signed by certifier keys.

PolicyEngine's API asks for institutionally signed TROs (policyengine-api#3485). The envelope is
standard DSSE v1 JSON::

    {"payloadType": "application/vnd.pedata.tro+json",
     "payload": "<base64 of the .jsonld file's bytes>",
     "signatures": [{"keyid": "<sha256 of the raw Ed25519 public key>", "sig": "<base64>"}]}

Each ``sig`` is Ed25519 over ``PAE(payloadType, payload bytes)`` (the same pre-authentication
encoding as every pedata document, :func:`dvc_pedata.signing.pae`). The payload is the TRO file's
bytes as written, not a re-serialisation: a verifier base64-decodes ``payload``, checks the
signature against the certifier keys of the registry's trust root (``trust/root/<n>.json``), and
compares the decoded bytes with the ``.jsonld`` beside it. The payload type names pedata's TRO so
a certifier signature over a TRO can never be replayed as a pedata release or channel.

Only keys that are certifiers for the namespace in the current trust root may sign: the envelope
stands for the same authority as the release it describes, and only a release that itself meets
the certifier threshold (as the resolver judges it) is signed for.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

from dvc_pedata.model.documents import Release
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.source import open_registry
from dvc_pedata.trust import gate
from dvc_pedata.trust.signing import pae

TRO_PAYLOAD_TYPE = "application/vnd.pedata.tro+json"


def dsse_envelope(reg: Registry, ns: str, tro_bytes: bytes, key_refs: Sequence[str], release: Release,
                  release_path: str) -> bytes:
    """The DSSE envelope (pretty JSON bytes) over ``tro_bytes``, signed by certifier keys of ``ns``.

    The release the TRO describes must itself be trusted (certifier threshold, judged as the
    resolver judges it): a signature on the TRO must never vouch for a release nobody certified.
    """
    # _load_signers refuses keys that are not certifiers for ns in the current root
    from dvc_pedata.releases.certify import (
        _load_signers,  # lazy: cryptography; only signed refs and signing pay for it
    )

    signers, _ = _load_signers(reg, list(key_refs), ns)
    view = open_registry(str(reg.root))
    gate.require_committed(view, release, release_path, gate.load_root(view, None), "certifier", ns,
                           f"release {ns}@v{release.version}", None)
    signed = pae(TRO_PAYLOAD_TYPE, tro_bytes)
    env = {
        "payload": base64.b64encode(tro_bytes).decode("ascii"),
        "payloadType": TRO_PAYLOAD_TYPE,
        "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sign(signed)).decode("ascii")} for s in signers],
    }
    return (json.dumps(env, indent=2) + "\n").encode("utf-8")
