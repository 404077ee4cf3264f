"""`pedata verify` on real git histories: honest ones pass, each way of cheating is named."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.commands import commit, run, run_pedata
from support.forge import add_manifest, cli, write_channel

from dvc_pedata.model.documents import Channel, Release, Root, new_body
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys, signing
from dvc_pedata.trust import root as trust


@pytest.fixture
def reg(git_repo: Path, tmp_path, monkeypatch) -> Registry:
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    monkeypatch.chdir(git_repo)
    assert run_pedata("init", "-n", "us", "-n", "uk", cwd=git_repo).ok
    for name in ("alice", "bob", "mallory", "carol"):
        keys.generate(name)
    r = Registry(git_repo)
    trust.init_root(r, ["alice"], {"promoter": ["alice", "bob"], "certifier": ["alice"], "revoker": ["alice"]})
    commit(git_repo, "registry")
    return r


def verify(repo: Path, *args: str) -> tuple[int, list[str]]:
    res = run_pedata("verify", "--json", *args, cwd=repo)
    assert res.returncode in (0, 1), res.stderr
    data = json.loads(res.stdout)
    return res.returncode, [f"{v['file']}: {v['reason']}" for v in data["violations"]]


def honest_history(reg: Registry) -> dict:
    a1 = add_manifest(reg, "us", "cps", b"one")
    write_channel(reg, "us", "latest", {"cps": a1})
    commit(reg.root, "publish 1")
    write_channel(reg, "us", "next", {"cps": a1}, ["alice"])
    commit(reg.root, "promote 1")
    a2 = add_manifest(reg, "us", "cps", b"two")
    write_channel(reg, "us", "latest", {"cps": a2})
    commit(reg.root, "publish 2")
    write_channel(reg, "us", "next", {"cps": a2}, ["bob"])
    commit(reg.root, "promote 2")
    return {"a1": a1, "a2": a2}


def test_honest_history_passes(reg):
    honest_history(reg)
    rc, problems = verify(reg.root)
    assert (rc, problems) == (0, [])
    res = run_pedata("verify", cwd=reg.root)
    assert res.ok and res.stdout.startswith("pedata verify: OK")


def test_pin_sha256_edited_by_hand(reg):
    honest_history(reg)
    path = reg.channel_path("us", "latest")
    doc = json.loads(path.read_text())
    doc["signed"]["artifacts"]["cps"]["sha256"] = hashlib.sha256(b"evil").hexdigest()
    path.write_text(json.dumps(doc, indent=2))
    rc, problems = verify(reg.root)
    assert rc == 1
    assert any("channels/us/latest.json: pin 'cps' names sha256" in p and "does not exist" in p for p in problems), problems
    # and in a signed channel the edit also breaks the signature
    path = reg.channel_path("us", "next")
    doc = json.loads(path.read_text())
    doc["signed"]["artifacts"]["cps"]["sha256"] = hashlib.sha256(b"one").hexdigest()
    path.write_text(json.dumps(doc, indent=2))
    rc, problems = verify(reg.root)
    assert any(p.startswith("channels/us/next.json: signed by 0 of 1 required promoter keys") for p in problems), problems


def test_a_whitespace_edit_to_a_signed_channel_is_reported(reg):
    honest_history(reg)
    path = reg.channel_path("us", "next")
    assert verify(reg.root)[0] == 0
    data = path.read_bytes()
    path.write_bytes(data.replace(b'  "signatures"', b'   "signatures"', 1))  # one added space
    rc, problems = verify(reg.root)
    assert rc == 1 and problems == ["channels/us/next.json: not byte-for-byte the file pedata writes (whitespace or key "
                                    "order edited by hand); restore it from git, or load and save it again with pedata"], problems
    path.write_bytes(data)
    assert verify(reg.root)[0] == 0


def test_a_broken_settings_file_is_a_violation(reg):
    cfg = json.loads((reg.root / "pedata.json").read_text())
    cfg["namespaces"] = ["us", "a..b"]
    (reg.root / "pedata.json").write_text(json.dumps(cfg))
    rc, problems = verify(reg.root)
    assert rc == 1 and problems == ["pedata.json: setting 'namespaces' must be a list of lowercase names, not [\"us\", \"a..b\"]"], problems


def test_signature_from_key_not_in_root(reg):
    a1 = add_manifest(reg, "us", "cps", b"one")
    write_channel(reg, "us", "next", {"cps": a1}, ["mallory"])
    rc, problems = verify(reg.root)
    assert rc == 1
    mallory = keys.load_signer("mallory").keyid[:12]
    assert any("channels/us/next.json: signed by 0 of 1 required promoter keys" in p for p in problems), problems
    assert any(mallory in p and "not" in p for p in problems), problems


def test_threshold_two_met_by_one_key_signing_twice(reg):
    trust.rotate(reg, "set-threshold", ["alice"], role="promoter", threshold=2)
    commit(reg.root, "promoter threshold 2")
    a1 = add_manifest(reg, "us", "cps", b"one")
    doc = write_channel(reg, "us", "next", {"cps": a1}, ["alice"])
    obj = json.loads(reg.channel_path("us", "next").read_text())
    obj["signatures"] = obj["signatures"] * 2  # the same keyid twice
    reg.channel_path("us", "next").write_text(json.dumps(obj, indent=2))
    assert len(doc.signatures) == 1
    rc, problems = verify(reg.root)
    assert rc == 1 and any("channels/us/next.json: signed by 1 of 2 required promoter keys" in p for p in problems), problems
    run_pedata("sign", "channels/us/next.json", "--sign", "bob", cwd=reg.root)
    obj = json.loads(reg.channel_path("us", "next").read_text())
    assert len({s["keyid"] for s in obj["signatures"]}) == 2
    assert verify(reg.root)[0] == 0


def test_rollback_to_older_signed_version(reg):
    honest_history(reg)
    old = run(["git", "show", "HEAD~2:channels/us/next.json"], cwd=reg.root).stdout
    reg.channel_path("us", "next").write_text(old)
    commit(reg.root, "sneaky rollback")
    rc, problems = verify(reg.root)
    assert rc == 1 and any("channels/us/next.json: rollback: version 1 replaces version 2" in p for p in problems), problems


def test_two_branches_both_made_version_5(reg):
    pins = [add_manifest(reg, "us", "cps", bytes([i])) for i in range(7)]
    for i in range(4):
        write_channel(reg, "us", "next", {"cps": pins[i]}, ["alice"])
        commit(reg.root, f"v{i + 1}")
    run(["git", "checkout", "-qb", "other"], cwd=reg.root)
    write_channel(reg, "us", "next", {"cps": pins[5]}, ["bob"])
    commit(reg.root, "v5 on other")
    run(["git", "checkout", "-q", "main"], cwd=reg.root)
    write_channel(reg, "us", "next", {"cps": pins[6]}, ["alice"])
    commit(reg.root, "v5 on main")
    run(["git", "merge", "-q", "-s", "ours", "other", "-m", "merge"], cwd=reg.root)
    rc, problems = verify(reg.root)
    assert rc == 1 and any("two different documents claim version 5" in p for p in problems), problems


def test_expired_channel(reg):
    a1 = add_manifest(reg, "us", "cps", b"one")
    write_channel(reg, "us", "next", {"cps": a1}, ["alice"], expires="2020-01-01T00:00:00Z")
    rc, problems = verify(reg.root)
    assert rc == 1 and "channels/us/next.json: channel expired at 2020-01-01T00:00:00Z" in problems
    commit(reg.root, "expired")
    rc, problems = verify(reg.root)
    assert any("after it expired at 2020-01-01T00:00:00Z" in p for p in problems), problems


def test_root_version_skipping_a_number(reg):
    # A properly signed version 3 (root 1's keys, its own keys) committed with no version 2.
    body = json.loads(reg.root_path(1).read_text())["signed"]
    body["version"] = 3
    three = Root(body, [])
    signing.sign(three, keys.load_signer("alice"))
    three.save(reg.root_path(3))
    commit(reg.root, "root 3 without root 2")
    rc, problems = verify(reg.root)
    assert rc == 1 and "trust/root: trust/root/3.json: version 3 skips 2" in problems, problems


def test_root_stored_under_another_version_number(reg):
    trust.rotate(reg, "add-key", ["alice"], role="promoter", key="carol")
    reg.root_path(2).rename(reg.root_path(7))
    rc, problems = verify(reg.root)
    assert rc == 1 and "trust/root: a root document claims version 2 but is not stored as trust/root/2.json" in problems, problems


def test_root_lacking_old_root_signatures(reg):
    trust.rotate(reg, "add-key", ["alice"], role="root", key="bob")
    obj = json.loads(reg.root_path(2).read_text())
    alice = keys.load_signer("alice").keyid
    obj["signatures"] = [s for s in obj["signatures"] if s["keyid"] != alice]
    reg.root_path(2).write_text(json.dumps(obj, indent=2))
    rc, problems = verify(reg.root)
    assert rc == 1 and any("trust/root/2.json: not signed by a threshold of root 1's root keys" in p for p in problems), problems


def test_promoter_outside_its_namespace_scope(git_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    monkeypatch.chdir(git_repo)
    assert run_pedata("init", "-n", "us", "-n", "uk", cwd=git_repo).ok
    keys.generate("alice")
    keys.generate("ukpromoter")
    reg = Registry(git_repo)
    trust.init_root(reg, ["alice"], {"promoter": ["ukpromoter"]}, scopes={"promoter": ["uk"]})
    a1 = add_manifest(reg, "us", "cps", b"one")
    write_channel(reg, "us", "next", {"cps": a1}, ["ukpromoter"])
    rc, problems = verify(reg.root)
    assert rc == 1 and any("scoped to [uk], not namespace 'us'" in p for p in problems), problems


def test_manifest_swapped_under_unchanged_pin(reg):
    p = honest_history(reg)
    mpath = reg.manifest_path("us", "cps", p["a2"]["sha256"])
    doc = json.loads(mpath.read_text())
    doc["licence"] = "proprietary"
    mpath.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    rc, problems = verify(reg.root)
    assert rc == 1 and any("pin 'cps': manifest digest is" in p and "manifest swapped or pin edited" in p for p in problems), problems
    commit(reg.root, "swap")
    rc, problems = verify(reg.root)
    assert any(f"manifests/us/cps/{p['a2']['sha256']}.json: modified after it was created" in x for x in problems), problems


def test_channel_signature_copied_onto_release_shaped_document(reg):
    a1 = add_manifest(reg, "us", "cps", b"one")
    ch = write_channel(reg, "us", "next", {"cps": a1}, ["alice"])
    body = new_body("release", namespace="us", version="1.0.0", status="certified", compat_mode="both",
                    notice={"type": "release", "summary": "x", "date": "2026-01-01"}, pins={"cps": a1},
                    source_channel={"name": "next", "version": ch.version, "digest": ch.digest},
                    certified_for=None, previous=None, expires=None)
    rel = Release(body, [])
    # forge: sign the release body's bytes as if it were a channel (what a copied signature would be)
    forged = Channel(body, [])
    signing.sign(forged, keys.load_signer("alice"))
    rel.signatures = list(forged.signatures)
    rel.save(reg.release_path("us", "1.0.0"))
    rc, problems = verify(reg.root)
    assert rc == 1 and any(p.startswith("releases/us/1.0.0.json: signed by 0 of 1 required certifier keys") for p in problems), problems
    rel.signatures = []
    signing.sign(rel, keys.load_signer("alice"))  # a genuine certifier signature
    rel.save(reg.release_path("us", "1.0.0"))
    assert verify(reg.root) == (0, [])


def test_base_rollback_against_pull_request_base(reg):
    honest_history(reg)
    run(["git", "checkout", "-qb", "pr"], cwd=reg.root)
    old = run(["git", "show", "HEAD~2:channels/us/next.json"], cwd=reg.root).stdout
    reg.channel_path("us", "next").write_text(old)
    commit(reg.root, "roll back in a PR")
    rc, problems = verify(reg.root)  # default base: merge base with main
    assert rc == 1 and any("rollback: version 1 replaces version 2" in p for p in problems), problems
    rc, problems = verify(reg.root, "--base", "main")
    assert rc == 1


def test_verify_prints_every_violation_as_lines(reg):
    a1 = add_manifest(reg, "us", "cps", b"one")
    write_channel(reg, "us", "next", {"cps": a1}, ["mallory"], expires="2020-01-01T00:00:00Z")
    res = run_pedata("verify", cwd=reg.root)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert len(lines) >= 2 and all(line.startswith("channels/us/next.json: ") for line in lines)
    assert "violation(s)" in res.stderr and "Traceback" not in res.stderr


# -- co-signing in turn: each channel version is judged once ------------------------------------


def two_of_three_promoters(reg: Registry) -> None:
    cli(reg.root, "trust", "add-key", "promoter", "carol", "--sign", "alice")
    cli(reg.root, "trust", "set-threshold", "promoter", "2", "--sign", "alice")
    commit(reg.root, "promoters alice, bob, carol; 2 must sign")


def test_a_channel_signed_in_turn_over_two_commits_verifies(reg):
    repo = reg.root
    two_of_three_promoters(reg)
    write_channel(reg, "us", "latest", {"cps": add_manifest(reg, "us", "cps", b"one")})
    commit(repo, "publish 1")
    res = cli(repo, "promote", "us", "--sign", "bob")
    assert "signed by 1 of 2 required promoter keys" in res.stdout
    assert "add signatures with `pedata sign channels/us/next.json --sign KEY`" in res.stdout
    rc, problems = verify(repo)  # the half-signed commit is the normal state of a co-signed PR
    assert (rc, problems) == (1, ["channels/us/next.json: signed by 1 of 2 required promoter keys"])
    cli(repo, "sign", "channels/us/next.json", "--sign", "carol")
    commit(repo, "co-sign next v1")
    assert verify(repo) == (0, [])
    assert cli(repo, "verify").stdout.startswith("pedata verify: OK")
    run(["git", "checkout", "-q", "main"], cwd=repo)
    run(["git", "merge", "-q", "--no-ff", "promote/us-next-v1", "-m", "merge the promotion"], cwd=repo)
    assert verify(repo) == (0, [])  # the whole history, the half-signed commit included


def test_a_channel_version_that_never_gets_its_second_signature_is_reported(reg):
    repo = reg.root
    two_of_three_promoters(reg)
    write_channel(reg, "us", "latest", {"cps": add_manifest(reg, "us", "cps", b"one")})
    commit(repo, "publish 1")
    cli(repo, "promote", "us", "--sign", "bob")  # version 1, never co-signed
    write_channel(reg, "us", "latest", {"cps": add_manifest(reg, "us", "cps", b"two")})
    commit(repo, "publish 2")
    cli(repo, "promote", "us", "--sign", "bob", "--sign", "carol")  # version 2 meets the threshold
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1, res.stdout
    lines = res.stdout.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("channels/us/next.json: version 1 was replaced without ever meeting the promoter "
                               "threshold: signed by 1 of 2 required promoter keys"), lines
    assert "(commit " in lines[0]


def test_a_channel_version_whose_signed_body_changes_between_commits_is_reported(reg):
    repo = reg.root
    two_of_three_promoters(reg)
    a1, a2 = add_manifest(reg, "us", "cps", b"one"), add_manifest(reg, "us", "cps", b"two")
    write_channel(reg, "us", "next", {"cps": a1}, ["bob"])
    commit(repo, "next v1, half-signed")
    doc = Channel.load(reg.channel_path("us", "next"))
    doc.body["artifacts"] = {"cps": a2}  # same version, other pins, now fully signed
    doc.signatures = []
    for who in ("bob", "carol"):
        signing.sign(doc, keys.load_signer(who))
    doc.save(reg.channel_path("us", "next"))
    commit(repo, "next v1 again, other content")
    rc, problems = verify(repo)
    assert rc == 1
    assert any("two different documents claim version 1" in p for p in problems), problems
    assert any("version 1 was replaced without ever meeting the promoter threshold" in p for p in problems), problems
