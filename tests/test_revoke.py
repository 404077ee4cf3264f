"""`pedata revoke` on a real registry: tombstone, purge everywhere, refusal by every ref, schema
still answers, releases become unreproducible, verify until the channel moves, history kept."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
from pathlib import Path

from support import stores as store_helpers
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from support.stores import Store

store_template = store_helpers.store_template  # fixtures
store = store_helpers.store

PEOPLE = "pedata://us/people"
TAX = "pedata://us/tax"


def test_revoke_purge_local(store: Store, _isolated_home):
    people = store.pin("people")["sha256"]
    tax = store.pin("tax")["sha256"]
    cache = _isolated_home / "cache"
    assert store.pedata("get", f"{PEOPLE}@v1.0.0").ok  # fills the resolver cache
    resolver_obj = cache / "sha256" / people[:2] / people[2:]
    assert resolver_obj.is_file()
    remote_obj = store.object(store.storage, people)
    dvc_cache_obj = store.object(store.root / ".dvc" / "cache", people)
    assert remote_obj.is_file() and dvc_cache_obj.is_file()

    res = store.pedata("revoke", f"{PEOPLE}@latest", "--reason", "licence withdrawn", "--authority", "US Census Bureau",
                       "--sign", "alice", "--purge", "--json")
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["sha256"] == people and out["commit"]
    # gone from the remote, the DVC cache, the work tree and the resolver cache; the other artifact stays
    assert not remote_obj.exists() and not dvc_cache_obj.exists() and not resolver_obj.exists()
    assert not (store.root / "people.bin").exists()
    assert store.object(store.storage, tax).is_file() and (store.root / "tax.bin").is_file()
    ts = store.doc(f"tombstones/{people}.json")["signed"]
    assert (ts["reason"], ts["authority"]) == ("licence withdrawn", "US Census Bureau")
    where = {(p["kind"], p["status"]) for p in ts["purged"]}
    assert {("remote", "deleted"), ("dvc-cache", "deleted"), ("workspace", "deleted"), ("resolver-cache", "deleted")} <= where
    assert any(p["location"].endswith(remote_obj.relative_to(store.storage).as_posix()) for p in ts["purged"] if p["kind"] == "remote")
    # the release that pinned it: a new signed version, unreproducible, committed; history keeps the old one
    rel = store.doc("releases/us/1.0.0.json")["signed"]
    assert rel["status"] == "unreproducible" and "licence withdrawn" in rel["notice"]["summary"]
    assert out["releases"] == [{"namespace": "us", "version": "1.0.0", "status": "unreproducible"}]
    old = run(["git", "show", "HEAD~1:releases/us/1.0.0.json"], cwd=store.root).stdout
    assert json.loads(old)["signed"]["status"] == "certified"
    assert run(["git", "status", "--porcelain", "tombstones", "releases"], cwd=store.root).stdout == ""
    assert {(c["channel"]) for c in out["channels_still_pointing"]} == {"latest", "next"}

    # resolution refuses by every ref, naming reason, authority and date; schema still answers
    for ref in ("latest", "next", f"sha256:{people}"):
        r = store.pedata("get", f"{PEOPLE}@{ref}")
        assert_one_line_error(r, "revoked", "licence withdrawn", "US Census Bureau", ts["date"])
    assert_one_line_error(store.pedata("get", f"{PEOPLE}@v1.0.0"), "unreproducible")
    sch = store.pedata("schema", f"{PEOPLE}@latest", "--json")
    assert sch.ok and json.loads(sch.stdout)["sha256"] == people

    # dvc pull fails for that artifact only, and pedata status says why
    (store.root / "tax.bin").unlink()
    shutil.rmtree(store.root / ".dvc" / "cache")
    pull = run([*dvc_cmd(), "pull"], cwd=store.root, check=False)
    assert pull.returncode != 0 and (store.root / "tax.bin").is_file() and not (store.root / "people.bin").exists()
    st = store.pedata("status", "--json")
    assert st.returncode == 4, st.stderr
    assert [(i["path"], i["sha256"], i["reason"]) for i in json.loads(st.stdout)] == [("people.bin", people, "licence withdrawn")]
    assert "US Census Bureau" in store.pedata("status").stdout

    # the revocation list
    lst = json.loads(store.pedata("revocations", "--json").stdout)
    assert [(i["sha256"], i["authority"]) for i in lst] == [(people, "US Census Bureau")]

    # verify fails while channels point at it, passes once new bytes are published and promoted
    ver = store.pedata("verify")
    assert ver.returncode == 1 and "channels/us/next.json: pin 'people' points at revoked artifact" in ver.stdout
    store.rebuild("B")
    res = store.pedata("promote", "us", "--sign", "alice", "--branch", "fix")
    assert res.ok, res.stderr
    ver = store.pedata("verify")
    assert ver.ok, ver.stdout + ver.stderr
    # history keeps every earlier document
    log = run(["git", "log", "--format=%s", "--", f"tombstones/{people}.json"], cwd=store.root).stdout
    assert "Revoke sha256:" in log
    assert run(["git", "cat-file", "-e", f"HEAD:manifests/us/people/{people}.json"], cwd=store.root).returncode == 0


def test_a_consumer_that_imported_it_fails_to_pull_that_artifact_only_and_status_says_why(store: Store, tmp_path):
    people = store.pin("people")["sha256"]
    consumer = tmp_path / "analysis"
    consumer.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=consumer)
    run([*dvc_cmd(), "init", "-q"], cwd=consumer)
    for name in ("people", "tax"):
        res = run_pedata("import", f"pedata://us/{name}@v1.0.0", "-o", f"data/{name}.bin", "--registry", str(store.root),
                         cwd=consumer, env=store.env)
        assert res.ok, res.stderr
    run(["git", "add", "-A"], cwd=consumer)
    run(["git", "commit", "-qm", "import the certified release"], cwd=consumer)
    assert run_pedata("status", "--json", cwd=consumer).stdout.strip() == "[]"

    res = store.pedata("revoke", people, "--reason", "licence withdrawn", "--authority", "US Census Bureau",
                       "--sign", "alice", "--purge")
    assert res.ok, res.stderr
    # A fresh checkout of the consumer: dvc pull gets tax, fails for people.
    for name in ("people", "tax"):
        (consumer / "data" / f"{name}.bin").unlink()
    shutil.rmtree(consumer / ".dvc" / "cache")
    pull = run([*dvc_cmd(), "pull"], cwd=consumer, check=False)
    assert pull.returncode != 0
    assert (consumer / "data/tax.bin").is_file() and not (consumer / "data/people.bin").exists()
    st = run_pedata("status", "--json", cwd=consumer)
    assert st.returncode == 4, st.stderr
    [item] = json.loads(st.stdout)
    assert (item["path"], item["sha256"], item["reason"], item["authority"]) == (
        "data/people.bin", people, "licence withdrawn", "US Census Bureau")
    text = run_pedata("status", cwd=consumer).stdout
    assert "data/people.bin" in text and "licence withdrawn" in text and "US Census Bureau" in text, text


def test_refusals_and_hand_edited_tombstone(store: Store, monkeypatch):
    people = store.pin("people")["sha256"]
    tomb = store.root / "tombstones" / f"{people}.json"
    # a key outside the revoker role
    r = store.pedata("revoke", people, "--reason", "x", "--authority", "y", "--sign", "bob")
    assert_one_line_error(r, "neither a revoker nor a certifier")
    # under the revoker threshold: raise it to 2, sign with one
    from dvc_pedata.registry.repo import Registry
    from dvc_pedata.trust import root as trust

    monkeypatch.chdir(store.root)
    trust.rotate(Registry(store.root), "set-threshold", ["alice"], role="revoker", threshold=2)
    store.commit("revoker threshold 2")
    r = store.pedata("revoke", people, "--reason", "x", "--authority", "y", "--sign", "alice")
    assert_one_line_error(r, "revocation refused", "signed by 1 of 2 required revoker keys")
    assert not tomb.exists()
    # carol alone cannot re-sign the release that pins it (not a certifier): nothing written
    r = store.pedata("revoke", f"sha256:{people}", "--reason", "x", "--authority", "y", "--sign", "carol", "--sign", "alice")
    assert r.ok, r.stderr  # alice + carol: revoker threshold 2 met, alice signs the release
    assert store.doc("releases/us/1.0.0.json")["signed"]["status"] == "unreproducible"
    # unknown sha256
    r = store.pedata("revoke", "0" * 64, "--reason", "x", "--authority", "y", "--sign", "alice")
    assert_one_line_error(r, "unknown sha256", "0" * 64)
    # already revoked
    r = store.pedata("revoke", people, "--reason", "x", "--authority", "y", "--sign", "alice", "--sign", "carol")
    assert_one_line_error(r, "already revoked")
    # a tombstone edited by hand is caught by verify
    doc = json.loads(tomb.read_text())
    doc["signed"]["reason"] = "something else"
    tomb.write_text(json.dumps(doc, indent=2))
    ver = store.pedata("verify", "--json")
    problems = [f"{v['file']}: {v['reason']}" for v in json.loads(ver.stdout)["violations"]]
    assert any(p.startswith(f"tombstones/{people}.json: signed by 0 of 2 required revoker keys") for p in problems), problems


def test_release_needs_certifier_to_become_unreproducible(store: Store):
    people = store.pin("people")["sha256"]
    r = store.pedata("revoke", people, "--reason", "x", "--authority", "y", "--sign", "carol", "--purge")
    assert_one_line_error(r, "release us@1.0.0 pins this artifact", "certifier")
    assert not (store.root / "tombstones" / f"{people}.json").exists()
    assert store.object(store.storage, people).is_file()  # nothing purged either


def test_revocation_wins_at_an_old_rev(store: Store, tmp_path, _isolated_home):
    """Reading at the release tag (the rev `pedata import` records) still refuses revoked bytes:
    tombstones are also read in the registry's current state (work tree, HEAD, a URL's default HEAD)."""
    people = store.pin("people")["sha256"]
    uri, tag = f"{PEOPLE}@v1.0.0", "us/v1.0.0"
    url = f"file://{store.root}"
    away = tmp_path / "away"
    away.mkdir()
    local, remote = ("--registry", str(store.root), "--rev", tag), ("--registry", url, "--rev", tag)
    # before the revocation: served at the tag from the checkout and from the git URL, and from the
    # work tree (which also writes the warm-cache memo)
    got = store.pedata("get", uri, *local)
    assert got.ok, got.stderr
    cached = Path(got.stdout.strip())
    assert run_pedata("get", uri, *remote, cwd=away).ok
    assert store.pedata("get", uri).ok and store.pedata("get", uri).stdout.strip() == str(cached)
    # a clone made by an older pedata never fetched the default branch
    clone = _isolated_home / "cache" / "registries" / hashlib.sha256(url.encode()).hexdigest()
    run(["git", "update-ref", "-d", "refs/pedata/head"], cwd=clone)

    res = store.pedata("revoke", people, "--reason", "licence withdrawn", "--authority", "US Census Bureau",
                       "--sign", "alice", "--json")
    assert res.ok, res.stderr
    date = json.loads(res.stdout)["date"]
    assert cached.is_file()  # not purged: the bytes are still in the resolver cache

    res = store.pedata("get", uri, *local)  # the checkout at the tag: its work tree and HEAD know
    assert_one_line_error(res, uri, "revoked", "licence withdrawn", "US Census Bureau", date)
    assert res.returncode == 4 and res.stdout == ""
    # offline, the clone that never fetched its default branch cannot know -- but this consumer saw
    # the tombstone (through the checkout) and never serves those bytes again (consumer_state.py)
    res = run_pedata("get", uri, *remote, "--offline", cwd=away)
    assert_one_line_error(res, uri, f"sha256 {people} was revoked on {date}", "this consumer saw the tombstone")
    for args in (remote, remote + ("--offline",)):  # online fetches the default branch: offline then knows too
        res = run_pedata("get", uri, *args, cwd=away)
        assert_one_line_error(res, uri, "revoked", "licence withdrawn", "US Census Bureau", date)
        assert res.returncode == 4 and res.stdout == ""
    # the work tree: the memo no longer holds, the release reads unreproducible
    res = store.pedata("get", uri)
    assert_one_line_error(res, "unreproducible", "licence withdrawn")
    assert res.returncode == 4

    # pedata import at the release tag (or at the work tree) is refused; nothing is written
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=consumer)
    run([*dvc_cmd(), "init", "-q"], cwd=consumer)
    for args in (local, ("--registry", str(store.root))):
        res = run_pedata("import", uri, "-o", "people.bin", *args, cwd=consumer)
        assert_one_line_error(res, "licence withdrawn" if "--rev" in args else "unreproducible", "US Census Bureau")
        assert res.returncode == 4
    assert not (consumer / "people.bin").exists() and not (consumer / "people.bin.dvc").exists()

    # a tombstone only in the work tree (staged, not committed) counts too
    tax = store.pin("tax")["sha256"]
    res = store.pedata("revoke", tax, "--reason", "consent withdrawn", "--authority", "IRS", "--sign", "alice", "--no-commit")
    assert res.ok, res.stderr
    assert_one_line_error(store.pedata("get", f"{TAX}@v1.0.0", *local), "consent withdrawn", "IRS", "work tree")

    # after the purge the cache is empty: still "revoked", never a misleading "not found"
    res = store.pedata("revoke", people, "--purge", "--sign", "alice", "--reason", "licence withdrawn",
                       "--authority", "US Census Bureau")
    assert res.ok, res.stderr
    assert not cached.exists()
    for args, cwd in ((local, store.root), (remote, away)):
        res = run_pedata("get", uri, *args, cwd=cwd)
        assert_one_line_error(res, "revoked", "licence withdrawn", "US Census Bureau", date)
        assert res.returncode == 4


def test_fsck_hint_resumes_the_purge_and_the_tombstone_is_immutable(store: Store):
    people = store.pin("people")["sha256"]
    tomb = store.root / "tombstones" / f"{people}.json"
    res = store.pedata("revoke", people, "--reason", "licence withdrawn", "--authority", "US Census Bureau", "--sign", "alice")
    assert res.ok, res.stderr  # tombstone only: the bytes stay in the remote
    obj = store.object(store.storage, people)
    assert obj.is_file()
    fsck = store.pedata("fsck")
    assert fsck.returncode == 1
    [line] = [x for x in fsck.stdout.splitlines() if x.startswith("revoked-present:")]
    command = re.search(r"run '([^']+)'", line).group(1)
    assert command == f"pedata revoke sha256:{people} --purge --sign alice"  # alice: a local revoker key
    argv = shlex.split(command)[1:]

    # a tombstone is immutable: another reason or authority on resume is refused, nothing is touched
    before = tomb.read_bytes()
    for flag, value, old in (("--reason", "licence expired", "licence withdrawn"), ("--authority", "ONS", "US Census Bureau")):
        res = store.pedata(*argv, flag, value)
        assert_one_line_error(res, f"sha256 {people} is already revoked", "immutable", repr(old), repr(value))
    assert_one_line_error(store.pedata("revoke", people, "--purge"), "resuming the purge", "--sign KEY")
    assert tomb.read_bytes() == before and obj.is_file()

    # the hint runs as printed: bytes gone, the tombstone's text kept, the record grown and committed
    res = store.pedata(*argv, "--json")
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    assert out["resumed"] and out["commit"] and (out["reason"], out["authority"]) == ("licence withdrawn", "US Census Bureau")
    assert not obj.exists()
    ts = store.doc(f"tombstones/{people}.json")["signed"]
    assert (ts["reason"], ts["authority"]) == ("licence withdrawn", "US Census Bureau")
    assert ("remote", "storage", "deleted") in {(p["kind"], p["store"], p["status"]) for p in ts["purged"]}
    assert store.pedata("fsck").ok
    violations = json.loads(store.pedata("verify", "--json").stdout)["violations"]
    assert [v["file"] for v in violations] == ["channels/us/latest.json", "channels/us/next.json"]  # re-signed: valid
    # the same text again (spacing aside) is no change: accepted
    res = store.pedata(*argv, "--reason", " licence  withdrawn", "--authority", "US Census Bureau")
    assert res.ok and res.stdout.startswith(f"resumed the purge of sha256:{people}"), res
