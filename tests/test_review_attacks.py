"""Attack review: each test takes the attacker's side through the real CLI (forged documents,
force-pushes, planted symlinks), and checks that pedata refuses in one line and writes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from support.resolve import sha256_of
from test_policyengine_seed import pe_bundle, released  # noqa: F401 - the module-scoped registry fixture


def test_seed_refuses_a_symlink_in_the_data_dir_that_leads_outside(released, tmp_path):  # noqa: F811
    """Someone who can write the data folder plants ``data/us -> /elsewhere``: seeding a bundle whose
    paths go through ``us/`` must not place (or replace) files outside the data folder."""
    bundle_path, bundle = pe_bundle(released, tmp_path)
    ds = bundle["data_releases"]["us"]["datasets"]
    ds.pop("foreign")
    for entry in ds.values():
        entry["path"] = "us/" + entry["path"]
    bundle_path.write_text(json.dumps(bundle, indent=2))
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / Path(ds["micro"]["path"]).name
    victim.write_bytes(b"the user's own file")
    data = tmp_path / "pe-data"
    data.mkdir()
    (data / "us").symlink_to(outside, target_is_directory=True)
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--data-dir", data, "--force", cwd=released)
    assert_one_line_error(res, "outside")
    assert sorted(p.name for p in outside.iterdir()) == [victim.name]
    assert victim.read_bytes() == b"the user's own file"


class _PublishedWithCommittedRemote:
    """``support.resolve.build_registry``, with its local remote also in the committed ``.dvc/config``
    (``pedata init`` keeps a machine-local folder in ``config.local``, which a clone does not get)."""

    def __new__(cls, base: Path):
        from support.resolve import build_registry

        published = build_registry(base, big_size=4096)
        run([*dvc_cmd(), "remote", "add", "-f", "storage", str(published.storage)], cwd=published.origin)
        run(["git", "add", ".dvc/config"], cwd=published.origin)
        run(["git", "commit", "-q", "--allow-empty", "-m", "the remote, committed"], cwd=published.origin)
        return published


@pytest.fixture(scope="module")
def git_reg(tmp_path_factory):
    import support.resolve
    from test_consumer_git_url import Reg

    real = support.resolve.build_registry
    import test_consumer_git_url

    test_consumer_git_url.build_registry = lambda base, big_size: _PublishedWithCommittedRemote(base)
    try:
        return Reg(tmp_path_factory.mktemp("review-url"))
    finally:
        test_consumer_git_url.build_registry = real


def test_update_refuses_a_channel_rolled_back_by_a_force_push(git_reg, tmp_path):
    """Push access without keys: after consumers followed ``next`` to version N+1, force-push the
    registry's main back to a commit where ``next`` is the older, validly signed version N.
    ``pedata update`` must not move the import back to the older bytes."""
    from test_consumer_git_url import PEOPLE, consumer, dvc_file

    reg = git_reg
    bare = tmp_path / "upd.git"
    run(["git", "clone", "-q", "--bare", str(reg.bare), str(bare)], cwd=tmp_path)
    url = f"file://{bare}"
    work = tmp_path / "work"
    run(["git", "clone", "-q", url, str(work)], cwd=tmp_path)
    assert run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=work, env=reg.env).ok
    run(["git", "commit", "-q", "-m", "promote next: C"], cwd=work)
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work)
    old_main = run(["git", "rev-parse", "main"], cwd=bare).stdout.strip()  # next version 2 pins C
    (work / "seed_people.txt").write_text("D\n")
    run([*dvc_cmd(), "repro", "-q"], cwd=work, env=reg.env)
    assert run_pedata("publish", cwd=work, env=reg.env).ok
    run(["git", "add", "-A"], cwd=work)
    run(["git", "commit", "-q", "-m", "publish D"], cwd=work)
    assert run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=work, env=reg.env).ok
    run(["git", "commit", "-q", "-m", "promote next: D"], cwd=work)
    run(["git", "push", "-q", "origin", "HEAD:main"], cwd=work)
    people_d = sha256_of(work / "people.bin")
    new_main = run(["git", "rev-parse", "main"], cwd=bare).stdout.strip()
    c = consumer(tmp_path)
    assert run_pedata("import", f"{PEOPLE}@next", "--registry", url, "-o", "next.bin", cwd=c).ok
    assert sha256_of(c / "next.bin") == people_d
    before = (c / "next.bin.dvc").read_bytes()
    # the attacker: main goes back to the commit where next (an older, validly signed version) pinned C
    run(["git", "update-ref", "refs/heads/main", old_main], cwd=bare)
    res = run_pedata("update", "next.bin", cwd=c)
    # this machine's consumer memory (resolver/state.py) saw version 3: refused before the import is judged
    assert_one_line_error(res, "already served version 3", "rollback")
    # another machine, same project, no memory: the version recorded in the .dvc file refuses it
    res = run_pedata("update", "next.bin", cwd=c, env={"PEDATA_CACHE_DIR": str(tmp_path / "other-machine-cache")})
    assert_one_line_error(res, "next.bin.dvc", "version")
    assert sha256_of(c / "next.bin") == people_d
    assert (c / "next.bin.dvc").read_bytes() == before
    assert dvc_file(c / "next.bin.dvc")["meta"]["pedata"]["channel_version"] == 3
    run(["git", "update-ref", "refs/heads/main", new_main], cwd=bare)  # the history put back: all is well
    res = run_pedata("update", "next.bin", cwd=c)
    assert res.ok and res.stdout.startswith("current  next.bin.dvc"), res


def test_publish_refuses_a_new_folder_that_holds_a_revoked_member(tmp_path):
    """A careless publisher: one file of a folder artifact was revoked (``;path=``) and purged; the
    next build changes another file, so the folder's ``.dir`` md5 and Merkle digest are new, but the
    revoked file is still in it, byte for byte. ``publish`` must not push it back to the remote."""
    from support.dirs import latest_pin, make_registry, object_path, storage_dir, trust_init

    reg = make_registry(tmp_path, constituencies=4, districts=0)
    reg.publish()
    trust_init(reg)
    run(["git", "add", "-A"], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "trust root 1"], cwd=reg.origin)
    folder = latest_pin(reg)["sha256"]
    member = "constituency/E14000001.h5"
    entry = next(e for e in reg.manifest(folder)["files"]["entries"] if e["path"] == member)
    res = run_pedata("revoke", f"pedata://uk/local_areas@sha256:{folder};path={member}", "--reason", "disclosure risk",
                     "--authority", "ONS", "--sign", "alice", "--purge", cwd=reg.origin, env=reg.env)
    assert res.ok, res.stderr
    storage = storage_dir(reg)
    assert not object_path(storage, entry["md5"]).exists()
    before = latest_pin(reg)
    reg.build(constituencies=4, districts=0, bump=[3])  # another file changes; the revoked one is rebuilt as it was
    assert hashlib.sha256((reg.origin / "local_areas" / member).read_bytes()).hexdigest() == entry["sha256"]
    res = run_pedata("publish", cwd=reg.origin, env=reg.env)
    assert_one_line_error(res, "local_areas", member, "disclosure risk")
    assert not object_path(storage, entry["md5"]).exists()
    assert latest_pin(reg) == before


def test_promote_refuses_to_sign_revoked_bytes_into_a_channel(tmp_path):
    """A careless promoter: ``people`` was revoked but ``latest`` still pins it (until a ``channel
    drop``); ``pedata promote`` must not sign those bytes into ``next`` (``certify`` already refuses)."""
    from test_revocation_lifecycle import registry as make  # the fixture's body, called directly

    repo, _storage, _backup = make.__wrapped__(tmp_path)
    latest = json.loads((repo / "channels/us/latest.json").read_text())["signed"]["artifacts"]
    sha = latest["people"]["sha256"]
    res = run_pedata("revoke", f"pedata://us/people@sha256:{sha}", "--reason", "licence withdrawn", "--authority", "Stats office",
                     "--sign", "alice", cwd=repo)
    assert res.ok, res.stderr
    head = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout
    res = run_pedata("promote", "us", "--sign", "alice", cwd=repo)
    assert_one_line_error(res, "people", f"tombstones/{sha}.json", "licence withdrawn")
    assert not (repo / "channels/us/next.json").exists()
    assert run(["git", "rev-parse", "HEAD"], cwd=repo).stdout == head
    assert run(["git", "branch", "--list", "promote/*"], cwd=repo).stdout == ""
    # the other artifact still moves: --only names it
    res = run_pedata("promote", "us", "--only", "households", "--sign", "alice", cwd=repo)
    assert res.ok, res.stderr


def test_cite_sign_refuses_a_release_whose_signatures_do_not_hold(released, tmp_path):  # noqa: F811
    """Push access without keys: rewrite ``releases/us/1.0.0.json`` (a claim nobody certified; the old
    signatures kept) and force-move its annotated tag. A certifier who then runs ``cite --format
    policyengine --sign`` must not put their signature on a TRO of that release; nothing is written."""
    repo = tmp_path / "clone"
    run(["git", "clone", "-q", str(released), str(repo)], cwd=tmp_path)
    rel_path = repo / "releases/us/1.0.0.json"
    doc = json.loads(rel_path.read_text())
    doc["signed"]["certified_for"] = {"package": "policyengine-us", "version": "9.9.9"}
    rel_path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    run(["git", "commit", "-q", "-am", "a release nobody certified"], cwd=repo)
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", "release us 1.0.0"], cwd=repo)
    out = tmp_path / "out" / "manifest.json"
    res = run_pedata("cite", "us@1.0.0", "--format", "policyengine", "--policyengine-version", "6.11.1",
                     "--sign", "bob", "-o", out, cwd=repo, env={"PEDATA_KEYS_DIR": str(released.parent / "keys")})
    assert_one_line_error(res, "us@v1.0.0", "not trusted")
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_import_bundle_refuses_to_pin_revoked_bytes(released, tmp_path):  # noqa: F811
    """A careless publisher: a PolicyEngine bundle names bytes this registry has revoked; ``import-bundle
    --sign`` must not sign them into a channel (nor merge them into ``latest`` without keys)."""
    repo = tmp_path / "clone"
    run(["git", "clone", "-q", str(released), str(repo)], cwd=tmp_path)
    env = {"PEDATA_KEYS_DIR": str(released.parent / "keys")}
    bundle_path, bundle = pe_bundle(repo, tmp_path)
    ds = bundle["data_releases"]["us"]["datasets"]
    ds.pop("foreign")
    ds["micro"].pop("metadata_sha256")
    for name in list(ds):  # names this registry has not published, so only the revocation can refuse them
        ds["pe_" + name] = {**ds.pop(name), "repo_id": "lab/registry"}
    bundle_path.write_text(json.dumps(bundle, indent=2))
    sha = ds["pe_micro"]["sha256"]
    res = run_pedata("revoke", f"pedata://us/micro@sha256:{sha}", "--reason", "disclosure risk", "--authority", "ONS",
                     "--sign", "alice", "bob", cwd=repo, env=env)
    assert res.ok, res.stderr
    head = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout
    for args in (("--sign", "alice"), ()):
        res = run_pedata("import-bundle", bundle_path, "--namespace", "us", *args, cwd=repo, env=env)
        assert_one_line_error(res, "micro", f"tombstones/{sha}.json", "disclosure risk")
        assert run(["git", "rev-parse", "HEAD"], cwd=repo).stdout == head
        assert run(["git", "status", "--porcelain"], cwd=repo).stdout == ""
