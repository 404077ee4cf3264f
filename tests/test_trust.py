"""Keys, DSSE signatures, thresholds and the rotating trust root, with real Ed25519 and real git."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from support.commands import assert_one_line_error, run

from dvc_pedata.base.timeutil import parse_time, utcnow
from dvc_pedata.errors import SignatureError
from dvc_pedata.model.canonical import canonical_bytes, pretty_bytes
from dvc_pedata.model.documents import Channel, Release, Root, new_body
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys as keymod
from dvc_pedata.trust.root import build_root, load_root_chain, verify_root_chain
from dvc_pedata.trust.signing import check_threshold, pae, sign, signing_bytes, valid_keyids

SHA_A = "a" * 64
SHA_B = "b" * 64


def keys_dir() -> Path:
    return Path(os.environ["PEDATA_KEYS_DIR"])


def staged(repo: Path) -> list[str]:
    return run(["git", "diff", "--cached", "--name-only"], cwd=repo).stdout.split()


def channel_doc(ns: str = "us", version: int = 1) -> Channel:
    body = new_body(
        "channel", namespace=ns, channel="next", version=version, prev=None, expires=None,
        artifacts={"cps": {"sha256": SHA_A, "manifest_sha256": SHA_B, "size": 10}},
    )
    doc = Channel(body)
    doc.validate()
    return doc


def make_root(signers: dict[str, list[keymod.Signer]], thresholds: dict[str, int] | None = None,
              scopes: dict[str, list[str]] | None = None, version: int = 1) -> Root:
    return build_root({r: [s.public for s in ss] for r, ss in signers.items()}, thresholds, scopes,
                      "2099-01-01T00:00:00Z", version)


@pytest.fixture
def alice_bob() -> tuple[keymod.Signer, keymod.Signer]:
    keymod.generate("alice")
    keymod.generate("bob")
    return keymod.load_signer("alice"), keymod.load_signer("bob")


# -- keys ---------------------------------------------------------------------------------------
def test_key_generate_writes_0600_key_and_prints_sha256_of_public_key(pedata, tmp_path):
    res = pedata("key", "generate", "alice", cwd=tmp_path)
    assert res.ok, res.stderr
    key, pub = keys_dir() / "alice.key", keys_dir() / "alice.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir().stat().st_mode) == 0o700
    raw = serialization.load_pem_public_key(pub.read_bytes()).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert res.stdout == hashlib.sha256(raw).hexdigest() + "\n"
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    assert private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw

    listed = json.loads(pedata("key", "list", "--json", cwd=tmp_path).stdout)
    assert [(k["name"], k["keyid"], k["mode"]) for k in listed["keys"]] == [("alice", hashlib.sha256(raw).hexdigest(), "0600")]


def test_key_generate_refuses_a_name_collision_and_keeps_the_old_key(pedata, tmp_path):
    assert pedata("key", "generate", "alice", cwd=tmp_path).ok
    before = (keys_dir() / "alice.key").read_bytes()
    res = pedata("key", "generate", "alice", cwd=tmp_path)
    assert_one_line_error(res, "a key named 'alice' already exists")
    assert (keys_dir() / "alice.key").read_bytes() == before
    assert sorted(p.name for p in keys_dir().iterdir()) == ["alice.key", "alice.pub"]


def test_key_generate_refuses_a_keys_folder_inside_the_work_tree(pedata, git_repo):
    inside = git_repo / "secrets" / "keys"
    res = pedata("key", "generate", "alice", cwd=git_repo, env={"PEDATA_KEYS_DIR": str(inside)})
    assert_one_line_error(res, "is inside the git work tree", "private keys must never be committed")
    assert not (git_repo / "secrets").exists()


def test_key_generate_refuses_an_invalid_name(pedata, tmp_path):
    assert_one_line_error(pedata("key", "generate", "../evil", cwd=tmp_path), "invalid key name")


def test_a_private_key_readable_by_others_is_refused_without_printing_it(pedata, git_repo):
    assert pedata("key", "generate", "alice", cwd=git_repo).ok
    key = keys_dir() / "alice.key"
    key.chmod(0o644)
    res = pedata("trust", "init", "--root", "alice", cwd=git_repo)
    assert_one_line_error(res, f"private key {key} is readable by others (mode 0644); chmod 600 it")
    body = key.read_text().splitlines()[1]
    assert body not in res.stderr and body not in res.stdout
    assert not (git_repo / "trust").exists()


def test_load_signer_by_path_and_unknown_name(alice_bob, tmp_path):
    alice, _ = alice_bob
    assert keymod.load_signer(str(keys_dir() / "alice.key")).keyid == alice.keyid
    assert keymod.load_public(str(keys_dir() / "alice.pub")).keyid == alice.keyid
    assert "PRIVATE" not in repr(alice) and alice.keyid[:12] in repr(alice)
    # the hint names the keys that are there, and that a new key needs a role in the trust root
    with pytest.raises(Exception, match=r"no private key 'carol' in .* \(keys there: alice, bob\); a new key "
                                        r"\('pedata key generate NAME'\) signs only once the trust root gives it the role"):
        keymod.load_signer("carol")
    with pytest.raises(Exception, match="'certifier' is a role, not a key: pass the name of a key that holds it"):
        keymod.load_signer("certifier")


# -- signatures ---------------------------------------------------------------------------------
def test_pae_is_dsse_v1():
    assert pae("application/vnd.pedata.channel+json", b"{}") == b"DSSEv1 35 application/vnd.pedata.channel+json 2 {}"


def test_signature_covers_pae_of_kind_and_canonical_body(alice_bob):
    alice, _ = alice_bob
    doc = channel_doc()
    sign(doc, alice)
    expected = b"DSSEv1 35 application/vnd.pedata.channel+json %d %s" % (
        len(canonical_bytes(doc.body)), canonical_bytes(doc.body))
    assert signing_bytes(doc) == expected
    assert alice.public.verify(bytes.fromhex(doc.signatures[0]["sig"]), expected)
    sign(doc, alice)  # re-signing replaces, never duplicates
    assert [s["keyid"] for s in doc.signatures] == [alice.keyid]


def test_one_key_signing_twice_does_not_meet_a_threshold_of_two(alice_bob):
    alice, bob = alice_bob
    root = make_root({"root": [alice], "promoter": [alice, bob], "certifier": [alice], "revoker": [alice]},
                     {"promoter": 2})
    doc = channel_doc()
    sign(doc, alice)
    doc.signatures.append(dict(doc.signatures[0]))
    assert valid_keyids(doc, {alice.keyid: alice.public.public}) == {alice.keyid}
    assert check_threshold(doc, root, "promoter") == ["signed by 1 of 2 required promoter keys"]
    sign(doc, bob)
    assert check_threshold(doc, root, "promoter") == []


def test_a_channel_signature_copied_onto_a_release_with_the_same_body_fails(alice_bob):
    alice, _ = alice_bob
    root = make_root({r: [alice] for r in ("root", "promoter", "certifier", "revoker")})
    chan = channel_doc()
    sign(chan, alice)
    assert check_threshold(chan, root, "certifier") == []
    forged = Release(dict(chan.body), [dict(s) for s in chan.signatures])
    assert valid_keyids(forged, {alice.keyid: alice.public.public}) == set()
    assert check_threshold(forged, root, "certifier") == [
        "signed by 0 of 1 required certifier keys", f"signature by key {alice.keyid[:12]} does not verify"]


def test_threshold_problems_name_wrong_roles_and_scopes(alice_bob):
    alice, bob = alice_bob
    root = make_root({"root": [alice], "promoter": [bob], "certifier": [alice], "revoker": [alice]},
                     scopes={"promoter": ["us"]})
    doc = channel_doc("uk")
    sign(doc, alice)
    sign(doc, bob)
    notes = sorted([(alice.keyid, f"key {alice.keyid[:12]} is not a promoter key"),
                    (bob.keyid, f"role promoter of key {bob.keyid[:12]} is scoped to [us], not namespace 'uk'")])
    assert check_threshold(doc, root, "promoter", "uk") == [
        "signed by 0 of 1 required promoter keys", *(m for _, m in notes)]
    assert check_threshold(doc, root, "promoter", "us") == []


def test_pedata_sign_adds_signatures_in_turn_without_changing_signed(pedata, git_repo, alice_bob):
    alice, bob = alice_bob
    path = git_repo / "channels" / "us" / "next.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(channel_doc().to_bytes())
    before = json.loads(path.read_bytes())["signed"]
    assert pedata("sign", str(path), "--sign", "alice", cwd=git_repo).ok
    res = pedata("sign", "channels/us/next.json", "--sign", "bob", "--json", cwd=git_repo)
    assert res.ok, res.stderr
    after = json.loads(path.read_bytes())
    assert after["signed"] == before and canonical_bytes(after["signed"]) == canonical_bytes(before)
    assert [s["keyid"] for s in after["signatures"]] == [alice.keyid, bob.keyid]
    assert json.loads(res.stdout)["signed_by"] == [bob.keyid]
    assert staged(git_repo) == ["channels/us/next.json"]
    doc = Channel.load(path)
    assert valid_keyids(doc, {k.keyid: k.public.public for k in (alice, bob)}) == {alice.keyid, bob.keyid}


def test_pedata_sign_with_a_missing_key_writes_nothing(pedata, git_repo, alice_bob):
    path = git_repo / "next.json"
    path.write_bytes(channel_doc().to_bytes())
    before = path.read_bytes()
    res = pedata("sign", "next.json", "--sign", "alice", "carol", cwd=git_repo)
    assert_one_line_error(res, "no private key 'carol'")
    assert path.read_bytes() == before


# -- the trust root -----------------------------------------------------------------------------
def test_trust_init_add_key_and_rotation_in_a_git_repo(pedata, git_repo, alice_bob):
    alice, bob = alice_bob
    res = pedata("trust", "init", "--root", "alice", "--promoter", "bob", "--threshold", "promoter=1",
                 "--scope", "promoter=us,uk", "--expires", "30d", cwd=git_repo)
    assert res.ok, res.stderr
    assert res.stdout.startswith("wrote trust/root/1.json (trust root version 1, sha256:")
    assert staged(git_repo) == ["trust/root/1.json"]
    one = Root.load(git_repo / "trust/root/1.json")
    assert (git_repo / "trust/root/1.json").read_bytes() == pretty_bytes(one.to_obj())
    assert one.roles["root"] == {"keyids": [alice.keyid], "threshold": 1}
    assert one.roles["promoter"] == {"keyids": [bob.keyid], "threshold": 1, "namespaces": ["uk", "us"]}
    assert one.roles["certifier"]["keyids"] == [alice.keyid]
    assert parse_time(one.expires) - utcnow() <= timedelta(days=30)
    assert parse_time(one.expires) - utcnow() > timedelta(days=29, hours=23)
    assert f"sha256:{one.digest}" in res.stdout

    run(["git", "commit", "-qm", "root 1"], cwd=git_repo)
    assert pedata("trust", "add-key", "root", "bob", "--sign", "alice", cwd=git_repo).ok
    # root 3 would need 2 of root 3's root keys: alice alone is refused, nothing written
    res = pedata("trust", "set-threshold", "root", "2", "--sign", "alice", cwd=git_repo)
    assert_one_line_error(res, "trust root 3 is signed by 1 of 2 required root keys of root 3; nothing written")
    assert not (git_repo / "trust/root/3.json").exists()
    assert pedata("trust", "set-threshold", "root", "2", "--sign", "alice", "bob", cwd=git_repo).ok
    # root 4 must satisfy root 3 (2 of alice, bob): bob alone is not enough
    res = pedata("trust", "remove-key", "root", "alice", "--sign", "bob", cwd=git_repo)
    assert_one_line_error(res, "role root would have 1 key but needs 2 signatures")
    assert pedata("trust", "set-threshold", "root", "1", "--sign", "bob", cwd=git_repo).returncode == 3
    assert pedata("trust", "set-threshold", "root", "1", "--sign", "alice", "bob", cwd=git_repo).ok
    assert pedata("trust", "remove-key", "root", alice.keyid, "--sign", "alice", "bob", cwd=git_repo).ok
    assert sorted(staged(git_repo)) == [f"trust/root/{n}.json" for n in (2, 3, 4, 5)]

    reg = Registry(git_repo)
    newest = load_root_chain(reg, trusted_root=f"sha256:{one.digest}")
    assert newest.version == 5 and newest.roles["root"] == {"keyids": [bob.keyid], "threshold": 1}
    assert alice.keyid in newest.keys  # still the certifier
    assert load_root_chain(reg, rev="HEAD").version == 1
    show = json.loads(pedata("trust", "show", "--json", cwd=git_repo).stdout)
    assert show["version"] == 5 and show["roles"]["root"]["keyids"] == [bob.keyid]


def test_a_rotation_without_the_old_root_keys_is_refused(pedata, git_repo, alice_bob):
    assert pedata("trust", "init", "--root", "alice", cwd=git_repo).ok
    res = pedata("trust", "add-key", "root", "bob", "--sign", "bob", cwd=git_repo)
    assert_one_line_error(res, "trust root 2 is signed by 0 of 1 required root keys of root 1; nothing written")
    assert res.returncode == 3
    assert sorted(p.name for p in (git_repo / "trust/root").iterdir()) == ["1.json"]
    res = pedata("trust", "add-key", "promoter", "bob", "--sign", "bob", cwd=git_repo)
    assert_one_line_error(res, f"key bob ({alice_bob[1].keyid[:12]}) is not a root key of trust root 1 or 2; nothing written")
    assert staged(git_repo) == ["trust/root/1.json"]
    res = pedata("trust", "init", "--root", "bob", cwd=git_repo)
    assert_one_line_error(res, "a trust root already exists (version 1)")


def test_trust_init_needs_the_root_private_keys(pedata, git_repo, alice_bob, tmp_path):
    pub = tmp_path / "carol.pub"
    pub.write_bytes((keys_dir() / "bob.pub").read_bytes())
    res = pedata("trust", "init", "--root", str(pub), cwd=git_repo)  # public half only
    assert_one_line_error(res, "trust root 1 would be signed by 0 of 1 required root keys")
    assert not (git_repo / "trust").exists()
    assert_one_line_error(pedata("trust", "init", "--root", "alice", "--expires", "3x", cwd=git_repo),
                          "invalid duration '3x'")
    assert_one_line_error(pedata("trust", "init", "--root", "alice", "--threshold", "root=2", cwd=git_repo),
                          "trust root 1: role root needs 2 signatures but has 1 key")


def _chain(alice: keymod.Signer, bob: keymod.Signer) -> list[Root]:
    """Root 1 (alice), root 2 (alice + bob, signed by both), root 3 (threshold 2)."""
    one = make_root({r: [alice] for r in ("root", "promoter", "certifier", "revoker")})
    sign(one, alice)
    two = make_root({"root": [alice, bob], "promoter": [alice], "certifier": [alice], "revoker": [alice]}, version=2)
    sign(two, alice)
    sign(two, bob)
    three = make_root({"root": [alice, bob], "promoter": [alice], "certifier": [alice], "revoker": [alice]},
                      {"root": 2}, version=3)
    sign(three, alice)
    sign(three, bob)
    return [one, two, three]


def test_verify_root_chain_accepts_a_good_chain_and_reports_a_skipped_version(alice_bob):
    alice, bob = alice_bob
    one, two, three = _chain(alice, bob)
    assert verify_root_chain([one, two, three]) == []
    four = make_root({"root": [alice, bob], "promoter": [alice], "certifier": [alice], "revoker": [alice]},
                     {"root": 2}, version=4)
    sign(four, alice)
    sign(four, bob)
    assert verify_root_chain([one, two, four]) == ["trust/root/3.json: version 4 skips 3"]
    assert verify_root_chain([one, two, two]) == ["trust/root/3.json: version 2 does not follow 2 (a rollback or replay)"]


def test_verify_root_chain_reports_a_root_lacking_the_old_root_signatures(alice_bob):
    alice, bob = alice_bob
    one, _, _ = _chain(alice, bob)
    two = make_root({"root": [bob], "promoter": [bob], "certifier": [bob], "revoker": [bob]}, version=2)
    sign(two, bob)
    assert verify_root_chain([one, two]) == [
        "trust/root/2.json: not signed by a threshold of root 1's root keys (0 of 1)"]
    _, good_two, three = _chain(alice, bob)
    three.signatures[:] = [s for s in three.signatures if s["keyid"] == alice.keyid]
    assert verify_root_chain([one, good_two, three]) == [
        "trust/root/3.json: not signed by a threshold of its own root keys (1 of 2)"]


def test_expiry_is_judged_on_the_newest_root_only(alice_bob):
    alice, bob = alice_bob
    one, two, three = _chain(alice, bob)
    one.body["expires"] = "2000-01-01T00:00:00Z"
    one.signatures.clear()
    sign(one, alice)
    assert verify_root_chain([one, two, three]) == []
    assert verify_root_chain([one]) == ["trust/root/1.json: trust root 1 expired at 2000-01-01T00:00:00Z"]
    assert verify_root_chain([one], check_expiry=False) == []


def _write_chain(repo: Path, docs: list[Root]) -> None:
    for i, doc in enumerate(docs, start=1):
        path = repo / "trust" / "root" / f"{i}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(doc.to_bytes())


def test_load_root_chain_refuses_a_pin_mismatch_and_a_broken_chain(pedata, git_repo, alice_bob):
    alice, bob = alice_bob
    one, two, three = _chain(alice, bob)
    _write_chain(git_repo, [one, two, three])
    reg = Registry(git_repo)
    assert load_root_chain(reg, trusted_root=one.digest).version == 3
    with pytest.raises(SignatureError) as err:
        load_root_chain(reg, trusted_root="0" * 64)
    assert str(err.value) == f"trust root 1 has digest {one.digest}, but the consumer pinned {'0' * 64}"
    res = pedata("trust", "show", "--trusted-root", "sha256:" + "0" * 64, cwd=git_repo)
    assert_one_line_error(res, f"trust root 1 has digest {one.digest}, but the consumer pinned {'0' * 64}")

    (git_repo / "trust/root/2.json").unlink()
    res = pedata("trust", "show", cwd=git_repo)
    assert_one_line_error(res, "trust/root/3.json: version 3 skips 2")
    assert res.returncode == 3


def test_a_tampered_root_file_fails_to_load(pedata, git_repo, alice_bob):
    alice, bob = alice_bob
    one, two, _ = _chain(alice, bob)
    _write_chain(git_repo, [one, two])
    path = git_repo / "trust/root/2.json"
    obj = json.loads(path.read_bytes())
    obj["signed"]["roles"]["certifier"]["threshold"] = 1
    obj["signed"]["roles"]["certifier"]["keyids"] = sorted([alice.keyid, bob.keyid])
    path.write_bytes(pretty_bytes(obj))
    res = pedata("trust", "show", cwd=git_repo)
    assert_one_line_error(res, "trust/root/2.json: not signed by a threshold of root 1's root keys (0 of 1)")


def test_a_compromised_key_is_distrusted_for_good_and_holds_no_role(pedata, git_repo, alice_bob):
    alice, bob = alice_bob
    assert pedata("trust", "init", "--root", "alice", "--certifier", "alice", "bob", cwd=git_repo).ok
    res = pedata("trust", "remove-key", "certifier", "alice", "--sign", "alice", "--compromised", cwd=git_repo)
    assert_one_line_error(res, f"key {alice.keyid[:12]} is also a root key; remove it from root, promoter, revoker first")
    assert_one_line_error(pedata("trust", "add-key", "certifier", "bob", "--sign", "alice", "--compromised", cwd=git_repo),
                          "unrecognized arguments: --compromised")
    assert pedata("trust", "remove-key", "certifier", "bob", "--sign", "alice", "--compromised", cwd=git_repo).ok
    two = Root.load(git_repo / "trust/root/2.json")
    assert two.body["distrusted"] == [bob.keyid] and bob.keyid not in two.keys
    one = Root.load(git_repo / "trust/root/1.json")
    assert verify_root_chain([one, two]) == []
    # distrust is permanent, and a distrusted key may hold no role
    forgiven = Root({**two.body, "version": 3, "distrusted": []})
    sign(forgiven, alice)
    assert verify_root_chain([one, two, forgiven]) == [
        f"trust/root/3.json: drops distrusted key {bob.keyid[:12]} of root 2 (distrust is permanent)"]
    body = json.loads(json.dumps(two.body))
    body.update(version=3, keys={**body["keys"], bob.keyid: bob.public.root_entry()})
    body["roles"]["promoter"]["keyids"] = sorted([alice.keyid, bob.keyid])
    readded = Root(body)
    sign(readded, alice)
    assert verify_root_chain([one, two, readded]) == [
        f"trust/root/3.json: role promoter lists key {bob.keyid[:12]}, which the root distrusts (compromised)"]
