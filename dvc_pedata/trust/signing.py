"""Signatures over documents: DSSE pre-authentication encoding, thresholds, role scopes.

What is signed is ``PAE(type, body)`` where ``type`` names the document kind the *verifier*
expects (``application/vnd.pedata.<kind>+json``) and ``body`` is the RFC 8785 canonical JSON of
the ``signed`` part. Binding the kind means a signature made for a channel can never be replayed
onto a release or a root with the same bytes, and the canonical form means re-indenting a file
changes nothing while any change of content breaks every signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dvc_pedata.base import gitio
from dvc_pedata.errors import NotARegistryError, SignatureError, UsageError
from dvc_pedata.model.canonical import canonical_bytes
from dvc_pedata.model.documents import Document, Root, load_any
from dvc_pedata.model.names import ROLES
from dvc_pedata.trust.keys import PublicKey, Signer, short


def payload_type(kind: str) -> str:
    """The DSSE payload type of a document kind."""
    return f"application/vnd.pedata.{kind}+json"


def pae(payload_type_: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: ``DSSEv1 SP len(type) SP type SP len(body) SP body``."""
    t = payload_type_.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def signing_bytes(doc: Document) -> bytes:
    """The exact bytes a signature of ``doc`` covers (kind from the document's class)."""
    return pae(payload_type(type(doc).kind), canonical_bytes(doc.body))


def sign(doc: Document, signer: Signer) -> None:
    """Add (or replace) ``signer``'s signature on ``doc``; the body is never touched."""
    if not type(doc).signed_kind:
        raise SignatureError(f"a {doc.kind} document is not signed")
    sig = signer.sign(signing_bytes(doc)).hex()
    entry = {"keyid": signer.keyid, "sig": sig}
    kept = [s for s in doc.signatures if s.get("keyid") != signer.keyid]
    doc.signatures[:] = [*kept, entry]


def _sig_bytes(entry: Mapping[str, str]) -> bytes | None:
    sig = entry.get("sig")
    if not isinstance(sig, str) or len(sig) != 128:
        return None
    try:
        return bytes.fromhex(sig)
    except ValueError:
        return None


@dataclass
class SignatureReport:
    """Every signature on a document sorted into valid, bad and unknown-key (for ``verify``)."""

    valid: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)

    def notes(self) -> list[str]:
        """Human-readable lines about signatures that did not count."""
        out = [f"signature by key {short(k)} does not verify" for k in sorted(self.invalid - self.valid)]
        out += [f"key {short(k)} is not in the trust root" for k in sorted(self.unknown)]
        return out


def signature_report(doc: Document, keys: Mapping[str, str]) -> SignatureReport:
    """Check each signature on ``doc`` against ``keys`` (keyid -> public key hex)."""
    report = SignatureReport()
    data = signing_bytes(doc)
    for entry in doc.signatures:
        keyid = entry.get("keyid", "")
        public = keys.get(keyid)
        if public is None:
            report.unknown.add(keyid)
            continue
        sig = _sig_bytes(entry)
        if sig is not None and PublicKey(keyid, public).verify(sig, data):
            report.valid.add(keyid)
        else:
            report.invalid.add(keyid)
    return report


def valid_keyids(doc: Document, keys: Mapping[str, str]) -> set[str]:
    """Keyids with at least one valid signature on ``doc``; each counts once however often it signs."""
    return signature_report(doc, keys).valid


def root_keys(root: Root) -> dict[str, str]:
    """keyid -> public hex for every key a root lists, skipping entries whose keyid is a lie."""
    out: dict[str, str] = {}
    for keyid, entry in root.keys.items():
        try:
            pk = PublicKey.from_hex(entry["public"])
        except Exception:
            continue
        if pk.keyid == keyid:
            out[keyid] = pk.public
    return out


def _scope_text(namespaces: Iterable[str]) -> str:
    return "[" + ", ".join(namespaces) + "]"


def check_threshold(doc: Document, root: Root, role: str, namespace: str | None = None) -> list[str]:
    """Problems preventing ``doc`` from counting as signed by ``role`` under ``root``; [] = OK.

    When the threshold is met, signatures that did not count are not problems (extra signers are
    harmless); when it is not met, each is explained so the user knows whom to ask.
    """
    spec = root.role(role)
    if spec is None:
        return [f"unknown role {role!r} (roles: {', '.join(ROLES)})"]
    threshold, members, scope = spec.threshold, set(spec.keyids), spec.namespaces
    report = signature_report(doc, root_keys(root))
    notes: list[str] = []
    counted: set[str] = set()
    for keyid in sorted(report.valid):
        if keyid not in members:
            notes.append(f"key {short(keyid)} is not a {role} key")
        elif namespace is not None and scope is not None and namespace not in scope:
            notes.append(
                f"role {role} of key {short(keyid)} is scoped to {_scope_text(scope)}, "
                f"not namespace {namespace!r}"
            )
        else:
            counted.add(keyid)
    if len(counted) >= threshold:
        return []
    return [f"signed by {len(counted)} of {threshold} required {role} keys", *notes, *report.notes()]


@dataclass
class SignFileResult:
    """What ``pedata sign`` did to one file."""

    path: str
    kind: str
    digest: str
    keyids: list[str]
    labels: list[str]
    changed: bool

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "kind": self.kind, "digest": self.digest, "signed_by": self.keyids,
                "changed": self.changed}


def sign_file(path: str | Path, refs: Sequence[str]) -> SignFileResult:
    """Add the signatures of ``refs`` to the document at ``path``; ``signed`` stays byte-for-byte equal.

    All keys are loaded before anything is written, the file is replaced atomically, and inside a
    git work tree it is ``git add``-ed so the next commit carries it.
    """
    from dvc_pedata.trust.keys import (  # lazy: cryptography; only signed refs and signing pay for it
        load_signer,
    )

    path = Path(path)
    doc = load_any(path)
    if not type(doc).signed_kind:
        raise UsageError(f"{path}: a {doc.kind} document is not signed")
    if not refs:
        raise UsageError("give --sign KEY")
    signers = [load_signer(ref) for ref in refs]
    body_before = canonical_bytes(doc.body)
    for signer in signers:
        sign(doc, signer)
    assert canonical_bytes(doc.body) == body_before
    changed = doc.save(path)
    try:
        top = gitio.toplevel(path.resolve().parent)
    except NotARegistryError:
        top = None
    if top is not None and changed:
        gitio.add(top, [str(path.resolve().relative_to(top.resolve()))])
    return SignFileResult(str(path), doc.kind, doc.digest, [s.keyid for s in signers],
                          [s.label() for s in signers], changed)
