"""Properties of canonical JSON and signed files (hypothesis).

Canonical bytes are what digests and signatures cover, so they must not depend on how a
document was built (key order, float spelling), and no single-byte edit of a signed file may
slip through as a different, still-valid document.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvc_pedata.errors import DocumentError, PedataError
from dvc_pedata.model import canonical
from dvc_pedata.model.canonical import canonical_bytes, digest, loads_strict, pretty_bytes
from dvc_pedata.model.documents import Channel, Pin, new_body
from dvc_pedata.model.merkle import FileEntry, directory_digest, identity_list, listing_documents
from dvc_pedata.trust.keys import Signer
from dvc_pedata.trust.signing import sign, valid_keyids

EXACT = 2**53 - 1  # I-JSON's exact integer range, what RFC 8785 accepts
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-EXACT, max_value=EXACT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=25,
)


def reorder(value: object, rnd: random.Random) -> object:
    """The same JSON value with every object's keys inserted in a shuffled order."""
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: reorder(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [reorder(v, rnd) for v in value]
    return value


@given(json_values, st.randoms(use_true_random=False))
def test_equal_documents_have_the_same_canonical_bytes(value, rnd):
    shuffled = reorder(value, rnd)
    assert canonical_bytes(shuffled) == canonical_bytes(value)
    assert digest(shuffled) == digest(value)


@given(json_values)
def test_canonical_bytes_survive_the_file_form_and_reparsing(value):
    # What is on disk is the pretty form; reading it back must give the same identity.
    canon = canonical_bytes(value)
    assert canonical_bytes(loads_strict(pretty_bytes(value))) == canon


@given(json_values)
def test_the_file_form_is_exactly_json_dumps_indent_2_sorted(value):
    # pretty_bytes writes long containers item by item (memory); the bytes must be the standard
    # library's on both paths: as is, and with every container counted long
    expected = (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    assert pretty_bytes(value) == expected
    saved, canonical._LONG = canonical._LONG, 0
    try:
        assert pretty_bytes(value) == expected
    finally:
        canonical._LONG = saved


def test_rfc8785_number_and_string_forms():
    assert canonical_bytes([1e21, -0.0, 5e-324, 1e-7, 1.0, 100, 0.1, 2**53 - 1]) == (
        b"[1e+21,0,5e-324,1e-7,1,100,0.1,9007199254740991]"
    )
    assert canonical_bytes({"\u20ac": "\u00e9\u001f\n\"\\"}) == '{"\u20ac":"\u00e9\\u001f\\n\\"\\\\"}'.encode()
    # keys sort by UTF-16 code units: U+1F600 (D83D DE00) before U+FFFF, and "a" before both
    assert canonical_bytes({"\uffff": 1, "\U0001f600": 2, "a": 3}) == '{"a":3,"\U0001f600":2,"\uffff":1}'.encode()


def test_what_the_strict_parser_accepts_can_be_canonicalised():
    # 2**53 is not exactly representable for every reader: refused on the way in, not at signing
    for text in ("9007199254740992", "-9007199254740992"):
        with pytest.raises(DocumentError, match="outside the exact JSON range"):
            loads_strict(text)
    assert canonical_bytes(loads_strict("[9007199254740991,-9007199254740991]")) == (
        b"[9007199254740991,-9007199254740991]"
    )


_SIGNERS = [Signer(Ed25519PrivateKey.generate(), name) for name in ("alice", "bob")]
_KEYS = {s.keyid: s.public.public for s in _SIGNERS}


def _signed_channel_bytes() -> tuple[Channel, bytes]:
    doc = Channel(
        new_body(
            "channel", namespace="us", channel="next", version=7, prev="c" * 64, expires="2030-01-01T00:00:00Z",
            artifacts={"cps-2024.h5": {"sha256": "a" * 64, "manifest_sha256": "b" * 64, "size": 123456}},
        )
    )
    for signer in _SIGNERS:
        sign(doc, signer)
    return doc, doc.to_bytes()


_DOC, _FILE = _signed_channel_bytes()
WHITESPACE = b" \t\n\r"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(_FILE) - 1), st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_to_a_signed_file_is_caught(index, delta):
    original = _FILE[index]
    changed = (original + delta) % 256
    mutated = _FILE[:index] + bytes([changed]) + _FILE[index + 1:]
    try:
        doc = Channel.from_bytes(mutated, "channel")
    except PedataError:
        return  # fails to parse or to validate
    if valid_keyids(doc, _KEYS) != set(_KEYS):
        return  # fails signature verification
    # Still valid and fully signed: only insignificant whitespace may have changed, the document
    # is exactly the one that was signed, and verify's file-form check refuses the edited bytes.
    assert original in WHITESPACE and changed in WHITESPACE, (index, original, changed)
    assert doc.body == _DOC.body and doc.signatures == _DOC.signatures
    assert canonical_bytes(doc.body) == canonical_bytes(_DOC.body)
    assert not doc.is_file_form(mutated) and _DOC.is_file_form(_FILE)


_plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_plain_json)
def test_fast_canonical_path_equals_rfc8785(obj):
    """The C-speed path for float-free documents is byte-identical to the reference JCS."""
    import rfc8785

    from dvc_pedata.model.canonical import canonical_bytes

    try:
        expected = rfc8785.dumps(obj)
    except Exception:
        return  # e.g. lone surrogates: both paths refuse (checked elsewhere)
    assert canonical_bytes(obj) == expected


@pytest.mark.parametrize("text", ["[" + "9" * 5000 + "]", '{"n": -' + "1" * 18 + "}", "[9007199254740992]"])
def test_an_integer_beyond_the_exact_range_is_a_document_error_however_long(text):
    with pytest.raises(DocumentError, match="outside the exact JSON range"):
        loads_strict(text)



file_entries = st.lists(
    st.builds(
        FileEntry,
        path=st.text(min_size=1, max_size=12),
        sha256=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        size=st.integers(min_value=0, max_value=2**60),
        md5=st.none() | st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
        layout=st.none() | st.integers(min_value=0, max_value=2**60),
        rows=st.none() | st.integers(min_value=-(2**60), max_value=2**60) | st.booleans(),
    ),
    max_size=6,
)


@given(file_entries)
def test_a_listing_written_entry_by_entry_is_the_generic_documents_byte_for_byte(entries):
    # a folder's listing and Merkle digest skip the dict per file; the bytes must not change
    listing = [e.to_json() for e in entries]
    try:
        expected = (digest(listing), pretty_bytes(listing))
    except DocumentError:
        with pytest.raises(DocumentError):
            listing_documents(entries)
    else:
        assert listing_documents(entries) == expected
    try:
        expected_id = hashlib.sha256(canonical_bytes(identity_list(entries))).hexdigest()
    except DocumentError:
        with pytest.raises(DocumentError):
            directory_digest(entries)
    else:
        assert directory_digest(entries) == expected_id


def test_a_document_holding_typed_pins_takes_the_fast_path_with_the_same_bytes():
    body = {"kind": "release", "pins": {"b": Pin(size=3, sha256="ab" * 32, manifest_sha256="cd" * 32),
                                        "a": Pin(sha256="ef" * 32, manifest_sha256="01" * 32, size=None)}}
    assert canonical._plain(body)
    assert canonical_bytes(body) == rfc8785.dumps(body)

    class Reordered(dict):  # a mapping that reads differently is not trusted to the fast path
        def items(self):
            return reversed(list(super().items()))

    assert not canonical._plain({"x": Reordered(a=1)})


@given(st.text(alphabet="abAB09_-./\\ \x00é", max_size=20)
       | st.lists(st.sampled_from(["a", "b.c", ".git", ".GIT.", "..", ".", "", "-x", "_", ".dvc", "x ", "ok"]),
                  min_size=1, max_size=4).map("/".join))
def test_the_fast_inner_path_check_accepts_only_what_the_full_rules_accept(path):
    """A folder's paths take a one-regex fast path; it may refuse to decide, never decide otherwise."""
    from dvc_pedata.model import uri

    try:
        full = uri._check_inner_path_rules(path)
    except uri.URIError:
        full = None
    try:
        fast = uri.check_inner_path(path)
    except uri.URIError:
        fast = None
    assert fast == full


flat_dicts = st.lists(st.dictionaries(st.text(max_size=6), scalars | st.text(alphabet="}{,\x00\x01\"\\é ", max_size=6),
                                      min_size=1, max_size=4), min_size=1, max_size=6)


@given(flat_dicts, st.integers(min_value=0, max_value=3))
def test_a_list_of_flat_dicts_in_one_encoder_call_is_json_dumps_byte_for_byte(items, depth):
    """An inputs lock's entries are written with one C encoder call and a separator no JSON text
    holds raw; strings ending in ``}`` and holding control characters must not move a line break."""
    value: object = items
    for _ in range(depth):
        value = {"inputs": value}
    expected = (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    saved, canonical._LONG = canonical._LONG, 0
    try:
        assert pretty_bytes(value) == expected
    finally:
        canonical._LONG = saved
