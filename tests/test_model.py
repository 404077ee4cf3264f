"""The fast lane: the data model and the signing core, in process (no git, no DVC, no subprocess).

These pin down the small exact pieces every command builds on: where documents live, the
reference grammar, typed documents that keep their bytes, the status order, and Ed25519/DSSE
signatures counted at a role's threshold.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dvc_pedata.errors import IntegrityError, InvalidNameError, UsageError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import pretty_bytes
from dvc_pedata.model.documents import STATUSES, Channel, Pin, Release, Root, new_body, status_rank
from dvc_pedata.model.merkle import FileEntry, check_entries
from dvc_pedata.model.uri import parse, parse_release_ref
from dvc_pedata.trust.keys import Signer
from dvc_pedata.trust.signing import check_threshold, sign

SHA = "ab" * 32
MSHA = "cd" * 32


def test_layout_builds_and_parses_every_document_place():
    assert layout.manifest("us", "cps", SHA) == f"manifests/us/cps/{SHA}.json"
    assert layout.channel("us", "next") == "channels/us/next.json"
    assert layout.release("us", "v1.2.0") == "releases/us/1.2.0.json"
    assert layout.tombstone(SHA) == f"tombstones/{SHA}.json"
    assert layout.root(7) == "trust/root/7.json"
    assert layout.parse(layout.release("us", "1.2.0")) == layout.Place("release", "us", None, "1.2.0")
    assert layout.parse(layout.channel("us", "next")) == layout.Place("channel", "us", "next")
    assert layout.parse(layout.manifest("us", "cps", SHA)) == layout.Place("manifest", "us", "cps", SHA)
    assert layout.parse("channels/us/extra/next.json") is None
    assert layout.parse("README.md") is None


@pytest.mark.parametrize("bad", [("../us", "x", SHA), ("us", "a/b", SHA), ("us", "x", "ABC")])
def test_layout_refuses_a_segment_that_is_not_a_name(bad):
    with pytest.raises(InvalidNameError):
        layout.manifest(*bad)


@pytest.mark.parametrize("ref", ["us@1.0.0", "us@v1.0.0", "us/v1.0.0", "us/1.0.0"])
def test_one_release_reference_grammar(ref):
    assert parse_release_ref(ref) == ("us", "1.0.0")


@pytest.mark.parametrize("ref", ["us", "us@", "@1.0.0", "US@1.0.0", "us@latest", "us#1.0.0"])
def test_a_bad_release_reference_is_a_usage_error(ref):
    with pytest.raises((UsageError, InvalidNameError)):
        parse_release_ref(ref)


def test_uri_round_trips():
    for text in (f"pedata://us/cps@sha256:{SHA}", "pedata://us/cps@v1.0.0", "pedata://us/cps@next"):
        assert str(parse(text)) == text
    assert parse("pe-data://us/cps@latest").ref_kind == "channel"


def _channel(extra: dict | None = None) -> Channel:
    pin = {"sha256": SHA, "manifest_sha256": MSHA, "size": 5, **(extra or {})}
    return Channel(new_body("channel", namespace="us", channel="next", version=3, prev=None, expires=None,
                            artifacts={"cps": pin}))


def test_pins_are_typed_and_keep_the_documents_bytes():
    ch = _channel({"note": "an unknown field is kept"})
    pin = ch.artifacts["cps"]
    assert isinstance(pin, Pin)
    assert (pin.sha256, pin.manifest_sha256, pin.size, pin.location) == (SHA, MSHA, 5, None)
    plain = {**ch.to_obj(), "signed": {**ch.body, "artifacts": {"cps": dict(pin)}}}
    assert ch.to_bytes() == pretty_bytes(plain)
    assert Channel.from_bytes(ch.to_bytes()).to_bytes() == ch.to_bytes()
    assert ch.version == 3 and ch.channel == "next"


def test_release_status_order_is_defined_once():
    assert STATUSES == ("provisional", "certified", "retired", "unreproducible")
    assert [status_rank(s) for s in STATUSES] == [0, 1, 2, 3]
    rel = Release(new_body("release", namespace="us", version="1.0.0", status="certified", pins={}))
    assert rel.status_rank == 1 and rel.notice is None


def _signer(name: str) -> Signer:
    return Signer(Ed25519PrivateKey.generate(), name)


def _root(signers: dict[str, list[Signer]], threshold: int = 1, scope: list[str] | None = None) -> Root:
    keys = {s.keyid: {"public": s.public.public} for group in signers.values() for s in group}
    roles = {role: {"keyids": [s.keyid for s in signers.get(role, [])], "threshold": threshold}
             for role in ("root", "promoter", "certifier", "revoker")}
    if scope is not None:
        roles["promoter"]["namespaces"] = scope
    return Root(new_body("root", version=1, expires=None, keys=keys, roles=roles))


def test_role_specs_and_thresholds_with_real_signatures():
    alice, bob, mallory = _signer("alice"), _signer("bob"), _signer("mallory")
    root = _root({"root": [alice], "promoter": [alice, bob], "certifier": [alice], "revoker": [alice]}, threshold=2)
    spec = root.role("promoter")
    assert spec is not None and spec.threshold == 2 and set(spec.keyids) == {alice.keyid, bob.keyid}
    ch = _channel()
    sign(ch, alice)
    sign(ch, alice)  # the same key twice counts once
    assert check_threshold(ch, root, "promoter")[0] == "signed by 1 of 2 required promoter keys"
    sign(ch, mallory)
    assert check_threshold(ch, root, "promoter")[0] == "signed by 1 of 2 required promoter keys"
    sign(ch, bob)
    assert check_threshold(ch, root, "promoter") == []
    ch.body["version"] = 4  # any change to the signed body voids every signature
    assert check_threshold(ch, root, "promoter")[0] == "signed by 0 of 2 required promoter keys"


def test_a_scoped_role_does_not_sign_for_another_namespace():
    alice = _signer("alice")
    root = _root({"root": [alice], "promoter": [alice], "certifier": [alice], "revoker": [alice]}, scope=["uk"])
    ch = _channel()
    sign(ch, alice)
    problems = check_threshold(ch, root, "promoter", "us")
    assert problems[0] == "signed by 0 of 1 required promoter keys"
    assert "scoped to [uk], not namespace 'us'" in problems[1]


@pytest.mark.parametrize(("paths", "clash"), [
    (["a/b", "a"], "a"),
    (["x/y/z.h5", "x/y"], "x/y"),
    (["d/e/f", "d/e/g", "d/e"], "d/e"),
])
def test_a_listing_naming_a_path_as_file_and_folder_is_refused(paths, clash):
    entries = [FileEntry(p, "0" * 64, 1) for p in paths]
    with pytest.raises(IntegrityError, match=f"'{clash}' is listed both as a file and as a folder"):
        check_entries(entries, "listing")
    check_entries([FileEntry(p, "0" * 64, 1) for p in paths if p != clash], "listing")  # without it: fine
