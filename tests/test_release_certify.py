"""Releases on real git: certify (signed, committed, tagged), lifecycle, and every refusal."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, commit, run, run_pedata
from support.forge import add_manifest, cli, write_channel

from dvc_pedata.registry.repo import Registry
from dvc_pedata.releases.certify import mark_unreproducible
from dvc_pedata.trust import keys
from dvc_pedata.trust import root as trust
from dvc_pedata.verify.core import verify


@pytest.fixture
def reg(git_repo: Path, tmp_path, monkeypatch) -> Registry:
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    monkeypatch.chdir(git_repo)
    assert run_pedata("init", "-n", "us", cwd=git_repo).ok
    for name in ("alice", "bob", "carol"):
        keys.generate(name)
    r = Registry(git_repo)
    trust.init_root(r, ["alice"], {"promoter": ["alice", "carol"], "certifier": ["bob"], "revoker": ["alice"]})
    pin = add_manifest(r, "us", "cps", b"one")
    write_channel(r, "us", "latest", {"cps": pin})
    write_channel(r, "us", "next", {"cps": pin}, ["alice"])
    commit(git_repo, "registry with a signed next")
    return r


def state(repo: Path) -> tuple[str, str, str]:
    """HEAD, the tag list and the status: what a refused command must leave untouched."""
    return (run(["git", "rev-parse", "HEAD"], cwd=repo).stdout, run(["git", "tag"], cwd=repo).stdout,
            run(["git", "status", "--porcelain"], cwd=repo).stdout)


def certify(repo: Path, *args: str):
    return run_pedata("certify", *args, cwd=repo)


def test_certify_writes_signed_release_commit_and_tags(reg):
    repo = reg.root
    res = certify(repo, "us", "1.0.0", "--sign", "bob", "--certified-for", "policyengine-us==2.2.1", "--json")
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    doc = json.loads((repo / "releases/us/1.0.0.json").read_text())["signed"]
    nxt = json.loads((repo / "channels/us/next.json").read_text())["signed"]
    assert doc["status"] == "certified" and doc["previous"] is None and doc["expires"] is None
    assert doc["pins"] == nxt["artifacts"]
    assert doc["source_channel"]["name"] == "next" and doc["source_channel"]["version"] == 1
    assert doc["certified_for"] == {"package": "policyengine-us", "version": "2.2.1"}
    head = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    assert out["commit"] == head and out["tag"] == "us/v1.0.0" and out["gto_tag"] == "us@v1.0.0"
    assert run(["git", "cat-file", "-t", "us/v1.0.0"], cwd=repo).stdout.strip() == "tag"
    assert run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=repo).stdout.strip() == head
    assert run(["git", "rev-parse", "us@v1.0.0^{commit}"], cwd=repo).stdout.strip() == head
    msg = run(["git", "tag", "-l", "--format=%(contents)", "us/v1.0.0"], cwd=repo).stdout
    assert f"release-digest: sha256:{out['digest']}" in msg
    assert run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=repo).stdout.split() == ["releases/us/1.0.0.json"]
    assert run_pedata("verify", cwd=repo).ok
    # a second release records the first as previous; list and show
    pin2 = add_manifest(reg, "us", "cps", b"two")
    write_channel(reg, "us", "next", {"cps": pin2}, ["carol"])
    commit(repo, "promote 2")
    assert certify(repo, "us", "1.1.0", "--sign", "bob", "--notice", "more rows").ok
    listing = json.loads(run_pedata("releases", "us", "--json", cwd=repo).stdout)
    assert [(r["version"], r["status"], r["previous"]) for r in listing] == [("1.0.0", "certified", None), ("1.1.0", "certified", "1.0.0")]
    shown = run_pedata("show", "us@1.1.0", cwd=repo)
    assert shown.ok and "changes since 1.0.0:" in shown.stdout and "~ cps" in shown.stdout
    assert "notice (release, " in shown.stdout and "more rows" in shown.stdout
    assert run_pedata("verify", cwd=repo).ok


@pytest.mark.parametrize("case", ["unsigned", "under_threshold", "not_greater", "break_without_notice", "not_certifier", "bad_semver",
                                  "uncommitted_next", "staged_next", "uncommitted_manifest"])
def test_certify_refusals_write_nothing(reg, case):
    repo = reg.root
    if case in ("uncommitted_next", "staged_next", "uncommitted_manifest"):
        # A promoter-signed next that nobody reviewed: never committed (or only staged), or pinning
        # a manifest that is not in git. Certifying it would be the silent promote.
        pin = add_manifest(reg, "us", "cps", b"unreviewed")
        write_channel(reg, "us", "next", {"cps": pin}, ["alice"])
        if case == "staged_next":
            run(["git", "add", "-A"], cwd=repo)
        elif case == "uncommitted_manifest":
            run(["git", "add", "channels"], cwd=repo)
            commit_paths(repo, "promote without its manifest", "channels")
        unreviewed = "manifests/us/cps/" if case == "uncommitted_manifest" else "channels/us/next.json"
        args, frag = ("us", "1.0.0", "--sign", "bob"), f"{unreviewed}"
    elif case == "unsigned":
        write_channel(reg, "us", "next", {"cps": add_manifest(reg, "us", "cps", b"x")})
        commit(repo, "unsigned next")
        args, frag = ("us", "1.0.0", "--sign", "bob"), "does not verify at the promoter threshold"
    elif case == "under_threshold":
        trust.rotate(reg, "set-threshold", ["alice"], role="promoter", threshold=2)
        commit(repo, "promoter threshold 2")
        args, frag = ("us", "1.0.0", "--sign", "bob"), "signed by 1 of 2 required promoter keys"
    elif case == "not_greater":
        assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
        args, frag = ("us", "0.9.9", "--sign", "bob"), "not greater than the latest release us@1.0.0"
    elif case == "break_without_notice":
        args, frag = ("us", "1.0.0", "--sign", "bob", "--compat-mode", "break"), "break needs --notice"
    elif case == "not_certifier":
        args, frag = ("us", "1.0.0", "--sign", "alice"), "is not a certifier key"
    else:
        args, frag = ("us", "1.0", "--sign", "bob"), "invalid version '1.0'"
    before = state(repo)
    res = certify(repo, *args)
    assert_one_line_error(res, frag)
    if case in ("uncommitted_next", "staged_next", "uncommitted_manifest"):
        assert "is not committed as it is in the work tree" in res.stderr
    assert state(repo) == before
    if case != "not_greater":
        assert not (repo / "releases/us/1.0.0.json").exists()


def commit_paths(repo: Path, message: str, *paths: str) -> str:
    run(["git", "commit", "-q", "-m", message, "--", *paths], cwd=repo)
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def test_verify_catches_a_release_cut_from_an_uncommitted_channel(reg):
    """The same cheat done by hand (certify refuses it): the release names next version 2, which
    was signed but never committed, so the release commit and its tag carry version 1."""
    from dvc_pedata.model.documents import Release, new_body
    from dvc_pedata.releases.catalog import tag_message
    from dvc_pedata.trust import signing

    repo = reg.root
    committed = reg.load_channel("us", "next")
    ch = write_channel(reg, "us", "next", {"cps": add_manifest(reg, "us", "cps", b"unreviewed")}, ["alice"])
    body = new_body("release", namespace="us", version="1.0.0", status="certified", compat_mode="both",
                    notice={"type": "release", "summary": "x", "date": "2026-01-01"}, pins=dict(ch.artifacts),
                    source_channel={"name": "next", "version": ch.version, "digest": ch.digest},
                    certified_for=None, previous=None, expires=None)
    doc = Release(body, [])
    signing.sign(doc, keys.load_signer("bob"))
    doc.save(repo / "releases/us/1.0.0.json")
    run(["git", "add", "releases"], cwd=repo)
    sha = commit_paths(repo, "release from an unreviewed channel", "releases")
    run(["git", "tag", "-a", "us/v1.0.0", "-m", tag_message("us", "1.0.0", "releases/us/1.0.0.json", doc.digest), sha], cwd=repo)
    expected = (f"releases/us/1.0.0.json: certified from channel us/next version 2 (digest {ch.digest[:12]}…), but the "
                f"committed channel at its certification commit {sha[:10]} is version 1 (digest {committed.digest[:12]}…):"
                " an uncommitted channel was certified")
    assert expected in violations(repo)
    # Committing the channel afterwards does not launder the release: its commit still lacks it.
    run(["git", "add", "-A"], cwd=repo)
    commit(repo, "the channel, too late")
    assert expected in violations(repo)


def test_retire_once_then_refused_and_status_never_goes_back(reg):
    repo = reg.root
    assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
    assert_one_line_error(run_pedata("retire", "us", "1.0.0", "--sign", "bob", "--notice", " ", cwd=repo), "--notice")
    res = run_pedata("retire", "us", "1.0.0", "--sign", "bob", "--notice", "weights were wrong", cwd=repo)
    assert res.ok, res.stderr
    doc = json.loads((repo / "releases/us/1.0.0.json").read_text())["signed"]
    assert doc["status"] == "retired" and doc["notice"]["type"] == "withdrawal"
    assert doc["notice"]["summary"] == "weights were wrong" and doc["status_history"][-1]["status"] == "retired"
    before = state(repo)
    assert_one_line_error(run_pedata("retire", "us", "1.0.0", "--sign", "bob", "--notice", "again", cwd=repo), "already retired")
    assert state(repo) == before
    assert run_pedata("verify", cwd=repo).ok
    # the tag still names the first commit, whose file has the digest in its message
    assert run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=repo).stdout != run(["git", "rev-parse", "HEAD"], cwd=repo).stdout
    # a status going backwards (a hand edit re-signed by the certifier) is reported by verify
    old = run(["git", "show", "HEAD~1:releases/us/1.0.0.json"], cwd=repo).stdout
    (repo / "releases/us/1.0.0.json").write_text(old)
    commit(repo, "un-retire")
    res = run_pedata("verify", "--json", cwd=repo)
    assert res.returncode == 1
    reasons = [v["reason"] for v in json.loads(res.stdout)["violations"]]
    assert "status went backwards: retired -> certified" in reasons, reasons


def test_moved_tag_is_reported(reg):
    repo = reg.root
    assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
    (repo / "notes.txt").write_text("later\n")
    commit(repo, "later")
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", run(["git", "tag", "-l", "--format=%(contents)", "us/v1.0.0"], cwd=repo).stdout], cwd=repo)
    res = run_pedata("verify", "--json", cwd=repo)
    assert res.returncode == 1
    reasons = [v["reason"] for v in json.loads(res.stdout)["violations"]]
    assert any(r.startswith("tag us/v1.0.0 moved: it names commit") for r in reasons), reasons
    assert any(r.startswith("GTO tag us@v1.0.0 names commit") for r in reasons), reasons


def test_every_broken_release_tag_is_named_and_certify_never_reuses_a_tag(reg):
    repo = reg.root
    assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
    first = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    msg = run(["git", "tag", "-l", "--format=%(contents)", "us/v1.0.0"], cwd=repo).stdout
    # Certifying the same version again, or over a tag someone already made, is refused.
    before = state(repo)
    assert_one_line_error(certify(repo, "us", "1.0.0", "--sign", "bob"), "release us@1.0.0 already exists")
    run(["git", "tag", "us/v2.0.0"], cwd=repo)
    assert_one_line_error(certify(repo, "us", "2.0.0", "--sign", "bob"), "git tag us/v2.0.0 already exists")
    run(["git", "tag", "-d", "us/v2.0.0"], cwd=repo)
    assert state(repo) == before

    def reasons() -> list[str]:
        res = run_pedata("verify", "--json", cwd=repo)
        assert res.returncode == 1, res
        return [f"{v['file']}: {v['reason']}" for v in json.loads(res.stdout)["violations"]]

    rel = "releases/us/1.0.0.json"
    # A tag whose message names another digest.
    other = msg.replace("release-digest: sha256:", "release-digest: sha256:" + "0" * 64 + "#", 1).replace("#" + msg.split("sha256:")[1][:64], "")
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", other, first], cwd=repo)
    assert any(r.startswith(f"{rel}: tag us/v1.0.0 names release digest 000000000000…, but the file at its commit has ")
               for r in reasons()), reasons()
    # A lightweight tag.
    run(["git", "tag", "-f", "us/v1.0.0", first], cwd=repo)
    assert f"{rel}: tag us/v1.0.0 is lightweight: a release tag must be annotated and name the release digest" in reasons()
    # No tag at all.
    run(["git", "tag", "-d", "us/v1.0.0"], cwd=repo)
    assert f"{rel}: no release tag us/v1.0.0" in reasons()
    # A release tag with no release file.
    run(["git", "tag", "-a", "us/v1.0.0", "-m", msg, first], cwd=repo)
    run(["git", "tag", "-a", "us/v3.0.0", "-m", "a release that was never certified", first], cwd=repo)
    assert reasons() == ["releases/us/3.0.0.json: tag us/v3.0.0 exists but the release file does not"]


def test_provisional_expiry_upgrade_and_unreproducible(reg):
    repo = reg.root
    res = certify(repo, "us", "1.0.0", "--sign", "bob", "--status", "provisional", "--expires", "2d", "--no-gto-tag", "--json")
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "provisional" and out["expires"] and out["gto_tag"] is None
    assert run(["git", "tag"], cwd=repo).stdout.split() == ["us/v1.0.0"]
    assert run_pedata("verify", cwd=repo).ok
    late = verify(repo, at=datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert any(v.reason.startswith("provisional release expired at") for v in late.violations), late.violations
    res = certify(repo, "us", "1.0.0", "--sign", "bob")  # provisional -> certified
    assert res.ok, res.stderr
    doc = json.loads((repo / "releases/us/1.0.0.json").read_text())["signed"]
    assert doc["status"] == "certified" and doc["expires"] is None
    rel = mark_unreproducible(reg, "us", "1.0.0", "cps revoked: licence withdrawn", ["bob"])
    assert rel.status == "unreproducible" and rel.body["notice"]["type"] == "correction"
    assert run(["git", "log", "-1", "--format=%s"], cwd=repo).stdout.strip() == "Release us@1.0.0: certified -> unreproducible"
    assert run_pedata("verify", cwd=repo).ok
    with pytest.raises(Exception, match="already unreproducible"):
        mark_unreproducible(reg, "us", "1.0.0", "again", ["bob"])
    assert_one_line_error(run_pedata("retire", "us", "1.0.0", "--sign", "bob", "--notice", "x", cwd=repo), "cannot go back to retired")


# -- several keys and names after one flag ------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["promote", "us", "--sign", "a", "b", "--only", "x", "y"],
    ["promote", "us", "--sign", "a", "--sign", "b", "--only", "x", "--only", "y"],
    ["certify", "us", "1.0.0", "--sign", "a", "b"],
    ["certify", "us", "1.0.0", "--sign", "a", "--sign", "b"],
    ["retire", "us", "1.0.0", "--notice", "n", "--sign", "a", "b"],
    ["revoke", "pedata://us/x@latest", "--reason", "r", "--authority", "o", "--sign", "a", "b"],
    ["sign", "f.json", "--sign", "a", "b"],
    ["trust", "remove-key", "root", "k", "--sign", "a", "b"],
    ["import-bundle", "m.json", "--namespace", "us", "--sign", "a", "b"],
    ["adopt", "pedata://us/x@latest", "--sign", "a", "--sign", "b"],
])
def test_sign_and_only_take_several_values_after_one_flag_or_repeated(argv):
    from dvc_pedata.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.sign == ["a", "b"]
    if argv[0] == "promote":
        assert args.only == ["x", "y"]


def test_promote_only_several_names_and_certify_retire_with_several_keys(reg):
    repo = reg.root
    keys.generate("dave")
    trust.rotate(reg, "add-key", ["alice"], role="certifier", key="dave")
    trust.rotate(reg, "set-threshold", ["alice"], role="certifier", threshold=2)
    pins = {n: add_manifest(reg, "us", n, n.encode()) for n in ("acs", "cps", "sipp")}
    write_channel(reg, "us", "latest", pins)
    commit(repo, "three artifacts; certifiers bob and dave, 2 must sign")
    res = run_pedata("promote", "us", "--only", "acs", "cps", "--sign", "alice", "carol", "--json", cwd=repo)
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert [m["name"] for m in out["moves"]] == ["acs", "cps"] and out["signature_problems"] == []
    nxt = json.loads((repo / "channels/us/next.json").read_text())
    assert sorted(nxt["signed"]["artifacts"]) == ["acs", "cps"] and len(nxt["signatures"]) == 2
    res = certify(repo, "us", "1.0.0", "--sign", "bob", "dave", "--json")
    assert res.ok, res.stderr
    assert len(json.loads((repo / "releases/us/1.0.0.json").read_text())["signatures"]) == 2
    res = run_pedata("retire", "us", "1.0.0", "--notice", "superseded", "--sign", "bob", "dave", cwd=repo)
    assert res.ok, res.stderr
    assert run_pedata("verify", cwd=repo).ok


# -- pedata releases: what changed since the previous release -----------------------------------
def test_releases_lists_what_changed_since_the_previous_release(reg):
    repo = reg.root
    assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
    pins = {"cps": add_manifest(reg, "us", "cps", b"two", rows=12), "acs": add_manifest(reg, "us", "acs", b"acs")}
    write_channel(reg, "us", "next", pins, ["alice"])
    commit(repo, "promote 2")
    assert certify(repo, "us", "1.1.0", "--sign", "bob").ok
    write_channel(reg, "us", "next", {"acs": pins["acs"]}, ["alice"])
    commit(repo, "promote 3: cps dropped")
    assert certify(repo, "us", "2.0.0", "--sign", "bob", "--compat-mode", "break", "--notice", "no cps").ok

    listing = json.loads(run_pedata("releases", "us", "--json", cwd=repo).stdout)
    first, second, third = (r["changes"] for r in listing)
    assert first == {"previous": None, "added": ["cps"], "removed": [], "changed": {}, "unchanged": []}
    assert second["previous"] == "1.0.0" and second["added"] == ["acs"] and second["removed"] == []
    assert second["changed"]["cps"]["rows"] == {"(table)": {"from": 10, "to": 12}}
    assert third == {"previous": "1.1.0", "added": [], "removed": ["cps"], "changed": {}, "unchanged": ["acs"]}

    res = run_pedata("releases", "us", cwd=repo)
    assert res.ok, res.stderr
    lines = res.stdout.splitlines()
    at = {line.split()[0]: i for i, line in enumerate(lines) if line.startswith("us@")}
    assert lines[at["us@1.0.0"] + 1].strip() == "first release"
    block = lines[at["us@1.1.0"] + 1:at["us@2.0.0"]]
    assert [x.strip() for x in block] == ["changes since 1.0.0:", "+ acs", "~ cps: rows 10 -> 12"], block
    assert [x.strip() for x in lines[at["us@2.0.0"] + 1:]] == ["changes since 1.1.0:", "- cps"]


# -- a release is judged under the trust root in force when it was committed ---------------------
def seed_cache(tmp_path: Path, payload: bytes) -> Path:
    """Put the artifact's bytes in the resolver cache, as an earlier `pedata get` would have."""
    import hashlib

    from dvc_pedata.resolver import cache

    src = tmp_path / "payload.bin"
    src.write_bytes(payload)
    return cache.store_file(hashlib.sha256(payload).hexdigest(), src).path


def forge_release(reg: Registry, version: str, signers: list[str], previous: str | None) -> str:
    """A release written by hand by a key holder (certify would refuse a key not in the root): commit + tag."""
    from dvc_pedata.model.documents import Release, new_body
    from dvc_pedata.releases.catalog import tag_message
    from dvc_pedata.trust import signing

    ch = reg.load_channel("us", "next")
    body = new_body("release", namespace="us", version=version, status="certified", compat_mode="both",
                    notice={"type": "release", "summary": "by hand", "date": "2026-01-01"}, pins=dict(ch.artifacts),
                    source_channel={"name": "next", "version": ch.version, "digest": ch.digest},
                    certified_for=None, previous=previous, expires=None)
    rel = Release(body, [])
    for who in signers:
        signing.sign(rel, keys.load_signer(who))
    path = f"releases/us/{version}.json"
    rel.save(reg.root / path)
    sha = commit(reg.root, f"release {version} by hand")
    run(["git", "tag", "-a", f"us/v{version}", "-m", tag_message("us", version, path, rel.digest), sha], cwd=reg.root)
    return sha


def get(repo: Path, version: str, *extra: str):
    return run_pedata("get", f"pedata://us/cps@v{version}", *extra, cwd=repo)


def violations(repo: Path) -> list[str]:
    res = run_pedata("verify", "--json", cwd=repo)
    assert res.returncode in (0, 1), res.stderr
    return [f"{v['file']}: {v['reason']}" for v in json.loads(res.stdout)["violations"]]


def test_a_release_stays_valid_after_its_certifier_key_is_rotated_out(reg, tmp_path):
    repo = reg.root
    keys.generate("dave")
    assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
    obj = seed_cache(tmp_path, b"one")
    cli(repo, "trust", "add-key", "certifier", "dave", "--sign", "alice")
    commit(repo, "trust root 2: certifier dave")
    cli(repo, "trust", "remove-key", "certifier", "bob", "--sign", "alice")
    commit(repo, "trust root 3: certifier bob leaves")
    assert violations(repo) == []
    assert cli(repo, "verify").stdout.startswith("pedata verify: OK")
    assert get(repo, "1.0.0").stdout.strip() == str(obj)
    bare = tmp_path / "registry.git"  # a consumer's git URL: the resolver's clone is shallow
    run(["git", "clone", "-q", "--bare", str(repo), str(bare)], cwd=tmp_path)
    res = run_pedata("get", "pedata://us/cps@v1.0.0", "--registry", str(bare), cwd=tmp_path)
    assert res.ok and res.stdout.strip() == str(obj), res.stderr
    # a release committed after the rotation and signed by the removed key is judged under root 3
    forge_release(reg, "1.1.0", ["bob"], "1.0.0")
    problems = violations(repo)
    assert len(problems) == 1, problems
    assert problems[0].startswith("releases/us/1.1.0.json: signed by 0 of 1 required certifier keys under trust "
                                  "root version 3 (in force when this version was committed in "), problems
    assert "re-sign it with a current certifier key: pedata sign releases/us/1.1.0.json --sign KEY" in problems[0]
    assert_one_line_error(get(repo, "1.1.0"), "release us@v1.1.0 is not trusted: signed by 0 of 1 required certifier keys"
                          " under trust root version 3", "pedata sign releases/us/1.1.0.json --sign KEY")
    cli(repo, "sign", "releases/us/1.1.0.json", "--sign", "dave")
    commit(repo, "co-sign 1.1.0 with a current certifier")
    assert violations(repo) == []
    assert get(repo, "1.1.0").ok and get(repo, "1.0.0").ok


def test_a_release_merged_from_a_branch_older_than_the_rotation_is_judged_at_the_merge(reg, tmp_path):
    repo = reg.root
    keys.generate("dave")
    assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
    seed_cache(tmp_path, b"one")
    run(["git", "branch", "before-rotation"], cwd=repo)
    cli(repo, "trust", "add-key", "certifier", "dave", "--sign", "alice")
    cli(repo, "trust", "remove-key", "certifier", "bob", "--sign", "alice")
    commit(repo, "trust roots 2 and 3: bob leaves")
    run(["git", "checkout", "-q", "before-rotation"], cwd=repo)
    forge_release(reg, "1.1.0", ["bob"], "1.0.0")  # back-dated: its own commit still sees root 1
    run(["git", "checkout", "-q", "main"], cwd=repo)
    run(["git", "merge", "-q", "--no-ff", "before-rotation", "-m", "merge an old branch"], cwd=repo)
    merge = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    problems = violations(repo)
    assert [p for p in problems if p.startswith("releases/us/1.1.0.json: signed by 0 of 1 required certifier keys under "
            f"trust root version 3 (in force when this version was committed in {merge[:10]})")], problems
    assert_one_line_error(get(repo, "1.1.0"), "under trust root version 3")
    assert get(repo, "1.0.0").ok


def test_a_key_removed_as_compromised_no_longer_vouches_for_its_old_releases(reg, tmp_path):
    repo = reg.root
    for name in ("dave", "erin"):
        keys.generate(name)
    assert certify(repo, "us", "1.0.0", "--sign", "bob").ok
    cli(repo, "trust", "add-key", "certifier", "dave", "--sign", "alice")
    commit(repo, "trust root 2: certifier dave")
    assert certify(repo, "us", "1.1.0", "--sign", "dave").ok
    seed_cache(tmp_path, b"one")
    cli(repo, "trust", "add-key", "certifier", "erin", "--sign", "alice")
    cli(repo, "trust", "remove-key", "certifier", "bob", "--sign", "alice")  # bob leaves: his releases stand
    res = cli(repo, "trust", "remove-key", "certifier", "dave", "--sign", "alice", "--compromised", "--json")
    assert json.loads(res.stdout)["version"] == 5
    commit(repo, "trust roots 3-5: erin in, bob out, dave compromised")
    dave = keys.load_signer("dave").keyid
    shown = json.loads(cli(repo, "trust", "show", "--json").stdout)
    assert shown["distrusted"] == [dave]
    assert f"distrusted: {dave}" in cli(repo, "trust", "show").stdout
    problems = violations(repo)
    assert len(problems) == 1 and problems[0].startswith(
        "releases/us/1.1.0.json: signed by 0 of 1 required certifier keys under trust root version 2"), problems
    assert f"key {dave[:12]} was distrusted in trust root version 5 (removed as compromised)" in problems[0]
    assert_one_line_error(get(repo, "1.1.0"), "release us@v1.1.0 is not trusted", "distrusted in trust root version 5")
    assert get(repo, "1.0.0").ok
    assert_one_line_error(run_pedata("trust", "add-key", "promoter", "dave", "--sign", "alice", cwd=repo),
                          "was removed as compromised in trust root version 5")
    cli(repo, "sign", "releases/us/1.1.0.json", "--sign", "erin")
    commit(repo, "re-sign 1.1.0 with erin")
    assert violations(repo) == []
    assert get(repo, "1.1.0").ok
