"""`pedata mirror`, `fsck` and `gc` on a local-folder remote and on S3 (moto server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support import remotes as remotes
from support import stores as store_helpers
from support.commands import dvc_cmd, run, run_pedata
from support.example import certify, commit, make_example
from support.stores import Store

store_template = store_helpers.store_template  # fixtures
store = store_helpers.store

PEOPLE = "pedata://us/people"
TAX = "pedata://us/tax"


def _json(res) -> dict:
    assert res.returncode in (0, 1) and res.stdout, res.stderr
    return json.loads(res.stdout)


def _writable(path) -> None:
    os.chmod(path, 0o644)


def test_mirror_fsck_gc_local(store: Store, tmp_path):
    people, tax = store.pin("people")["sha256"], store.pin("tax")["sha256"]
    partner = tmp_path / "partner"
    run([*dvc_cmd(), "remote", "add", "partner", str(partner)], cwd=store.root)

    # --namespace: only that namespace's pins (none in a declared but empty one); unknown refused
    cfg = json.loads((store.root / "pedata.json").read_text())
    cfg["namespaces"] = [*cfg["namespaces"], "uk"]
    (store.root / "pedata.json").write_text(json.dumps(cfg, indent=2))
    out = _json(store.pedata("mirror", "--to", "partner", "--namespace", "uk", "--json"))
    assert (out["ok"], out["copied"], out["present"]) == (True, 0, 0) and not partner.exists()
    res = store.pedata("mirror", "--to", "partner", "--namespace", "fr")
    assert res.returncode != 0 and "unknown namespace 'fr'" in res.stderr and not partner.exists()
    out = _json(store.pedata("mirror", "--to", "partner", "--namespace", "us", "--json"))
    assert (out["ok"], out["copied"], out["present"]) == (True, 2, 0)
    assert store.object(partner, people).read_bytes() == store.object(store.storage, people).read_bytes()
    clean = store.pedata("fsck", "--remote", "partner", "--deep")
    assert clean.ok and clean.stdout.startswith("pedata fsck: OK"), clean.stdout + clean.stderr
    # idempotent, and resumes: a missing and a truncated object are copied again, nothing else
    assert _json(store.pedata("mirror", "--to", "partner", "--json"))["present"] == 2
    store.object(partner, people).unlink()
    _writable(store.object(partner, tax))
    store.object(partner, tax).write_bytes(b"half")
    out = _json(store.pedata("mirror", "--to", "partner", "--json"))
    assert (out["copied"], out["repaired"], out["present"]) == (1, 1, 0)  # the truncated copy was replaced
    assert _json(store.pedata("fsck", "--remote", "partner", "--deep", "--json"))["ok"]

    # gc: orphans go, everything referenced stays
    orphans = {"ab" + "1" * 30: b"orphan one", "cd" + "2" * 30: b"orphan number two"}
    for md5, data in orphans.items():
        p = store.storage / "files" / "md5" / md5[:2] / md5[2:]
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    dry = _json(store.pedata("gc", "--dry-run", "--json"))
    assert sorted(o["md5"] for o in dry["orphans"]) == sorted(orphans)
    assert dry["bytes_reclaimed"] == sum(map(len, orphans.values()))
    assert all((store.storage / "files/md5" / m[:2] / m[2:]).exists() for m in orphans)
    res = store.pedata("gc")
    assert res.ok and f"reclaimed {sum(map(len, orphans.values()))} bytes" in res.stdout, res.stdout + res.stderr
    assert not any((store.storage / "files/md5" / m[:2] / m[2:]).exists() for m in orphans)
    assert store.object(store.storage, people).is_file() and store.object(store.storage, tax).is_file()
    assert _json(store.pedata("gc", "--dry-run", "--json"))["orphans"] == []

    # fsck: a deleted object and a corrupted one (same size, one byte flipped), each named by URI
    store.object(store.storage, tax).unlink()
    obj = store.object(store.storage, people)
    _writable(obj)
    data = bytearray(obj.read_bytes())
    data[100] ^= 0xFF
    obj.write_bytes(bytes(data))
    shallow = _json(store.pedata("fsck", "--remote", "storage", "--json"))
    assert [(f["problem"], f["uri"]) for f in shallow["findings"]] == [("missing", f"{TAX}@sha256:{tax}")]
    res = store.pedata("fsck", "--remote", "storage", "--deep")
    assert res.returncode == 1
    assert f"missing: {TAX}@sha256:{tax} in remote storage" in res.stdout
    assert f"corrupt: {PEOPLE}@sha256:{people} in remote storage" in res.stdout
    assert str(obj.relative_to(store.storage)) in res.stdout
    assert "pedata fsck: 2 problem(s)" in res.stderr


def test_s3_mirror_fsck_gc_and_purge(store: Store, s3_remote):
    people, tax = store.pin("people")["sha256"], store.pin("tax")["sha256"]
    s3_remote.configure(store.root, "s3", default=False)
    cfg = json.loads((store.root / "pedata.json").read_text())
    cfg["mirrors"] = ["s3"]
    (store.root / "pedata.json").write_text(json.dumps(cfg, indent=2))
    store.commit("mirror to s3")
    key = lambda sha: remotes.Remote.object_key(store.md5(sha))  # noqa: E731

    out = _json(store.pedata("mirror", "--to", "s3", "--json"))
    assert (out["ok"], out["copied"]) == (True, 2), out
    assert {key(people), key(tax)} <= set(s3_remote.list_objects())
    assert store.pedata("fsck", "--remote", "s3", "--deep").ok

    # a flipped byte in S3 (DVC's verify is off there): --deep hashes it
    data = bytearray(s3_remote.read_object(key(tax)))
    data[0] ^= 0x01
    s3_remote.write_object(key(tax), bytes(data))
    deep = _json(store.pedata("fsck", "--remote", "s3", "--deep", "--json"))
    assert [(f["problem"], f["uri"]) for f in deep["findings"]] == [("corrupt", f"{TAX}@sha256:{tax}")]
    assert deep["findings"][0]["url"].startswith(f"s3://{s3_remote.bucket}/")

    # gc on S3 removes only the orphan
    s3_remote.write_object("files/md5/ee/" + "3" * 30, b"orphan")
    res = _json(store.pedata("gc", "--remote", "s3", "--json"))
    assert [o["md5"] for o in res["orphans"]] == ["ee" + "3" * 30] and res["bytes_reclaimed"] == 6
    assert set(s3_remote.list_objects()) == {key(people), key(tax)}

    # revoke --purge: gone from the local remote, S3 and every cache
    resolver_obj = Path(os.environ["PEDATA_CACHE_DIR"]) / "sha256" / people[:2] / people[2:]
    assert store.pedata("get", f"{PEOPLE}@v1.0.0").ok and resolver_obj.is_file()
    res = store.pedata("revoke", people, "--reason", "licence withdrawn", "--authority", "ONS",
                       "--sign", "alice", "--purge", "--json", env=s3_remote.env)
    assert res.ok, res.stderr
    out = json.loads(res.stdout)
    purged = {(p["store"], p["status"]) for p in out["purged"]}
    assert {("storage", "deleted"), ("s3", "deleted")} <= purged
    assert ("resolver-cache", "deleted") in {(p["kind"], p["status"]) for p in out["purged"]}
    assert key(people) not in s3_remote.list_objects() and key(tax) in s3_remote.list_objects()
    assert not store.object(store.storage, people).exists()
    assert not store.object(store.root / ".dvc" / "cache", people).exists()
    assert not resolver_obj.exists()
    r = store.pedata("get", f"{PEOPLE}@latest")
    assert r.returncode == 4 and "licence withdrawn" in r.stderr and "ONS" in r.stderr
    sch = store.pedata("schema", f"{PEOPLE}@latest", "--json")
    assert sch.ok and json.loads(sch.stdout)["sha256"] == people
    assert store.doc("releases/us/1.0.0.json")["signed"]["status"] == "unreproducible"
    assert {c["channel"] for c in out["channels_still_pointing"]} == {"latest", "next"}
    ver = store.pedata("verify")
    assert ver.returncode == 1 and "channels/us/next.json: pin 'people' points at revoked artifact" in ver.stdout
    # new bytes published and promoted: verify passes; S3 never got the revoked bytes back
    store.rebuild("B")
    assert store.pedata("promote", "us", "--sign", "alice", "--branch", "fix").ok
    ver = store.pedata("verify")
    assert ver.ok, ver.stdout + ver.stderr
    # mirroring again copies the new bytes and never the revoked ones; the copy checks clean
    # (--deep also repairs the tax copy corrupted above)
    out = _json(store.pedata("mirror", "--to", "s3", "--deep", "--json"))
    assert out["ok"] and (out["copied"], out["repaired"]) == (1, 1), out
    assert store.pedata("fsck", "--remote", "s3", "--deep").ok
    assert key(people) not in s3_remote.list_objects()
    assert run(["git", "cat-file", "-e", f"HEAD:manifests/us/people/{people}.json"], cwd=store.root).returncode == 0


def test_mirror_deep_repairs_a_same_size_corrupt_copy(store: Store, tmp_path):
    people, tax = store.pin("people")["sha256"], store.pin("tax")["sha256"]
    partner = tmp_path / "partner"
    run([*dvc_cmd(), "remote", "add", "partner", str(partner)], cwd=store.root)
    assert _json(store.pedata("mirror", "--to", "partner", "--json"))["copied"] == 2
    good = store.object(store.storage, people).read_bytes()
    obj = store.object(partner, people)
    _writable(obj)
    data = bytearray(obj.read_bytes())
    data[100] ^= 0xFF  # same size: only a hash can tell
    obj.write_bytes(bytes(data))

    res = store.pedata("fsck", "--remote", "partner", "--deep")
    assert res.returncode == 1
    [line] = res.stdout.splitlines()
    assert line.startswith(f"corrupt: {PEOPLE}@sha256:{people} in remote partner") and line.endswith(
        "; repair: pedata mirror --to partner --deep"), line
    # the default stays cheap (size only): the bad copy counts as present and stays
    out = _json(store.pedata("mirror", "--to", "partner", "--json"))
    assert (out["copied"], out["repaired"], out["present"]) == (0, 0, 2)
    assert obj.read_bytes() == bytes(data)
    # --deep re-hashes what is there and replaces what is wrong
    res = store.pedata("mirror", "--to", "partner", "--deep")
    assert res.ok, res.stderr
    assert f"repaired {PEOPLE}@sha256:{people} -> {obj}" in res.stdout
    assert "0 copied, 1 repaired (5000 bytes), 1 already present (re-hashed)" in res.stdout, res.stdout
    assert obj.read_bytes() == good
    assert store.pedata("fsck", "--remote", "partner", "--deep").ok
    out = _json(store.pedata("mirror", "--to", "partner", "--deep", "--json"))
    assert (out["copied"], out["repaired"], out["present"]) == (0, 0, 2)
    # in the registry's own remote there is nothing to mirror from: no such hint
    src = store.object(store.storage, tax)
    _writable(src)
    src.write_bytes(src.read_bytes()[::-1])
    finding = _json(store.pedata("fsck", "--remote", "storage", "--deep", "--json"))["findings"]
    assert [(f["problem"], f["uri"]) for f in finding] == [("corrupt", f"{TAX}@sha256:{tax}")]
    assert "pedata mirror" not in finding[0]["detail"]


def _raw_input(repo: Path) -> None:
    """A DVC-tracked raw input the example pipeline's stage depends on."""
    (repo / "data/raw").mkdir(parents=True)
    (repo / "data/raw/codebook.csv").write_text("variable,label\nage,Age in years\n")
    run([*dvc_cmd(), "add", "-q", "data/raw/codebook.csv"], cwd=repo)
    text = (repo / "dvc.yaml").read_text()
    (repo / "dvc.yaml").write_text(text.replace("      - pipeline/generate.py\n", "      - pipeline/generate.py\n      - data/raw/codebook.csv\n"))


def test_gc_keeps_the_raw_inputs_a_release_replays_from(tmp_path):
    repo = make_example(tmp_path, before_repro=_raw_input)
    lock = json.loads((repo / "locks/inputs.manifest.json").read_text())
    old = next(i for i in lock["inputs"] if i["path"] == "data/raw/codebook.csv")
    run([*dvc_cmd(), "push", "-q"], cwd=repo)
    certify(repo)
    # the input changes after the release: re-added, rebuilt, re-locked, committed, pushed
    (repo / "data/raw/codebook.csv").write_text("variable,label\nage,Age in whole years\n")
    run([*dvc_cmd(), "add", "-q", "data/raw/codebook.csv"], cwd=repo)
    run([*dvc_cmd(), "repro", "-q"], cwd=repo)
    assert run_pedata("lock", cwd=repo).ok
    commit(repo, "new codebook")
    run([*dvc_cmd(), "push", "-q"], cwd=repo)
    storage = tmp_path / "storage"
    old_obj = storage / "files" / "md5" / old["md5"][:2] / old["md5"][2:]
    assert old_obj.is_file()
    orphan = storage / "files" / "md5" / "ee" / ("4" * 30)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody names me")

    res = run_pedata("gc", "--json", cwd=repo)
    assert res.ok, res.stderr
    assert [(o["md5"], o["status"]) for o in json.loads(res.stdout)["orphans"]] == [("ee" + "4" * 30, "deleted")]
    assert old_obj.is_file() and not orphan.exists()
    res = run_pedata("replay", "us@1.0.0", cwd=repo)
    assert res.ok and "replay PASSED" in res.stdout, res.stdout + res.stderr
