"""Issue 17, causes 1-3: one judge, history rules, consumer memory -- attacked from the attacker's side.

One registry publishes to a real S3 bucket (moto's server) with real DVC, a trust root
(alice: root, promoter, revoker; bob: certifier), a signed ``next`` and release 1.0.0 (tagged),
then a second publish. Each test copies it to a bare "server" repository; attackers push to
it from their own clones, forging documents with ``tests/forge.py`` (a key file and the
documented format, no pedata code). Consumers resolve through the git URL with the real CLI,
before and after the attack, and ``pedata verify`` (also ``--base <old tip>``) judges the result.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import attacker as forge
from support import remotes  # the S3 fixtures (tests/support/remotes.py)
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from support.resolve import GEN, sha256_of

PEOPLE = "pedata://us/people"


@dataclass
class World:
    origin: Path
    keys: Path
    env: dict[str, str]
    sha_a: str  # people at release 1.0.0 (and next version 1)
    sha_b: str  # people at latest
    root1: str

    def fork(self, tmp: Path) -> tuple[str, Path]:
        """A bare server copy (its file:// URL) and an attacker's (or maintainer's) full clone of it."""
        server = tmp / "server.git"
        run(["git", "clone", "-q", "--bare", str(self.origin), str(server)], cwd=tmp)
        return f"file://{server}", self.clone(f"file://{server}", tmp / "work")

    def clone(self, url: str, dest: Path) -> Path:
        run(["git", "clone", "-q", url, str(dest)], cwd=dest.parent)
        return dest

    def cli(self, repo: Path, *args: str):
        res = run_pedata(*args, cwd=repo, env=self.env)
        assert res.ok, (args, res.stdout, res.stderr)
        return res


def commit(repo: Path, message: str) -> str:
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", message], cwd=repo)
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def consumer_env() -> dict[str, str]:
    """A consumer's own S3 credentials (``.dvc/config.local`` is never in a clone)."""
    return {"AWS_ACCESS_KEY_ID": remotes.S3_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": remotes.S3_SECRET_ACCESS_KEY}


def get(url: str, ref: str, *extra: str, cwd: Path, env: dict[str, str] | None = None):
    return run_pedata("get", f"{PEOPLE}@{ref}", "--registry", url, *extra, cwd=cwd, env={**consumer_env(), **(env or {})})


def violations(repo: Path, *extra: str) -> list[str]:
    res = run_pedata("verify", "--json", *extra, cwd=repo)
    assert res.returncode in (0, 1) and res.stdout, res.stderr
    return [f"{v['file']}: {v['reason']}" for v in json.loads(res.stdout)["violations"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory, s3_server) -> World:
    base = tmp_path_factory.mktemp("world")
    keys = base / "keys"
    env = {"PEDATA_KEYS_DIR": str(keys), "PEDATA_CACHE_DIR": str(base / "publisher-cache"),
           "PEDATA_STORAGE_DIR": str(base / "unused-storage")}
    origin = base / "origin"
    origin.mkdir()
    if not s3_server.running:
        s3_server.start()
    remote = s3_server.make_remote()
    run(["git", "init", "-q", "-b", "main"], cwd=origin)
    w = World(origin, keys, env, "", "", "")
    w.cli(origin, "init", "-n", "us")
    run([*dvc_cmd(), "remote", "remove", "--local", "storage"], cwd=origin)  # init keeps its folder in config.local
    remote.configure(origin, "storage", default=True)
    (origin / "gen.py").write_text(GEN)
    (origin / "seed.txt").write_text("A\n")
    (origin / "dvc.yaml").write_text(
        "stages:\n  people:\n"
        f"    cmd: {sys.executable} gen.py people.bin seed.txt 20000\n"
        "    deps: [gen.py, seed.txt]\n    outs: [people.bin]\n"
        "artifacts:\n  people:\n    path: people.bin\n"
    )
    run([*dvc_cmd(), "repro", "-q"], cwd=origin)
    w.cli(origin, "publish")
    commit(origin, "publish A")
    w.sha_a = sha256_of(origin / "people.bin")
    for name in ("alice", "bob", "dave"):
        w.cli(origin, "key", "generate", name)
    w.cli(origin, "trust", "init", "--root", "alice", "--certifier", "bob", "--expires", "never")
    commit(origin, "trust root 1")
    w.cli(origin, "promote", "us", "--sign", "alice", "--no-commit")
    commit(origin, "next v1")
    w.cli(origin, "certify", "us", "1.0.0", "--sign", "bob")
    (origin / "seed.txt").write_text("B\n")
    run([*dvc_cmd(), "repro", "-q"], cwd=origin)
    w.cli(origin, "publish")
    commit(origin, "publish B")
    w.sha_b = sha256_of(origin / "people.bin")
    w.root1 = forge.digest(forge.load(origin / "trust/root/1.json")["signed"])
    return w


def push(repo: Path, *refs: str, force: bool = False) -> None:
    run(["git", "push", "-q", *(["-f"] if force else []), "origin", *(refs or ("HEAD:main",))], cwd=repo)


# -- cause 1: one judge ------------------------------------------------------------------------------
def test_a_signed_release_or_channel_copied_to_another_name_is_refused(world, tmp_path):
    url, attacker = world.fork(tmp_path)
    before = get(url, "v1.0.0", "--trusted-root", world.root1, "--json", cwd=tmp_path)
    assert before.ok and json.loads(before.stdout)["sha256"] == world.sha_a, before
    # push access, no keys: copy signed documents under names their bodies do not give
    (attacker / "releases/us/2.0.0.json").write_bytes((attacker / "releases/us/1.0.0.json").read_bytes())
    (attacker / "channels/us/stable.json").write_bytes((attacker / "channels/us/next.json").read_bytes())
    commit(attacker, "copies")
    push(attacker)
    release = get(url, "v2.0.0", "--trusted-root", world.root1, cwd=tmp_path)
    assert_one_line_error(release, "release us@v2.0.0 is not trusted: releases/us/2.0.0.json: stored under the wrong "
                          "name: the document is release us@1.0.0 (it belongs at releases/us/1.0.0.json")
    assert release.returncode == 3
    channel = get(url, "stable", "--trusted-root", world.root1, cwd=tmp_path)
    assert_one_line_error(channel, "channel us/stable (version 1) is not trusted: channels/us/stable.json: stored under "
                          "the wrong name: the document is channel us/next")
    found = violations(attacker)
    assert "releases/us/2.0.0.json: stored under the wrong name: the document is release us@1.0.0 (it belongs at " \
           "releases/us/1.0.0.json; a copy vouches for nothing)" in found, found
    assert any(v.startswith("channels/us/stable.json: stored under the wrong name: the document is channel us/next")
               for v in found), found
    assert get(url, "v1.0.0", "--trusted-root", world.root1, cwd=tmp_path).ok  # the original still resolves


# -- cause 2: history rules ----------------------------------------------------------------------
def _forged_release(repo: Path, world: World, version: str, signer: str) -> None:
    doc = forge.load(repo / "releases/us/1.0.0.json")
    doc["signed"]["version"], doc["signed"]["previous"] = version, "1.0.0"
    forge.write(repo / f"releases/us/{version}.json", forge.sign(doc, "release", world.keys / f"{signer}.key", replace=True))
    sha = commit(repo, f"release {version}")
    message = f"pedata release us@{version}\n\nfile: releases/us/{version}.json\nrelease-digest: sha256:{forge.digest(doc['signed'])}\n"
    run(["git", "tag", "-a", f"us/v{version}", "-m", message, sha], cwd=repo)


def test_a_removed_certifier_gains_nothing_by_merging_main_into_a_back_dated_branch(world, tmp_path):
    url, maintainer = world.fork(tmp_path)
    bob = world.clone(url, tmp_path / "bob")  # forked before the rotation
    world.cli(maintainer, "trust", "add-key", "certifier", "dave", "--sign", "alice")
    world.cli(maintainer, "trust", "remove-key", "certifier", "bob", "--sign", "alice")
    commit(maintainer, "trust roots 2 and 3: bob leaves the certifiers")
    push(maintainer)
    assert get(url, "v1.0.0", cwd=tmp_path).ok  # a consumer before the attack (sees root 3)
    # bob, no longer a certifier, signs 1.1.0 on his old branch, merges main in and fast-forwards main
    _forged_release(bob, world, "1.1.0", "bob")
    run(["git", "pull", "-q", "--no-rebase", "--no-edit", "origin", "main"], cwd=bob)
    assert run(["git", "rev-parse", "HEAD^1"], cwd=bob).stdout != run(["git", "rev-parse", "origin/main"], cwd=bob).stdout
    merge = run(["git", "rev-parse", "HEAD"], cwd=bob).stdout.strip()
    push(bob, "HEAD:main", "refs/tags/us/v1.1.0")
    checker = world.clone(url, tmp_path / "ci")
    found = [v for v in violations(checker) if v.startswith("releases/us/1.1.0.json")]
    assert found and found[0].startswith("releases/us/1.1.0.json: signed by 0 of 1 required certifier keys under trust "
                                         f"root version 3 (in force when this version was committed in {merge[:10]})"), found
    refused = get(url, "v1.1.0", cwd=tmp_path)
    assert_one_line_error(refused, "release us@v1.1.0 is not trusted: signed by 0 of 1 required certifier keys under "
                          "trust root version 3")
    assert get(url, "v1.0.0", cwd=tmp_path).ok  # bob's earlier release stands


def test_a_certifier_re_signing_a_tagged_release_with_other_pins_is_refused(world, tmp_path):
    url, bob = world.fork(tmp_path)
    before = get(url, "v1.0.0", "--json", cwd=tmp_path)
    assert before.ok and json.loads(before.stdout)["sha256"] == world.sha_a
    doc = forge.load(bob / "releases/us/1.0.0.json")
    doc["signed"]["pins"] = forge.load(bob / "channels/us/latest.json")["signed"]["artifacts"]
    forge.write(bob / "releases/us/1.0.0.json", forge.sign(doc, "release", world.keys / "bob.key", replace=True))
    commit(bob, "1.0.0 now pins B")
    push(bob)
    found = violations(bob)
    assert "releases/us/1.0.0.json: pins changed since tag us/v1.0.0: a tagged release never changes what it pins " \
           "(citations resolve to those bytes); restore it and certify a new version instead" in found, found
    # the consumer that resolved before remembers the pins it was served
    again = get(url, "v1.0.0", cwd=tmp_path)
    assert_one_line_error(again, "release us@v1.0.0 in registry", "pins other bytes than when this consumer resolved it before")
    # a checkout that has the tag compares with it, even with no memory
    fresh = world.clone(url, tmp_path / "fresh")
    res = run_pedata("get", f"{PEOPLE}@v1.0.0", cwd=fresh, env={**consumer_env(), "PEDATA_CACHE_DIR": str(tmp_path / "c2")})
    assert_one_line_error(res, "release us@v1.0.0 is not trusted: releases/us/1.0.0.json: pins changed since tag us/v1.0.0")


def test_a_force_push_dropping_a_rotation_and_a_tombstone_fails_verify_base_and_every_consumer_that_saw_them(
        world, tmp_path):
    url, maintainer = world.fork(tmp_path)
    old = run(["git", "rev-parse", "HEAD"], cwd=maintainer).stdout.strip()
    local = world.clone(url, tmp_path / "local")  # a consumer's own checkout, never pulled again
    assert run_pedata("get", f"{PEOPLE}@sha256:{world.sha_a}", cwd=local, env=consumer_env()).ok
    warm = run_pedata("get", f"{PEOPLE}@sha256:{world.sha_a}", cwd=local, env=consumer_env())
    assert warm.ok and sha256_of(Path(warm.stdout.strip())) == world.sha_a  # cached, memo written
    world.cli(maintainer, "trust", "add-key", "certifier", "dave", "--sign", "alice")
    commit(maintainer, "trust root 2")
    world.cli(maintainer, "revoke", f"{PEOPLE}@sha256:{world.sha_a}", "--reason", "disclosure risk",
              "--authority", "the office", "--sign", "alice", "bob")
    tip = run(["git", "rev-parse", "HEAD"], cwd=maintainer).stdout.strip()
    push(maintainer)
    revoked = get(url, f"sha256:{world.sha_a}", cwd=tmp_path)
    assert_one_line_error(revoked, f"sha256 {world.sha_a} was revoked")
    assert revoked.returncode == 4
    assert get(url, "next", cwd=tmp_path).returncode == 4  # next still pins A: refused, and root 2 remembered
    # the attacker (push access) force-pushes the old tip: no root 2, no tombstone
    run(["git", "push", "-q", "-f", "origin", f"{old}:refs/heads/main"], cwd=maintainer)
    checker = world.clone(url, tmp_path / "ci")
    assert violations(checker) == []  # the rewritten history alone looks fine...
    run(["git", "fetch", "-q", str(maintainer), tip], cwd=checker)  # CI keeps the tip it last verified
    found = violations(checker, "--base", tip)  # ...but not against that tip
    assert f"trust/root/2.json: present at base {tip[:10]} but missing at HEAD: root versions are never removed " \
           "(an old key would count again)" in found, found
    assert f"tombstones/{world.sha_a}.json: present at base {tip[:10]} but missing at HEAD: a revocation is never " \
           "withdrawn" in found, found
    # the consumer that saw them refuses, from the registry and from its own cache and memo
    again = get(url, f"sha256:{world.sha_a}", cwd=tmp_path)
    assert_one_line_error(again, f"{PEOPLE}@sha256:{world.sha_a}: sha256 {world.sha_a} was revoked on ",
                          "by the office: disclosure risk (this consumer saw the tombstone; revoked bytes are never "
                          f"served again, whatever the registry {url} says now)")
    memo = run_pedata("get", f"{PEOPLE}@sha256:{world.sha_a}", cwd=local, env=consumer_env())
    assert_one_line_error(memo, f"sha256 {world.sha_a} was revoked")
    rollback = get(url, "latest", cwd=tmp_path)  # latest pins B (not revoked): the older root alone refuses
    assert_one_line_error(rollback, f"registry {url} serves trust root version 1, but this consumer already verified "
                          "version 2: a rollback", f"pedata trust state --reset {world.root1}")
    # the state is shown, and forgotten for this registry on purpose
    shown = run_pedata("trust", "state", "--json", cwd=tmp_path)
    state = json.loads(shown.stdout)["registries"]
    assert [(s["registry"], s["root_version"], sorted(s["tombstones"])) for s in state] == [(world.root1, 2, [world.sha_a])]
    assert run_pedata("trust", "state", "--reset", world.root1, cwd=tmp_path).stdout.startswith(f"forgot registry {world.root1}")
    assert get(url, "latest", cwd=tmp_path).ok


def test_a_channel_version_that_leaves_no_room_is_refused_and_never_written(world, tmp_path):
    url, promoter = world.fork(tmp_path)
    assert get(url, "next", cwd=tmp_path).ok
    path = promoter / "channels/us/next.json"
    doc = forge.load(path)
    doc["signed"]["prev"] = forge.digest(doc["signed"])  # chained onto version 1, as a real next version is
    doc["signed"]["version"] = 2**53 - 1  # a pull request by a promoter: still signed
    forge.write(path, forge.sign(doc, "channel", world.keys / "alice.key", replace=True))
    commit(promoter, "next at 2^53-1")
    found = violations(promoter)
    assert f"channels/us/next.json: version {2**53 - 1} leaves no room for a next version (at most {2**53 - 2}); " \
           "restore the channel's previous version" in found, found
    assert any(f"version {2**53 - 1} jumps from version 1" in v for v in found), found
    kept = path.read_bytes()
    res = run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=promoter, env=world.env)
    assert_one_line_error(res, f"channels/us/next.json: version {2**53 - 1} leaves no room", "nothing written")
    assert path.read_bytes() == kept
    push(promoter)
    assert_one_line_error(get(url, "next", cwd=tmp_path), "channel us/next", "leaves no room for a next version")


def test_a_consumer_refuses_an_older_signed_channel_version(world, tmp_path):
    url, maintainer = world.fork(tmp_path)
    world.cli(maintainer, "promote", "us", "--sign", "alice", "--no-commit")
    commit(maintainer, "next v2")
    push(maintainer)
    res = get(url, "next", "--json", cwd=tmp_path)
    assert res.ok and json.loads(res.stdout)["sha256"] == world.sha_b
    run(["git", "checkout", "-q", "HEAD~1", "--", "channels/us/next.json"], cwd=maintainer)  # a replay of version 1
    commit(maintainer, "next back to v1")
    push(maintainer)
    assert any("rollback: version 1 replaces version 2" in v for v in violations(maintainer))
    assert_one_line_error(get(url, "next", cwd=tmp_path), f"channel us/next is at version 1 in registry {url}, but this "
                          "consumer already served version 2")


def test_an_unsigned_latest_under_a_pinned_root_is_reported_and_can_be_refused(world, tmp_path):
    url, hostile = world.fork(tmp_path)  # a hostile copy: root 1 copied, its own latest
    warned = get(url, "latest", "--trusted-root", world.root1, "--json", cwd=tmp_path)
    assert warned.ok, warned
    note = ("channel us/latest is unsigned: nobody vouches for what it points at, even under the pinned trust root; "
            "resolve a signed channel or a release")
    assert warned.stderr == f"pedata: warning: {note}\n"
    assert json.loads(warned.stdout)["warnings"] == [note]
    assert_one_line_error(get(url, "latest", "--trusted-root", world.root1, "--require-signed", cwd=tmp_path),
                          "channel us/latest is unsigned", "unsigned channels are refused")
    # a work tree: the warm memo replays the warning, and the setting bypasses the memo
    for _ in range(2):
        res = run_pedata("get", f"{PEOPLE}@latest", "--trusted-root", world.root1, cwd=hostile, env=consumer_env())
        assert res.ok and res.stderr == f"pedata: warning: {note}\n", res
    assert_one_line_error(run_pedata("get", f"{PEOPLE}@latest", "--trusted-root", world.root1, cwd=hostile,
                                     env={**consumer_env(), "PEDATA_REQUIRE_SIGNED": "1"}), "channel us/latest is unsigned")
    assert run_pedata("get", f"{PEOPLE}@latest", cwd=hostile, env=consumer_env()).stderr == ""  # no pin: as before


def test_a_back_dated_branch_that_copies_the_new_root_is_caught_by_verify_base(world, tmp_path):
    """The honest limit of whole-history rules, and what closes it: the base's root is a floor."""
    url, maintainer = world.fork(tmp_path)
    bob = world.clone(url, tmp_path / "bob")
    world.cli(maintainer, "trust", "add-key", "certifier", "dave", "--sign", "alice")
    world.cli(maintainer, "trust", "remove-key", "certifier", "bob", "--sign", "alice")
    tip = commit(maintainer, "trust roots 2 and 3: bob leaves the certifiers")
    push(maintainer)
    _forged_release(bob, world, "1.1.0", "bob")
    run(["git", "fetch", "-q", "origin"], cwd=bob)
    for n in (2, 3):  # the new roots copied into a commit of the branch: it now looks like a later rotation
        (bob / f"trust/root/{n}.json").write_bytes(run(["git", "show", f"origin/main:trust/root/{n}.json"], cwd=bob).stdout.encode())
    commit(bob, "roots")
    run(["git", "merge", "-q", "--no-edit", "origin/main"], cwd=bob)
    found = violations(bob, "--base", tip)
    assert any(v.startswith("releases/us/1.1.0.json: signed by 0 of 1 required certifier keys under trust root version 3")
               for v in found), found


def test_history_the_consumer_asks_for_is_not_a_rollback(world, tmp_path):
    """``--rev`` (what ``pedata import`` records) reads an older root and channel on purpose: served,
    as long as the registry's current state is not older than what the consumer saw."""
    url, maintainer = world.fork(tmp_path)
    before = run(["git", "rev-parse", "HEAD"], cwd=maintainer).stdout.strip()
    world.cli(maintainer, "promote", "us", "--sign", "alice", "--no-commit")
    commit(maintainer, "next v2")
    world.cli(maintainer, "trust", "add-key", "certifier", "dave", "--sign", "alice")
    commit(maintainer, "trust root 2")
    push(maintainer)
    assert get(url, "next", cwd=tmp_path).ok  # remembers root 2 and next version 2
    at_tag = get(url, "v1.0.0", "--rev", "us/v1.0.0", "--json", cwd=tmp_path)
    assert at_tag.ok and json.loads(at_tag.stdout)["sha256"] == world.sha_a, at_tag
    old_next = get(url, "next", "--rev", before, "--json", cwd=tmp_path)
    assert old_next.ok and json.loads(old_next.stdout)["sha256"] == world.sha_a, old_next
    run(["git", "push", "-q", "-f", "origin", f"{before}:refs/heads/main"], cwd=maintainer)  # now the current state rolls back
    assert_one_line_error(get(url, "v1.0.0", "--rev", "us/v1.0.0", cwd=tmp_path),
                          "serves trust root version 1, but this consumer already verified version 2")


def test_trust_state_shows_the_memory_and_a_damaged_state_file_is_named_not_reset(world, tmp_path):
    url, _ = world.fork(tmp_path)
    assert get(url, "next", cwd=tmp_path).ok and get(url, "v1.0.0", cwd=tmp_path).ok
    shown = run_pedata("trust", "state", cwd=tmp_path)
    pins = forge.digest(forge.load(world.origin / "releases/us/1.0.0.json")["signed"]["pins"])
    assert shown.ok and shown.stdout == (f"registry {world.root1}: trust root version 1\n  channel us/next: version 1\n"
                                         f"  release us@v1.0.0: pins sha256:{pins}\n"), shown
    state = Path(json.loads(run_pedata("trust", "state", "--json", cwd=tmp_path).stdout)["state_dir"]) / f"{world.root1}.json"
    state.write_text("{not json")
    res = get(url, "next", cwd=tmp_path)
    assert_one_line_error(res, f"{state}: not a pedata consumer trust state", f"pedata trust state --reset {world.root1}")
    assert state.read_text() == "{not json"  # never silently replaced
    assert run_pedata("trust", "state", "--reset", world.root1, cwd=tmp_path).ok and not state.exists()
    assert get(url, "next", cwd=tmp_path).ok and state.is_file()
