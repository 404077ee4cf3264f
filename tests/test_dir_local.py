"""Directory artifacts on a local DVC remote: 500 HDF5 files, tampering, escapes, links, diff, revoke.

Reads of the local remote are measured with Linux inotify (``IN_OPEN`` on every object folder of
the remote): a ``;path=`` get must open exactly one object, the object of that file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from support.dirs import (
    certify,
    make_registry,
    object_path,
    snippet_digest,
    storage_dir,
    trust_init,
)
from support.inotify import IN_ISDIR, IN_OPEN, Inotify

URI = "pedata://uk/local_areas@v2.0.0"


class OpenWatch(Inotify):
    """``IN_OPEN`` on every folder of a local DVC remote: which objects were opened."""

    def __init__(self, storage: Path) -> None:
        super().__init__([p for p in storage.rglob("*") if p.is_dir()], IN_OPEN)

    def opened(self) -> Counter[str]:
        """``<2 hex>/<30 hex>`` object names opened since the last call."""
        return Counter(f"{folder.name}/{name}" for folder, name, mask in self.events() if name and not mask & IN_ISDIR)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """500 files: 480 constituencies, 19 districts, one byte-identical copy; released as uk 2.0.0."""
    base = tmp_path_factory.mktemp("dir-500")
    reg, art, keys = certified_registry(base, constituencies=480, districts=19)
    return reg, art, keys


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """8 constituencies, 2 districts + a copy (11 files), file list in its own sidecar (inline limit 4); uk 2.0.0."""
    base = tmp_path_factory.mktemp("dir-small")
    reg, art, keys = certified_registry(base, config={"directory_inline_files": 4})
    return reg, art, keys


def _clone(reg, dest: Path) -> Path:
    run(["git", "clone", "-q", str(reg.origin), str(dest)], cwd=dest.parent)
    return dest


def _entries(reg, sha: str) -> list[dict]:
    m = reg.manifest(sha)
    if "entries" in m["files"]:
        return m["files"]["entries"]
    return json.loads((reg.origin / f"manifests/uk/local_areas/{m['files']['sidecar']}").read_text())


def test_500_files_one_by_path_then_all(big, tmp_path):
    reg, art, _ = big
    entries = _entries(reg, art["sha256"])
    assert len(entries) == 500 and reg.manifest(art["sha256"])["schema"]["file_count"] == 500
    assert snippet_digest(reg.origin / "local_areas") == art["sha256"]
    clone = _clone(reg, tmp_path / "clone")
    storage = storage_dir(reg)
    watch = OpenWatch(storage)
    try:
        target = next(e for e in entries if e["path"] == "constituency/E14000321.h5")
        res = run_pedata("get", f"{URI};path={target['path']}", "--json", cwd=clone)
        assert res.ok, res
        assert json.loads(res.stdout)["sha256"] == target["sha256"]
        # Only that file's object was read from the remote (DVC's .dir listing was not needed).
        assert watch.opened() == Counter({f"{target['md5'][:2]}/{target['md5'][2:]}": 1})
        res = run_pedata("get", URI, "--json", "-o", str(tmp_path / "ws"), cwd=clone)
        assert res.ok, res
        opened = watch.opened()
        distinct = {e["md5"] for e in entries} - {target["md5"]}
        assert set(opened) == {f"{m[:2]}/{m[2:]}" for m in distinct} and max(opened.values()) == 1
    finally:
        watch.close()
    assert snippet_digest(tmp_path / "ws") == art["sha256"]
    assert (tmp_path / "ws/district/D000_copy.h5").read_bytes() == (reg.origin / "local_areas/district/D000.h5").read_bytes()


def test_schema_text_and_verify(small):
    reg, art, _ = small
    m = reg.manifest(art["sha256"])
    assert "entries" not in m["files"] and m["files"]["sidecar"] == f"{m['files']['sidecar_sha256']}.files.json"
    res = run_pedata("schema", f"pedata://uk/local_areas@sha256:{art['sha256']}", cwd=reg.origin)
    assert res.ok, res
    assert "files: 11" in res.stdout and "layout 1: 3 hdf5 files" in res.stdout
    res = run_pedata("verify", "--json", cwd=reg.origin)
    assert res.ok, res.stdout


def test_swapped_file_in_remote_is_named(small, tmp_path):
    reg, art, _ = small
    clone = _clone(reg, tmp_path / "clone")
    entries = _entries(reg, art["sha256"])
    victim = next(e for e in entries if e["path"] == "constituency/E14000005.h5")
    other = next(e for e in entries if e["path"] == "constituency/E14000006.h5")
    obj = object_path(storage_dir(reg), victim["md5"])
    good = obj.read_bytes()
    obj.chmod(0o644)
    obj.write_bytes(object_path(storage_dir(reg), other["md5"]).read_bytes())  # a valid HDF5, wrong one
    try:
        bad = run_pedata("get", f"{URI};path={victim['path']}", cwd=clone)
        assert_one_line_error(bad, victim["sha256"], "corrupted bytes in the remote")
        bad = run_pedata("get", URI, cwd=clone)
        assert_one_line_error(bad, "file constituency/E14000005.h5", "corrupted bytes in the remote", "a rerun resumes")
        cache = Path(os.environ["PEDATA_CACHE_DIR"])
        assert not (cache / "sha256" / victim["sha256"][:2] / victim["sha256"][2:]).exists()
        assert (cache / "sha256" / other["sha256"][:2] / other["sha256"][2:]).exists()  # the rest was kept
        fsck = run_pedata("fsck", "--deep", "--json", cwd=reg.origin)
        assert fsck.returncode != 0 and f";path={victim['path']}" in fsck.stdout and "bytes hash to" in fsck.stdout
    finally:
        obj.write_bytes(good)
    assert run_pedata("get", URI, cwd=clone).ok  # resumes: only the repaired file is fetched
    fsck = run_pedata("fsck", "--deep", "--json", cwd=reg.origin)
    # every distinct file, plus DVC's .dir listing of the folder
    assert fsck.ok and json.loads(fsck.stdout)["checked"] == len({e["sha256"] for e in entries}) + 1, fsck
    # gc keeps every file of the folder (they are objects of their own, not named by the .dir digest).
    gc = run_pedata("gc", "--dry-run", "--json", cwd=reg.origin)
    assert gc.ok, gc
    assert all(e["md5"] not in gc.stdout for e in entries)


def test_mirror_copies_the_folder_listing_so_dvc_pull_works_from_the_mirror(small, tmp_path):
    reg, art, _ = small
    clone = _clone(reg, tmp_path / "clone")
    partner = tmp_path / "partner"
    run([*dvc_cmd(), "remote", "add", "partner", str(partner)], cwd=clone)
    uri = f"{URI.rsplit('@', 1)[0]}@sha256:{art['sha256']}"
    out = json.loads(run_pedata("mirror", "--to", "partner", "--json", cwd=clone).stdout)
    files = len({e["sha256"] for e in _entries(reg, art["sha256"])})
    assert (out["ok"], out["copied"], out["failed"]) == (True, files + 1, 0), out
    listing = next(i for i in out["items"] if i["uri"] == uri)
    md5 = reg.manifest(art["sha256"])["digest"]["md5"]
    assert listing["status"] == "copied" and listing["url"] == str(object_path(partner, md5))

    # A consumer with only the mirror: plain `dvc pull` of the folder works and gives the bytes.
    consumer = _clone(reg, tmp_path / "consumer")
    run([*dvc_cmd(), "remote", "add", "partner", str(partner)], cwd=consumer)
    run([*dvc_cmd(), "pull", "-q", "-r", "partner", "local_areas"], cwd=consumer)
    assert snippet_digest(consumer / "local_areas") == art["sha256"]
    assert run_pedata("fsck", "--remote", "partner", "--deep", cwd=clone).ok

    # A damaged listing in the mirror is named by fsck and replaced by the next mirror run.
    obj = object_path(partner, md5)
    obj.chmod(0o644)
    obj.write_bytes(obj.read_bytes().replace(b"D000_copy", b"D999_copy"))
    fsck = run_pedata("fsck", "--remote", "partner", "--deep", "--json", cwd=clone)
    finding = json.loads(fsck.stdout)["findings"]
    assert fsck.returncode != 0 and [(f["problem"], f["uri"]) for f in finding] == [("corrupt", uri)], finding
    assert "folder listing" in finding[0]["detail"] and "hash to" in finding[0]["detail"]
    again = json.loads(run_pedata("mirror", "--to", "partner", "--json", cwd=clone).stdout)
    assert (again["copied"], again["repaired"], again["present"]) == (0, 1, files), again
    obj.unlink()
    fsck = run_pedata("fsck", "--remote", "partner", "--json", cwd=clone)
    assert [(f["problem"], f["detail"].rsplit("; ", 1)[-1]) for f in json.loads(fsck.stdout)["findings"]] == [
        ("missing", "copy it: pedata mirror --to partner")]


@pytest.mark.parametrize("path", ["../outside.h5", "/etc/passwd", "constituency/../../x.h5", "constituency//E14000001.h5", "./district/D000.h5"])
def test_path_qualifier_escaping_the_folder_is_refused(small, path):
    reg, _, _ = small
    res = run_pedata("get", f"{URI};path={path}", cwd=reg.origin)
    assert_one_line_error(res, "invalid path qualifier")


def test_path_qualifier_mistakes(small):
    reg, _, _ = small
    assert_one_line_error(run_pedata("get", f"{URI};path=constituency", cwd=reg.origin), "is a folder inside the artifact")
    assert_one_line_error(run_pedata("get", f"{URI};path=nope.h5", cwd=reg.origin), "no file 'nope.h5'")


def test_tampered_file_list_is_caught(small, tmp_path):
    reg, art, _ = small
    clone = _clone(reg, tmp_path / "clone")
    m = reg.manifest(art["sha256"])
    sidecar = clone / f"manifests/uk/local_areas/{m['files']['sidecar']}"
    entries = json.loads(sidecar.read_text())
    entries[0]["md5"], entries[1]["md5"] = entries[1]["md5"], entries[0]["md5"]
    sidecar.write_text(json.dumps(entries))
    res = run_pedata("get", f"{URI};path={entries[0]['path']}", cwd=clone)
    assert_one_line_error(res, "file list", "was modified")
    res = run_pedata("verify", "--json", cwd=clone)
    assert res.returncode == 1 and "was modified" in res.stdout


def _fsck_cache_clean(reg, objects: int) -> None:
    """``pedata fsck --deep`` re-hashes the resolver cache too: clean, every object and the tree."""
    res = run_pedata("fsck", "--deep", "--json", cwd=reg.origin)
    assert res.ok, res
    cache = json.loads(res.stdout)["cache"]
    assert (cache["ok"], cache["objects"], cache["trees"]) == (True, objects, 1), cache


def test_links_protect_the_cache(small, tmp_path):
    reg, art, _ = small
    from dvc_pedata.resolver.cachecheck import verify_all

    cache = Path(os.environ["PEDATA_CACHE_DIR"])
    root = os.geteuid() == 0
    # auto: reflink where the filesystem can, else a read-only hardlink, except as root (root
    # ignores 0444), where it copies.
    res = run_pedata("get", URI, "--json", "-o", str(tmp_path / "auto"), cwd=reg.origin)
    assert res.ok, res
    used = json.loads(res.stdout)["link"]
    assert set(used) <= ({"reflink", "copy"} if root else {"reflink", "hardlink"}) and sum(used.values()) == 11
    ws = tmp_path / "auto/constituency/E14000001.h5"
    if "hardlink" in used:  # a user trying to edit the workspace file in place is stopped
        with pytest.raises(PermissionError):
            open(ws, "r+b")  # noqa: SIM115
    else:
        with open(ws, "r+b") as fh:  # a user edits the workspace file in place
            fh.write(b"XXXX")
    assert verify_all(cache).ok
    _fsck_cache_clean(reg, objects=10)
    # copy: an independent writable file; editing it in place leaves the cache alone.
    res = run_pedata("get", URI, "--json", "-o", str(tmp_path / "cp"), "--link", "copy", cwd=reg.origin)
    assert res.ok and json.loads(res.stdout)["link"] == {"copy": 11}, res
    with open(tmp_path / "cp/district/D000.h5", "r+b") as fh:
        fh.write(b"ZZZZ")
    _fsck_cache_clean(reg, objects=10)
    # Explicit hardlink: the cache object's inode, read-only, and a warning for root.
    res = run_pedata("get", URI, "-o", str(tmp_path / "hl"), "--link", "hardlink", cwd=reg.origin)
    assert res.ok, res
    assert ("read-only hardlinks do not stop root" in res.stderr) == root, res
    linked = tmp_path / "hl/constituency/E14000001.h5"
    entry = next(e for e in _entries(reg, art["sha256"]) if e["path"] == "constituency/E14000001.h5")
    obj = cache / "sha256" / entry["sha256"][:2] / entry["sha256"][2:]
    assert linked.stat().st_ino == obj.stat().st_ino and linked.stat().st_mode & 0o777 == 0o444
    # An ordinary user cannot modify it in place (permission bits bind everyone but root).
    shared = Path(tempfile.mkdtemp(prefix="pedata-hl-"))
    try:
        if not root:
            with pytest.raises(PermissionError):
                open(linked, "r+b")  # noqa: SIM115
            raise _Skip  # the probe below runs as another user, which needs root
        shared.chmod(0o755)
        os.link(linked, shared / "f.h5")
        before = (shared / "f.h5").read_bytes()
        probe = 'true 3<>"$1" || exit 7'  # open for read+write, as an editor saving in place does
        proc = subprocess.run(["/bin/sh", "-c", probe, "sh", str(shared / "f.h5")], user=65534, capture_output=True)
        assert proc.returncode == 7 and b"Permission denied" in proc.stderr, proc
        assert (shared / "f.h5").read_bytes() == before
    except _Skip:
        pass
    finally:
        shutil.rmtree(shared)
    # An editor that writes a new file and renames it only breaks the link.
    tmp = linked.with_name("edit.tmp")
    tmp.write_bytes(b"edited")
    os.replace(tmp, linked)
    report = verify_all(cache)
    assert report.ok and report.trees == 1, report.problems
    _fsck_cache_clean(reg, objects=10)
    # reflink where the filesystem cannot: one clear line.
    res = run_pedata("get", URI, "-o", str(tmp_path / "rl"), "--link", "reflink", cwd=reg.origin)
    if not res.ok:
        assert_one_line_error(res, "does not support reflinks")
    # fsck finds damage done behind pedata's back.
    os.chmod(obj, 0o644)
    with open(obj, "r+b") as fh:
        fh.write(b"YYYY")
    problems = verify_all(cache).problems
    assert any(entry["sha256"] in p and "modified in place" in p for p in problems)
    # pedata fsck --deep names it by the URI that pins it and by sha256, and fails.
    member = f"pedata://uk/local_areas@sha256:{art['sha256']};path=constituency/E14000001.h5"
    res = run_pedata("fsck", "--deep", "--json", cwd=reg.origin)
    assert res.returncode == 1, res
    out = json.loads(res.stdout)
    assert out["cache"]["ok"] is False
    found = {(f["where"], f["problem"], f["uri"]) for f in out["findings"]}
    assert found == {("cache", "corrupt", member)}, out["findings"]  # the object, and the tree's link to it
    assert any(f["url"] == str(obj) and f"object {entry['sha256']}: bytes hash to" in f["detail"] for f in out["findings"])
    text = run_pedata("fsck", "--deep", cwd=reg.origin)
    assert text.returncode == 1 and f"corrupt: {member} in the resolver cache ({obj}): object {entry['sha256']}" in text.stdout
    assert "pedata fsck: 2 problem(s)" in text.stderr


class _Skip(Exception):
    """Leave an optional block of a test early."""


def test_get_into_a_folder_never_replaces_other_bytes_without_force(small, tmp_path):
    reg, art, _ = small
    ws = tmp_path / "ws"
    assert run_pedata("get", URI, "-o", str(ws), "--link", "copy", cwd=reg.origin).ok
    assert run_pedata("get", URI, "-o", str(ws), "--link", "copy", cwd=reg.origin).ok  # same bytes: fine
    mine = ws / "constituency/E14000001.h5"
    mine.write_bytes(b"mine")
    (ws / "notes.txt").write_text("keep me")
    good = (ws / "constituency/E14000002.h5").read_bytes()
    res = run_pedata("get", URI, "-o", str(ws), cwd=reg.origin)
    assert_one_line_error(res, "constituency/E14000001.h5 exist with other bytes", "nothing was replaced", "--force")
    assert mine.read_bytes() == b"mine" and (ws / "constituency/E14000002.h5").read_bytes() == good
    one = tmp_path / "one.h5"
    one.write_bytes(b"other")
    res = run_pedata("get", f"{URI};path=district/D000.h5", "-o", str(one), cwd=reg.origin)
    assert_one_line_error(res, f"{one} exists and holds other bytes", "--force")
    assert one.read_bytes() == b"other"
    res = run_pedata("get", URI, "-o", str(ws), "--force", "--json", cwd=reg.origin)
    assert res.ok, res
    assert snippet_digest(ws) != art["sha256"]  # notes.txt is the user's and stays
    (ws / "notes.txt").unlink()
    assert snippet_digest(ws) == art["sha256"]


def test_diff_of_two_directory_artifacts(tmp_path):
    reg = make_registry(tmp_path, constituencies=4, districts=2)
    a = reg.publish()["artifacts"][0]
    reg.build(constituencies=5, districts=1, bump=[1], extra=[2])
    b = reg.publish()["artifacts"][0]
    ma = f"manifests/uk/local_areas/{a['sha256']}.json"
    mb = f"manifests/uk/local_areas/{b['sha256']}.json"
    res = run_pedata("diff", ma, mb, "--format", "json", cwd=reg.origin)
    assert res.ok, res
    d = json.loads(res.stdout)["files"]
    assert d["added"] == ["constituency/E14000004.h5"]
    assert d["removed"] == ["district/D001.h5"]
    changed = {c["path"]: c for c in d["changed"]}
    assert set(changed) == {"constituency/E14000001.h5", "constituency/E14000002.h5"}
    assert changed["constituency/E14000001.h5"]["rows"] == {"from": 4, "to": 5}
    assert changed["constituency/E14000002.h5"]["columns"]["added"] == ["council_tax"]
    text = run_pedata("diff", ma, mb, cwd=reg.origin).stdout
    assert "+ file constituency/E14000004.h5" in text and "    + column council_tax" in text
    assert "1 added, 1 removed, 2 changed, 4 unchanged" in text

    # ;path= narrows schema and diff to that one file (not the whole folder)
    ua, ub = f"pedata://uk/local_areas@sha256:{a['sha256']}", f"pedata://uk/local_areas@sha256:{b['sha256']}"
    one = run_pedata("diff", f"{ua};path=constituency/E14000002.h5", f"{ub};path=constituency/E14000002.h5",
                     "--format", "json", cwd=reg.origin)
    assert one.ok, one
    d = json.loads(one.stdout)
    assert "files" not in d and d["columns"]["added"] == ["council_tax"], d
    same = run_pedata("diff", f"{ua};path=constituency/E14000000.h5", f"{ub};path=constituency/E14000000.h5",
                      "--format", "json", cwd=reg.origin)
    assert same.ok and json.loads(same.stdout)["columns"]["added"] == [], same
    schema = run_pedata("schema", f"{ub};path=constituency/E14000002.h5", cwd=reg.origin)
    assert schema.ok, schema
    first = schema.stdout.splitlines()[0]
    entry = next(e for e in _entries(reg, b["sha256"]) if e["path"] == "constituency/E14000002.h5")
    assert first == f"uk/local_areas;path=constituency/E14000002.h5  sha256:{entry['sha256']}"
    assert "format: hdf5 (application/x-hdf5)" in schema.stdout and "council_tax" in schema.stdout
    assert "layout" not in schema.stdout  # one file, not the folder summary
    missing = run_pedata("schema", f"{ub};path=constituency/nope.h5", cwd=reg.origin)
    assert_one_line_error(missing, "no file 'constituency/nope.h5'")


def certified_registry(base, **kwargs):
    """A published folder artifact, a trust root committed, release uk 2.0.0 certified."""
    reg = make_registry(base, **kwargs)
    art = reg.publish()["artifacts"][0]
    keys = trust_init(reg)
    run(["git", "add", "-A"], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "trust root"], cwd=reg.origin)
    certify(reg)
    return reg, art, keys


def test_revoked_file_inside_a_released_directory(tmp_path):
    """`pedata revoke URI;path=FILE`: the file's bytes are tombstoned, the release that pins the
    directory becomes unreproducible, and every other file of it stays fetchable by path."""
    reg, art, _ = certified_registry(tmp_path, constituencies=4, districts=1)
    revoked = next(e for e in _entries(reg, art["sha256"]) if e["path"] == "constituency/E14000002.h5")
    res = run_pedata("revoke", f"{URI};path={revoked['path']}", "--reason", "licence withdrawn", "--authority", "ONS",
                     "--sign", "alice", "--json", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    assert (reg.origin / f"tombstones/{revoked['sha256']}.json").is_file()  # the file, not the folder
    assert not (reg.origin / f"tombstones/{art['sha256']}.json").exists()
    release = json.loads((reg.origin / "releases/uk/2.0.0.json").read_text())["signed"]
    assert release["status"] == "unreproducible"
    assert_one_line_error(run_pedata("get", URI, cwd=reg.origin), "unreproducible")
    by_digest = f"pedata://uk/local_areas@sha256:{art['sha256']}"
    assert_one_line_error(run_pedata("get", by_digest, cwd=reg.origin), "file constituency/E14000002.h5", "revoked", ";path=")
    assert_one_line_error(run_pedata("get", f"{URI};path={revoked['path']}", cwd=reg.origin), "revoked")
    ok = run_pedata("get", f"{URI};path=constituency/E14000001.h5", "--json", cwd=reg.origin)
    assert ok.ok, ok
    assert "unreproducible" in ok.stderr and json.loads(ok.stdout)["verified_by"] == "certifier"
    # A release left certified over a directory with a revoked file is a verify violation.
    bad = json.loads((reg.origin / "releases/uk/2.0.0.json").read_text())
    from dvc_pedata.base.timeutil import now
    from dvc_pedata.registry.repo import Registry
    from dvc_pedata.verify.core import Context, _load_tree
    from dvc_pedata.verify.directories import run as check_dirs

    bad["signed"]["status"] = "certified"
    (reg.origin / "releases/uk/2.0.0.json").write_text(json.dumps(bad))
    ctx = Context(reg=Registry(reg.origin), now=now(), base=None)
    _load_tree(ctx)
    check_dirs(ctx)
    assert any("whose file constituency/E14000002.h5 is revoked" in v.reason for v in ctx.violations)


# -- revoke --purge of directory artifacts ---------------------------------------------------------
def _stores(reg) -> tuple[Path, Path, Path]:
    """The local DVC remote folder, the DVC cache and the resolver cache (``$PEDATA_CACHE_DIR``)."""
    return storage_dir(reg), reg.origin / ".dvc" / "cache", Path(reg.env["PEDATA_CACHE_DIR"])


def _resolver_object(cache: Path, sha256: str) -> Path:
    return cache / "sha256" / sha256[:2] / sha256[2:]


def _holding(folders: list[Path], contents: list[bytes]) -> list[Path]:
    """Every file under ``folders`` whose bytes are one of ``contents`` (objects, trees, work-tree copies)."""
    sizes = {len(c) for c in contents}
    return [p for f in folders for p in f.rglob("*")
            if p.is_file() and not p.is_symlink() and p.stat().st_size in sizes and p.read_bytes() in contents]


def _fsck(reg, *args: str) -> dict:
    res = run_pedata("fsck", "--json", *args, cwd=reg.origin, env=reg.env)
    return {"ok": res.ok, **json.loads(res.stdout)}


def test_purge_of_a_whole_directory_deletes_every_member_object(tmp_path):
    """`revoke DIR --purge`: DVC's listing and every member object leave the remote, the DVC cache
    and the resolver cache (objects and trees/), and the work tree's folder goes; a member whose bytes
    another, unrevoked artifact still holds is kept and recorded so. A member put back by hand is
    reported by fsck, and the fsck hint finishes the purge."""
    reg, old, _ = certified_registry(tmp_path, constituencies=3, districts=1)  # v1: released as uk 2.0.0, never revoked
    reg.build(constituencies=3, districts=1, bump=[0, 1, 2])  # every constituency changes, the districts do not
    new = reg.publish()["artifacts"][0]
    storage, dvc_cache, cache = _stores(reg)
    old_entries, new_entries = _entries(reg, old["sha256"]), _entries(reg, new["sha256"])
    shared = {e["md5"] for e in new_entries} & {e["md5"] for e in old_entries}
    gone = [e for e in new_entries if e["md5"] not in shared]
    assert len(gone) == 3 and {e["path"] for e in new_entries if e["md5"] in shared} == {"district/D000.h5", "district/D000_copy.h5"}
    new_dir = new["md5"]
    assert new_dir.endswith(".dir")
    for uri in ("pedata://uk/local_areas@latest", URI):  # the resolver cache: objects and both trees
        res = run_pedata("get", uri, cwd=reg.origin, env=reg.env)
        assert res.ok, res
    assert (cache / "trees" / new["sha256"]).is_dir() and (cache / "trees" / old["sha256"]).is_dir()
    for e in new_entries:
        assert object_path(storage, e["md5"]).is_file() and object_path(dvc_cache, e["md5"]).is_file()
        assert _resolver_object(cache, e["sha256"]).is_file()
    kept_bytes = {e["path"]: (reg.origin / "local_areas" / e["path"]).read_bytes() for e in gone}

    res = run_pedata("revoke", "pedata://uk/local_areas@latest", "--reason", "licence withdrawn", "--authority", "ONS",
                     "--sign", "alice", "--purge", "--json", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    assert json.loads(res.stdout)["sha256"] == new["sha256"]
    # the listing and every member object that only this folder holds: gone everywhere
    for md5 in [new_dir, *(e["md5"] for e in gone)]:
        assert not object_path(storage, md5).exists(), md5
        assert not object_path(dvc_cache, md5).exists(), md5
    for e in gone:
        assert not _resolver_object(cache, e["sha256"]).exists(), e
    assert not (cache / "trees" / new["sha256"]).exists() and not (cache / "trees" / f"{new['sha256']}.json").exists()
    assert not (reg.origin / "local_areas").exists()  # the work tree's folder, recursively
    assert _holding([storage, reg.origin, cache], list(kept_bytes.values())) == []  # no copy left anywhere
    # the shared district file is kept (uk 2.0.0 still pins it), and so is everything of the old folder
    for e in old_entries:
        assert object_path(storage, e["md5"]).is_file() and object_path(dvc_cache, e["md5"]).is_file()
    assert object_path(storage, old["md5"]).is_file() and (cache / "trees" / old["sha256"]).is_dir()
    ts = json.loads((reg.origin / f"tombstones/{new['sha256']}.json").read_text())["signed"]
    rec = {(p["kind"], p["location"].rsplit("/files/md5/", 1)[-1].replace("/", ""), p["status"]) for p in ts["purged"]}
    for md5 in [new_dir, *(e["md5"] for e in gone)]:
        assert ("remote", md5, "deleted") in rec and ("dvc-cache", md5, "deleted") in rec, md5
    where = {(p["kind"], p["location"], p["status"]) for p in ts["purged"]}
    assert ("workspace", "local_areas", "deleted") in where
    assert ("resolver-cache", str(cache / "trees" / new["sha256"]), "deleted") in where
    for e in gone:
        assert ("resolver-cache", str(_resolver_object(cache, e["sha256"])), "deleted") in where
    assert not [p for p in ts["purged"] if p["status"] == "failed"]
    [kept] = ts["kept"]
    assert kept["md5"] in shared and f"pedata://uk/local_areas@sha256:{old['sha256']}" in kept["reason"]
    assert run_pedata("get", f"{URI};path=district/D000.h5", cwd=reg.origin, env=reg.env).ok  # the old release still serves it

    assert _fsck(reg)["ok"] and _fsck(reg, "--deep")["ok"]
    # a member put back into the remote by hand (or a purge that failed there) is revoked-present
    back = gone[0]
    object_path(storage, back["md5"]).parent.mkdir(parents=True, exist_ok=True)
    object_path(storage, back["md5"]).write_bytes(kept_bytes[back["path"]])
    rep = _fsck(reg)
    assert not rep["ok"]
    [f] = rep["findings"]
    assert f["problem"] == "revoked-present"
    assert f["uri"] == f"pedata://uk/local_areas@sha256:{new['sha256']};path={back['path']}"
    assert f["url"].endswith(f"{back['md5'][:2]}/{back['md5'][2:]}")
    hint = f["detail"].split("run '", 1)[1].split("'", 1)[0]
    assert hint == f"pedata revoke sha256:{new['sha256']} --purge --sign alice"
    res = run_pedata(*hint.split()[1:], cwd=reg.origin, env=reg.env)
    assert res.ok, res
    assert not object_path(storage, back["md5"]).exists()
    assert _fsck(reg)["ok"]


def test_purge_of_one_file_inside_a_directory(tmp_path):
    """`revoke 'URI;path=FILE' --purge`: that file's bytes leave the remote, the DVC cache, the
    resolver cache and every cached tree holding them, and the registry's work-tree folder (both
    paths that hold them); the other files stay. status names the file; fsck finds it put back."""
    reg, art, _ = certified_registry(tmp_path, constituencies=3, districts=1)
    storage, dvc_cache, cache = _stores(reg)
    entries = _entries(reg, art["sha256"])
    revoked = next(e for e in entries if e["path"] == "district/D000.h5")  # district/D000_copy.h5 holds the same bytes
    others = [e for e in entries if e["md5"] != revoked["md5"]]
    assert len(others) == 3
    res = run_pedata("get", URI, cwd=reg.origin, env=reg.env)
    assert res.ok, res
    tree = cache / "trees" / art["sha256"]
    assert (tree / "district/D000.h5").is_file() and _resolver_object(cache, revoked["sha256"]).is_file()
    data = (reg.origin / "local_areas/district/D000.h5").read_bytes()
    shutil.copytree(cache / "trees", tmp_path / "trees-before")
    consumer = tmp_path / "consumer"  # a DVC project that imported the folder before the revocation
    consumer.mkdir()
    run(["git", "init", "-q"], cwd=consumer)
    run([*dvc_cmd(), "init", "-q"], cwd=consumer)
    run([*dvc_cmd(), "import", "-q", str(reg.origin), "local_areas", "-o", "local_areas"], cwd=consumer)

    res = run_pedata("revoke", f"{URI};path=district/D000.h5", "--reason", "licence withdrawn", "--authority", "ONS",
                     "--sign", "alice", "--purge", "--json", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    assert not object_path(storage, revoked["md5"]).exists() and not object_path(dvc_cache, revoked["md5"]).exists()
    assert not _resolver_object(cache, revoked["sha256"]).exists()
    assert not tree.exists() and not tree.with_suffix(".json").exists()  # its hard link kept the bytes alive
    assert _holding([storage, reg.origin, cache], [data]) == []  # no copy left anywhere
    assert not (reg.origin / "local_areas/district/D000.h5").exists()
    assert not (reg.origin / "local_areas/district/D000_copy.h5").exists()
    for e in others:  # the rest of the folder stays, everywhere
        assert object_path(storage, e["md5"]).is_file() and object_path(dvc_cache, e["md5"]).is_file()
        assert _resolver_object(cache, e["sha256"]).is_file() and (reg.origin / "local_areas" / e["path"]).is_file()
    assert object_path(storage, art["md5"]).is_file()  # DVC's listing of the folder is not the revoked bytes
    ts = json.loads((reg.origin / f"tombstones/{revoked['sha256']}.json").read_text())["signed"]
    where = {(p["kind"], p["location"], p["status"]) for p in ts["purged"]}
    assert {("workspace", "local_areas/district/D000.h5", "deleted"), ("workspace", "local_areas/district/D000_copy.h5", "deleted"),
            ("resolver-cache", str(_resolver_object(cache, revoked["sha256"])), "deleted"),
            ("resolver-cache", str(tree), "deleted")} <= where, where
    assert {(p["kind"], p["status"]) for p in ts["purged"] if p["location"].endswith(revoked["md5"][2:])} == {
        ("remote", "deleted"), ("dvc-cache", "deleted")}
    assert not [p for p in ts["purged"] if p["status"] == "failed"]
    # status names them and exits 4: revoked bytes are in use here (docs/tombstones.md)
    st = run_pedata("status", "--json", cwd=reg.origin, env=reg.env)
    assert st.returncode == 4, st
    assert sorted(i["path"] for i in json.loads(st.stdout)) == ["local_areas/district/D000.h5", "local_areas/district/D000_copy.h5"]
    st = run_pedata("status", "--json", cwd=consumer)  # the consumer's imported folder: the same two files
    assert st.returncode == 4, st
    assert sorted((i["path"], i["source"]) for i in json.loads(st.stdout)) == [
        ("local_areas/district/D000.h5", str(reg.origin)), ("local_areas/district/D000_copy.h5", str(reg.origin))]
    ok = run_pedata("get", f"{URI};path=constituency/E14000001.h5", cwd=reg.origin, env=reg.env)
    assert ok.ok, ok

    assert _fsck(reg)["ok"] and _fsck(reg, "--deep")["ok"]
    object_path(storage, revoked["md5"]).write_bytes(data)  # put back by hand
    rep = _fsck(reg)
    assert [(f["problem"], f["uri"]) for f in rep["findings"]] == [
        ("revoked-present", f"pedata://uk/local_areas@sha256:{art['sha256']};path=district/D000.h5")]
    _resolver_object(cache, revoked["sha256"]).write_bytes(data)  # and into the resolver cache, with its tree
    shutil.copytree(tmp_path / "trees-before", cache / "trees", dirs_exist_ok=True)
    rep = _fsck(reg, "--deep")
    found = {(f["problem"], f["where"], f["url"], f["uri"]) for f in rep["findings"]}
    member = f"pedata://uk/local_areas@sha256:{art['sha256']};path=district/D000.h5"
    assert {("revoked-present", "cache", str(_resolver_object(cache, revoked["sha256"])), member),
            ("revoked-present", "cache", str(tree), member)} <= found, found


def test_certify_refuses_a_folder_whose_file_list_is_not_committed(tmp_path):
    """A large folder's file list lives in its own companion file: a release whose tag lacks it
    could not be read from a clone, so certify refuses until it is committed."""
    reg = make_registry(tmp_path, config={"directory_inline_files": 2}, constituencies=3, districts=1)
    res = run_pedata("publish", "--json", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    listing = next((reg.origin / "manifests/uk/local_areas").glob("*.files.json")).relative_to(reg.origin).as_posix()
    run(["git", "add", "-A"], cwd=reg.origin)
    run(["git", "reset", "-q", "--", listing], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "publish, without the file list"], cwd=reg.origin)
    trust_init(reg)
    run(["git", "add", "trust"], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "trust root", "--", "trust"], cwd=reg.origin)
    res = run_pedata("promote", "uk", "--sign", "alice", "--no-commit", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    run(["git", "commit", "-q", "-m", "promote uk next", "--", "channels"], cwd=reg.origin)
    res = run_pedata("certify", "uk", "2.0.0", "--sign", "alice", cwd=reg.origin, env=reg.env)
    assert_one_line_error(res, listing, "is not committed as it is in the work tree")
    assert not (reg.origin / "releases/uk/2.0.0.json").exists()
    run(["git", "add", listing], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "the file list"], cwd=reg.origin)
    assert run_pedata("certify", "uk", "2.0.0", "--sign", "alice", cwd=reg.origin, env=reg.env).ok



def test_a_folder_changed_since_dvc_recorded_it_is_refused_and_nothing_is_written(tmp_path):
    """publish compares the folder's bytes (their md5) with DVC's listing while the push runs: a
    changed, deleted or extra file is refused before any write; a file .dvcignore hides is not."""
    reg = make_registry(tmp_path, constituencies=4, districts=2)
    first = reg.publish()["artifacts"][0]
    folder = reg.origin / "local_areas"

    def snapshot():
        return (run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=reg.origin).stdout,
                sorted(p.name for p in (reg.origin / "manifests/uk/local_areas").iterdir()))

    def restore():
        run([*dvc_cmd(), "checkout", "-q", "--force", "local_areas"], cwd=reg.origin)

    target = folder / "constituency" / "E14000001.h5"
    cases = {
        "changed": lambda: shutil.copyfile(folder / "constituency" / "E14000000.h5", target),  # valid HDF5, other bytes
        "deleted": target.unlink,
        "extra": lambda: (folder / "district" / "new.h5").write_bytes(b"not recorded"),
    }
    for why, change in cases.items():
        change()
        before = snapshot()
        res = run_pedata("publish", "local_areas", cwd=reg.origin, env=reg.env)
        assert_one_line_error(res, "local_areas is modified since dvc.lock was written: run 'dvc repro' or 'dvc commit' first")
        assert snapshot() == before, why  # no lock, manifest, listing or channel written
        restore()
        extra = folder / "district" / "new.h5"
        if extra.exists():
            extra.unlink()

    # a file DVC ignores is not part of the folder: the same bytes publish again, nothing changes
    (reg.origin / ".dvcignore").write_text("*.tmp\n")
    run(["git", "add", ".dvcignore"], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "ignore scratch files"], cwd=reg.origin)
    (folder / "district" / "scratch.tmp").write_bytes(b"scratch")
    again = reg.publish()["artifacts"][0]
    assert again["sha256"] == first["sha256"] and not again["manifest_created"]


def test_a_folder_whose_object_left_the_dvc_cache_is_refused_before_anything_is_pushed(tmp_path):
    """The workspace matches DVC's listing, but one file's object is gone from the local DVC cache
    (a hand clean-up, a `dvc gc` of another workspace): `dvc push` would log it and push the rest,
    and the pin would name bytes the remote lacks. publish refuses before sending anything."""
    reg = make_registry(tmp_path, constituencies=4, districts=2)
    md5 = run(["md5sum", "local_areas/constituency/E14000001.h5"], cwd=reg.origin).stdout.split()[0]
    cached = reg.origin / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    assert cached.is_file()
    cached.chmod(0o644)
    cached.unlink()
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=reg.origin).stdout

    res = run_pedata("publish", "local_areas", cwd=reg.origin, env=reg.env)
    assert_one_line_error(res, "1 object(s) are in neither the local DVC cache nor remote 'storage'"
                               f" (first: {md5}); nothing was pushed: run 'dvc commit' (or 'dvc pull') first")
    storage = storage_dir(reg)
    assert not [p for p in storage.rglob("*") if p.is_file()], "no object reached the remote"
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=reg.origin).stdout == status
    assert not (reg.origin / "manifests" / "uk" / "local_areas").exists()

    # `dvc commit --force` puts the object back from the workspace; the same publish then succeeds,
    # and DVC finds everything it records in the remote
    run([*dvc_cmd(), "commit", "-q", "--force", "local_areas"], cwd=reg.origin)
    assert reg.publish()["pushed"] == 7  # six files and the listing
    assert "in sync" in run([*dvc_cmd(), "status", "--cloud"], cwd=reg.origin).stdout


def test_diff_of_two_folders_reads_their_file_lists_where_their_manifests_are(tmp_path):
    """A large folder's file list is a companion file. ``diff`` by URI with ``--registry`` read it
    from the current folder's registry instead (or failed outside any); by manifest file it needed
    the files inside a registry, when the list sits beside the manifest."""
    reg = make_registry(tmp_path, config={"directory_inline_files": 2}, constituencies=3, districts=1)
    a = reg.publish()["artifacts"][0]
    reg.build(constituencies=4, districts=1, bump=[1])
    b = reg.publish()["artifacts"][0]
    ma = reg.origin / f"manifests/uk/local_areas/{a['sha256']}.json"
    mb = reg.origin / f"manifests/uk/local_areas/{b['sha256']}.json"
    assert "sidecar" in json.loads(ma.read_text())["files"]  # the list is in its own file
    expected = json.loads(run_pedata("diff", str(ma), str(mb), "--format", "json", cwd=reg.origin).stdout)["files"]
    assert expected["added"] == ["constituency/E14000003.h5"] and expected["removed"] == []
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ua, ub = f"pedata://uk/local_areas@sha256:{a['sha256']}", f"pedata://uk/local_areas@sha256:{b['sha256']}"
    res = run_pedata("diff", ua, ub, "--registry", str(reg.origin), "--format", "json", cwd=elsewhere)
    assert res.ok, res
    assert json.loads(res.stdout)["files"] == expected
    loose = tmp_path / "loose"  # a reviewer's copy of the two manifests and their lists, no registry
    loose.mkdir()
    for m in (ma, mb):
        for f in m.parent.glob(f"{m.stem}*"):
            shutil.copyfile(f, loose / f.name)
        sidecar = json.loads(m.read_text())["files"]["sidecar"]
        shutil.copyfile(m.parent / sidecar, loose / sidecar)
    res = run_pedata("diff", str(loose / ma.name), str(loose / mb.name), "--format", "json", cwd=elsewhere)
    assert res.ok, res
    assert json.loads(res.stdout)["files"] == expected
