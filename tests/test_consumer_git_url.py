"""Consumers of a registry served as a bare repository through a ``file://`` git URL (issue 18).

The registry's ``main`` has moved past release 1.0.0 (people's bytes went B -> C), so the tip's
``dvc.lock`` names other bytes than every pin a consumer asks for here. ``pedata import`` must
record a revision whose tree holds exactly the pinned bytes, so that plain ``dvc pull`` and
``dvc update`` in a separate DVC project get them too (checked by the sha256 of the file on disk).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from support.resolve import build_registry, build_signed, sha256_of

PEOPLE = "pedata://us/people"


class Reg:
    def __init__(self, base: Path) -> None:
        self.published = build_registry(base / "pub", big_size=4096)
        (base / "signed").mkdir()
        self.signed = build_signed(self.published, base / "signed")
        self.work = self.signed.path
        self.env = {**self.published.env, "PEDATA_KEYS_DIR": str(self.signed.keys)}
        # main moves on: people becomes C, published and committed after the release tag
        (self.work / "seed_people.txt").write_text("C\n")
        run([*dvc_cmd(), "repro", "-q"], cwd=self.work, env=self.env)
        assert run_pedata("publish", cwd=self.work, env=self.env).ok
        run(["git", "add", "-A"], cwd=self.work)
        run(["git", "commit", "-q", "-m", "publish C"], cwd=self.work)
        self.people_c = sha256_of(self.work / "people.bin")
        self.bare = base / "origin.git"
        run(["git", "clone", "-q", "--bare", str(self.work), str(self.bare)], cwd=base)

    @property
    def a(self) -> str:
        return self.published.people_a

    @property
    def b(self) -> str:
        return self.published.people_b


@pytest.fixture(scope="module")
def reg(tmp_path_factory) -> Reg:
    return Reg(tmp_path_factory.mktemp("h18"))


def consumer(tmp: Path, name: str = "consumer") -> Path:
    c = tmp / name
    c.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=c)
    run([*dvc_cmd(), "init", "-q"], cwd=c)
    run(["git", "commit", "-q", "-m", "dvc init"], cwd=c)
    return c


def dvc_file(path: Path) -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())


def pull_afresh(c: Path, out: str) -> str:
    """Drop the file and the consumer's DVC cache, ``dvc pull``; the sha256 of what DVC wrote."""
    (c / out).unlink()
    shutil.rmtree(c / ".dvc" / "cache", ignore_errors=True)
    run([*dvc_cmd(), "pull", "-q", f"{out}.dvc"], cwd=c)
    return sha256_of(c / out)


def test_import_release_after_main_moved_then_dvc_pull_and_update(reg, tmp_path):
    assert reg.people_c not in (reg.a, reg.b)
    url = f"file://{reg.bare}"
    c = consumer(tmp_path)
    res = run_pedata("import", f"{PEOPLE}@v1.0.0", "--registry", url, "-o", "data/people.bin", cwd=c)
    assert res.ok, res
    assert res.stdout.strip().endswith("rev us/v1.0.0)"), res.stdout
    assert sha256_of(c / "data/people.bin") == reg.b
    d = dvc_file(c / "data/people.bin.dvc")
    repo = d["deps"][0]["repo"]
    assert (repo["url"], repo["rev"]) == (url, "us/v1.0.0")
    assert d["meta"]["pedata"] == {"uri": f"{PEOPLE}@v1.0.0", "sha256": reg.b}
    run(["git", "add", "-A"], cwd=c)
    run(["git", "commit", "-q", "-m", "import"], cwd=c)
    # plain DVC, in the consumer, with nothing of pedata's: exactly the pinned bytes
    assert pull_afresh(c, "data/people.bin") == reg.b
    run([*dvc_cmd(), "update", "-q", "data/people.bin.dvc"], cwd=c)
    assert sha256_of(c / "data/people.bin") == reg.b
    d2 = dvc_file(c / "data/people.bin.dvc")
    assert d2["deps"][0]["repo"]["rev"] == "us/v1.0.0" and d2["meta"] == d["meta"]  # DVC keeps pedata's record


@pytest.mark.parametrize("ref", ["next", "sha256:A"])
def test_import_channel_and_older_sha256_record_the_publishing_commit(reg, tmp_path, ref):
    url = f"file://{reg.bare}"
    want = reg.b if ref == "next" else reg.a
    ref = ref.replace("A", reg.a)
    c = consumer(tmp_path)
    res = run_pedata("import", f"{PEOPLE}@{ref}", "--registry", url, "-o", "people.bin", "--json", cwd=c)
    assert res.ok, res
    assert sha256_of(c / "people.bin") == want
    rev = json.loads(res.stdout)["import_rev"]
    # the commit that first added the pin's manifest: its dvc.lock names exactly these bytes
    added = run(["git", "log", "--diff-filter=A", "--format=%H", "main", "--", f"manifests/us/people/{want}.json"],
                cwd=reg.bare).stdout.split()[-1]
    assert rev == added
    assert dvc_file(c / "people.bin.dvc")["deps"][0]["repo"]["rev"] == added
    assert pull_afresh(c, "people.bin") == want
    run([*dvc_cmd(), "update", "-q", "people.bin.dvc"], cwd=c)
    assert sha256_of(c / "people.bin") == want


def test_moved_release_tag_is_refused_and_nothing_is_left(reg, tmp_path):
    """An attacker force-moves the release tag to the tip (other bytes): the sha256 check refuses."""
    bare = tmp_path / "moved.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", "moved", "main"], cwd=bare)
    c = consumer(tmp_path)
    res = run_pedata("import", f"{PEOPLE}@v1.0.0", "--registry", f"file://{bare}", "-o", "people.bin", cwd=c)
    assert_one_line_error(res, reg.people_c, reg.b, "removed people.bin")
    assert res.returncode == 3
    assert not (c / "people.bin").exists() and not (c / "people.bin.dvc").exists()


def test_update_moves_a_channel_import_to_the_promoted_pin(reg, tmp_path):
    bare = tmp_path / "upd.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    url = f"file://{bare}"
    c = consumer(tmp_path)
    for ref, out in (("next", "next.bin"), ("v1.0.0", "rel.bin")):
        assert run_pedata("import", f"{PEOPLE}@{ref}", "--registry", url, "-o", out, cwd=c).ok
    res = run_pedata("update", cwd=c)
    assert res.ok, res
    assert res.stdout.splitlines() == [
        f"current  next.bin.dvc: {PEOPLE}@next still pins sha256 {reg.b[:12]}",
        f"pinned   rel.bin.dvc: {PEOPLE}@v1.0.0 names fixed bytes (a release or sha256), nothing to move",
    ]
    # a promoter moves next to C and pushes it to the origin
    work = tmp_path / "work"
    run(["git", "clone", "-q", url, str(work)], cwd=tmp_path)
    assert run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=work, env=reg.env).ok
    run(["git", "commit", "-q", "-m", "promote next"], cwd=work)
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work)
    res = run_pedata("update", "next.bin", cwd=c)
    assert res.ok, res
    added = run(["git", "log", "--diff-filter=A", "--format=%H", "main", "--", f"manifests/us/people/{reg.people_c}.json"],
                cwd=bare).stdout.split()[-1]
    assert res.stdout == f"updated  next.bin.dvc: {PEOPLE}@next sha256 {reg.b[:12]} -> {reg.people_c[:12]} (rev {added}, verified)\n"
    assert sha256_of(c / "next.bin") == reg.people_c and sha256_of(c / "rel.bin") == reg.b
    d = dvc_file(c / "next.bin.dvc")
    assert d["deps"][0]["repo"]["rev"] == added and d["meta"]["pedata"]["sha256"] == reg.people_c
    assert pull_afresh(c, "next.bin") == reg.people_c
    # a file that pedata did not import is named, not guessed at
    (c / "plain.txt").write_text("x")
    assert_one_line_error(run_pedata("update", "plain.txt", cwd=c), "plain.txt: no plain.txt.dvc")


def test_origin_whose_head_names_a_missing_branch(reg, tmp_path):
    """``git init --bare`` says master; the registry pushed main. Tagged releases still resolve."""
    bare = tmp_path / "dangling.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    run(["git", "symbolic-ref", "HEAD", "refs/heads/master"], cwd=bare)
    url = f"file://{bare}"
    for extra in ((), ("--rev", "us/v1.0.0")):
        res = run_pedata("get", f"{PEOPLE}@v1.0.0", "--registry", url, *extra, "--json", cwd=tmp_path)
        assert res.ok, (extra, res)
        assert json.loads(res.stdout)["sha256"] == reg.b
    c = consumer(tmp_path)
    res = run_pedata("import", f"{PEOPLE}@v1.0.0", "--registry", url, "-o", "people.bin", cwd=c)
    assert res.ok, res
    assert sha256_of(c / "people.bin") == reg.b
    # two branches and neither is main: say what to do
    run(["git", "branch", "-m", "main", "trunk"], cwd=bare)
    run(["git", "branch", "other", "trunk"], cwd=bare)
    res = run_pedata("get", f"{PEOPLE}@v1.0.0", "--registry", url, cwd=tmp_path / "consumer")
    assert_one_line_error(res, "HEAD names a branch that does not exist", "branches: other, trunk", "--rev BRANCH")


READ_ONLY = [
    ("schema", f"{PEOPLE}@v1.0.0"),
    ("diff", f"{PEOPLE}@v1.0.0", f"{PEOPLE}@latest"),
    ("releases",),
    ("releases", "us", "--json"),
    ("show", "us@1.0.0"),
    ("cite", "us@1.0.0"),
    ("cite", "us@1.0.0", "--format", "bibtex"),
    ("export", "us@1.0.0", "--format", "datapackage"),
    ("lineage", f"{PEOPLE}@v1.0.0"),
]


def test_read_only_commands_take_a_registry_url(reg, tmp_path):
    """Each read-only command gives, from an empty folder with --registry URL (or $PEDATA_REGISTRY),
    exactly what it prints inside the registry's own checkout."""
    url = f"file://{reg.bare}"
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in READ_ONLY:
        here = run_pedata(*args, cwd=reg.work)
        assert here.ok, (args, here)
        there = run_pedata(*args, "--registry", url, cwd=empty)
        assert there.ok, (args, there)
        assert there.stdout == here.stdout, args
    via_env = run_pedata("releases", cwd=empty, env={"PEDATA_REGISTRY": url})
    assert via_env.ok and via_env.stdout == run_pedata("releases", cwd=reg.work).stdout
    # one clone per URL, shared with the resolver: a get then reads the same cached clone
    assert run_pedata("get", f"{PEOPLE}@v1.0.0", "--registry", url, cwd=empty).ok
    clones = Path(os.environ["PEDATA_CACHE_DIR"]) / "registries"
    assert len([p for p in clones.iterdir() if len(p.name) == 64]) == 1
    bad = run_pedata("releases", "--registry", f"file://{tmp_path}/nothing.git", cwd=empty)
    assert_one_line_error(bad, "nothing.git")


def test_status_fails_for_revoked_imports_and_files_from_get_o(reg, tmp_path):
    bare = tmp_path / "rv.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    url = f"file://{bare}"
    c = consumer(tmp_path, "analysis")
    plain = tmp_path / "plain"  # not a DVC project: get -o alone
    plain.mkdir()
    for args, cwd in (((f"{PEOPLE}@sha256:{reg.a}", "-o", "data/a.bin"), c), ((f"{PEOPLE}@next", "-o", "data/b.bin"), c),
                      ((f"{PEOPLE}@next", "-o", "b.bin"), plain)):
        assert run_pedata("get", *args, "--registry", url, cwd=cwd).ok
    assert run_pedata("import", f"{PEOPLE}@v1.0.0", "--registry", url, "-o", "imp.bin", cwd=c).ok
    for cwd in (c, plain):
        res = run_pedata("status", cwd=cwd)
        assert (res.returncode, res.stdout) == (0, "no revoked artifacts\n"), res
    # the revoker revokes B and pushes the tombstone
    work = tmp_path / "work"
    run(["git", "clone", "-q", url, str(work)], cwd=tmp_path)
    # a short sha256, as pedata prints them
    res = run_pedata("revoke", reg.b[:12], "--reason", "consent withdrawn", "--authority", "Data Office", "--sign", "alice",
                     cwd=work, env=reg.env)
    assert res.ok, res
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work)
    res = run_pedata("status", "--json", cwd=c)
    assert res.returncode == 4, res
    assert sorted((i["path"], i["sha256"], i["reason"]) for i in json.loads(res.stdout)) == [
        ("data/b.bin", reg.b, "consent withdrawn"), ("imp.bin", reg.b, "consent withdrawn")]
    res = run_pedata("status", cwd=plain)
    assert res.returncode == 4 and res.stdout.startswith(f"revoked: b.bin (sha256 {reg.b}, written by pedata get -o"), res
    # a file replaced by other bytes since is not the revoked bytes
    (plain / "b.bin").unlink()  # (may be a read-only hard link to the cache object)
    (plain / "b.bin").write_bytes(b"other")
    res = run_pedata("status", cwd=plain)
    assert (res.returncode, res.stdout) == (0, "no revoked artifacts\n"), res


def test_short_sha256_and_did_you_mean(reg, tmp_path):
    url = f"file://{reg.bare}"
    short = reg.a[:12]
    res = run_pedata("get", f"{PEOPLE}@sha256:{short}", "--registry", url, "--json", cwd=tmp_path)
    assert res.ok, res
    data = json.loads(res.stdout)
    assert (data["uri"], data["sha256"]) == (f"{PEOPLE}@sha256:{reg.a}", reg.a)
    assert sha256_of(Path(data["path"])) == reg.a
    full = run_pedata("schema", f"{PEOPLE}@sha256:{reg.a}", "--registry", url, cwd=tmp_path)
    assert run_pedata("schema", f"{PEOPLE}@sha256:{short}", "--registry", url, cwd=tmp_path).stdout == full.stdout
    c = consumer(tmp_path)
    assert run_pedata("import", f"{PEOPLE}@sha256:{reg.b[:16]}", "--registry", url, "-o", "b.bin", cwd=c).ok
    assert dvc_file(c / "b.bin.dvc")["meta"]["pedata"] == {"uri": f"{PEOPLE}@sha256:{reg.b}", "sha256": reg.b}
    assert_one_line_error(run_pedata("get", f"{PEOPLE}@sha256:{reg.a[:11]}", "--registry", url, cwd=tmp_path),
                          "unique prefix of at least 12")
    assert_one_line_error(run_pedata("get", f"{PEOPLE}@sha256:{'0' * 12}", "--registry", url, cwd=tmp_path),
                          "no manifest for us/people with a sha256 starting 000000000000")
    # hints
    assert_one_line_error(run_pedata("get", f"{PEOPLE}@1.0.0", "--registry", url, cwd=tmp_path),
                          "no channel us/1.0.0", "did you mean @v1.0.0? (that release exists)")
    assert_one_line_error(run_pedata("get", f"{PEOPLE}@nxet", "--registry", url, cwd=tmp_path),
                          "no channel us/nxet", "(did you mean 'next'?)")
    assert_one_line_error(run_pedata("get", "pedata://us/peple@latest", "--registry", url, cwd=tmp_path),
                          "has no artifact 'peple' (did you mean 'people'?)")
    assert_one_line_error(run_pedata("schema", f"{PEOPLE}@1.0.0", "--registry", url, cwd=tmp_path), "did you mean @v1.0.0?")
    # offline, bytes not cached: the suggested command keeps the --registry the user gave
    res = run_pedata("get", f"{PEOPLE}@sha256:{reg.people_c}", "--registry", url, "--offline", cwd=tmp_path)
    assert_one_line_error(res, f"run 'pedata get {PEOPLE}@sha256:{reg.people_c} --registry {url}' once online")


def test_an_ambiguous_prefix_is_refused_not_guessed(reg, tmp_path):
    """An attacker plants a second manifest whose name shares the 12-digit prefix of a real one."""
    work = tmp_path / "work"
    run(["git", "clone", "-q", str(reg.bare), str(work)], cwd=tmp_path)
    forged = reg.a[:12] + ("0" * 52 if reg.a[12] != "0" else "1" * 52)
    folder = work / "manifests/us/people"
    (folder / f"{forged}.json").write_bytes((folder / f"{reg.a}.json").read_bytes())
    run(["git", "add", "-A"], cwd=work)
    run(["git", "commit", "-q", "-m", "plant"], cwd=work)
    res = run_pedata("get", f"{PEOPLE}@sha256:{reg.a[:12]}", "--registry", str(work), cwd=tmp_path)
    assert_one_line_error(res, f"sha256 prefix {reg.a[:12]} is ambiguous: 2 manifests of us/people", "give more digits")
    res = run_pedata("get", f"{PEOPLE}@sha256:{reg.a[:13]}", "--registry", str(work), "--json", cwd=tmp_path)
    assert res.ok and json.loads(res.stdout)["sha256"] == reg.a, res


def test_update_to_bytes_dvc_cannot_deliver_restores_the_previous_import(reg, tmp_path):
    """An attacker moves the unsigned ``latest`` to a forged manifest (a sha256 no bytes have, the
    tip's path and md5); DVC brings the tip's bytes, the hash refuses them, the old import stays."""
    import hashlib
    import secrets

    import rfc8785

    bare = tmp_path / "forge.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    url = f"file://{bare}"
    c = consumer(tmp_path)
    assert run_pedata("import", f"{PEOPLE}@latest", "--registry", url, "-o", "p.bin", cwd=c).ok
    before = (c / "p.bin.dvc").read_bytes()
    work = tmp_path / "work"
    run(["git", "clone", "-q", url, str(work)], cwd=tmp_path)
    doc = json.loads((work / f"manifests/us/people/{reg.people_c}.json").read_text())
    fake = secrets.token_hex(32)
    doc["digest"]["sha256"] = fake  # a manifest is an unsigned document (docs/registry.md)
    (work / f"manifests/us/people/{fake}.json").write_text(json.dumps(doc, indent=2))
    ch = json.loads((work / "channels/us/latest.json").read_text())
    # a new version chained to the current one (the same version with other pins is refused as a
    # rewritten history before DVC is asked: tests/test_review_attacks.py)
    ch["signed"]["prev"] = hashlib.sha256(rfc8785.dumps(ch["signed"])).hexdigest()
    ch["signed"]["version"] += 1
    ch["signed"]["artifacts"]["people"].update(
        sha256=fake, manifest_sha256=hashlib.sha256(rfc8785.dumps(doc)).hexdigest())
    (work / "channels/us/latest.json").write_text(json.dumps(ch, indent=2))
    run(["git", "add", "-A"], cwd=work)
    run(["git", "commit", "-q", "-m", "forge"], cwd=work)
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work)
    res = run_pedata("update", "p.bin", cwd=c)
    assert_one_line_error(res, f"gave sha256 {reg.people_c}, but the pin is {fake}", f"restored the previous import (sha256 {reg.people_c})")
    assert res.returncode == 3
    assert (c / "p.bin.dvc").read_bytes() == before and sha256_of(c / "p.bin") == reg.people_c


def test_remote_audit_trail_read_through_the_registry_url(reg, tmp_path):
    bare = tmp_path / "audit.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    url = f"file://{bare}"
    work = tmp_path / "work"
    run(["git", "clone", "-q", url, str(work)], cwd=tmp_path)
    cfg = json.loads((work / "pedata.json").read_text())
    cfg["audit"] = {"remote": True}
    (work / "pedata.json").write_text(json.dumps(cfg, indent=2) + "\n")
    run(["git", "commit", "-q", "-am", "remote audit"], cwd=work)
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_pedata("get", f"{PEOPLE}@sha256:{reg.a}", "--registry", url, cwd=empty).ok
    res = run_pedata("audit", "--remote", "--registry", url, "--json", cwd=empty)
    assert res.ok, res
    assert f"{PEOPLE}@sha256:{reg.a}" in [e["uri"] for e in json.loads(res.stdout)]


def test_checkouts_of_a_url_are_reused_and_old_ones_dropped(reg, tmp_path):
    import time

    bare = tmp_path / "trees.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    url = f"file://{bare}"
    assert run_pedata("releases", "--registry", url, cwd=tmp_path).ok
    [trees] = (Path(os.environ["PEDATA_CACHE_DIR"]) / "registries").glob("*.trees")
    first = run(["git", "rev-parse", "main"], cwd=bare).stdout.strip()
    assert sorted(p.name for p in trees.iterdir()) == [first, f"{first}.ok"]
    work = tmp_path / "work"
    run(["git", "clone", "-q", url, str(work)], cwd=tmp_path)
    run(["git", "commit", "-q", "--allow-empty", "-m", "later"], cwd=work)
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work)
    second = run(["git", "rev-parse", "main"], cwd=bare).stdout.strip()
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(trees / f"{first}.ok", (two_days_ago, two_days_ago))
    assert run_pedata("releases", "--registry", url, cwd=tmp_path).ok
    assert sorted(p.name for p in trees.iterdir()) == [second, f"{second}.ok"]
    assert run_pedata("releases", "--registry", url, cwd=tmp_path).ok  # reused as it is
    assert sorted(p.name for p in trees.iterdir()) == [second, f"{second}.ok"]
