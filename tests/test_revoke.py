"""`pedata revoke` on a real registry: tombstone, purge everywhere, refusal by every ref, schema
still answers, releases become unreproducible, verify until the channel moves, history kept."""

from __future__ import annotations

import json
import shutil

import store_helpers
from conftest import assert_one_line_error, dvc_cmd, run
from store_helpers import Store

store_template = store_helpers.store_template  # fixtures
store = store_helpers.store

PEOPLE = "pedata://us/people"


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
    assert st.ok, st.stderr
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


def test_refusals_and_hand_edited_tombstone(store: Store, monkeypatch):
    people = store.pin("people")["sha256"]
    tomb = store.root / "tombstones" / f"{people}.json"
    # a key outside the revoker role
    r = store.pedata("revoke", people, "--reason", "x", "--authority", "y", "--sign", "bob")
    assert_one_line_error(r, "neither a revoker nor a certifier")
    # under the revoker threshold: raise it to 2, sign with one
    from dvc_pedata import trust
    from dvc_pedata.registry import Registry

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
