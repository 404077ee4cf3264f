"""Hardening: racing promotes, secrets, a read-only registry, a full cache disk.

Real processes throughout. The full disk is a 1 MB tmpfs mounted in the test (root only; the
test is skipped elsewhere); the read-only registry is a read-only bind mount (root ignores file
modes, so chmod would prove nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.checks import assert_cache_objects_right, verify_ok
from support.commands import assert_one_line_error, run, run_pedata
from support.resolve import build_registry

from dvc_pedata.base.atomic import TMP_PREFIX
from dvc_pedata.model.canonical import loads_strict


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return build_registry(tmp_path_factory.mktemp("misc"), big_size=3 << 20)


@pytest.fixture(scope="module")
def signed(tmp_path_factory, published):
    base = tmp_path_factory.mktemp("misc-signed")
    keys = base / "keys"
    repo = published.clone(base / "template")
    env = {"PEDATA_KEYS_DIR": str(keys)}
    for args in (("key", "generate", "alice"), ("trust", "init", "--root", "alice", "--expires", "never")):
        res = run_pedata(*args, cwd=repo, env=env)
        assert res.ok, res
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "trust"], cwd=repo)
    return repo, keys


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


needs_root_mount = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root to mount")


# -- concurrency -------------------------------------------------------------------------------
@pytest.mark.parametrize("attempt", range(3))
def test_two_promotes_race_one_wins_one_refused(signed, tmp_path, attempt):
    template, keys = signed
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    env = {**os.environ, "PEDATA_KEYS_DIR": str(keys)}
    procs = [subprocess.Popen([sys.executable, "-m", "dvc_pedata", "promote", "us", "--sign", "alice"], cwd=repo,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(o[0] for o in outs)
    assert codes[0] == 0 and codes[1] != 0, outs
    loser = next(o for o in outs if o[0] != 0)
    lines = [ln for ln in loser[2].splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pedata: error: ") and "Traceback" not in loser[2], loser
    # One document with version 1 in every commit and in the work tree; never two.
    versions = set()
    for rev in run(["git", "rev-list", "--all"], cwd=repo).stdout.split():
        blob = run(["git", "show", f"{rev}:channels/us/next.json"], cwd=repo, check=False)
        if blob.returncode == 0:
            versions.add((json.loads(blob.stdout)["signed"]["version"], blob.stdout))
    assert len(versions) == 1, versions
    assert loads_strict((repo / "channels/us/next.json").read_bytes())["signed"]["version"] == 1
    verify_ok(repo)


def test_promote_commits_only_its_channel_and_leaves_other_staged_work_staged(signed, tmp_path):
    template, keys = signed
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    (repo / "NOTES.md").write_text("half-written notes\n")
    run(["git", "add", "NOTES.md"], cwd=repo)
    res = run_pedata("promote", "us", "--sign", "alice", cwd=repo, env={"PEDATA_KEYS_DIR": str(keys)})
    assert res.ok, res
    changed = run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=repo).stdout.split()
    assert changed == ["channels/us/next.json"]
    assert run(["git", "diff", "--cached", "--name-only"], cwd=repo).stdout.split() == ["NOTES.md"]


# -- secrets -----------------------------------------------------------------------------------
def test_private_keys_stay_outside_the_repo_unprinted_and_private(published, tmp_path):
    repo = published.clone(tmp_path / "repo")
    keys = tmp_path / "keys"
    env = {"PEDATA_KEYS_DIR": str(keys)}
    res = run_pedata("key", "generate", "bob", "--json", cwd=repo, env=env)
    assert res.ok, res
    pem = (keys / "bob.key").read_bytes()
    body = b"".join(pem.splitlines()[1:-1]).decode()
    assert (keys / "bob.key").stat().st_mode & 0o777 == 0o600
    assert body not in res.stdout + res.stderr
    # Every command that touches the key: the secret never appears in output or in the repo.
    outs = [res]
    outs.append(run_pedata("trust", "init", "--root", "bob", "--expires", "never", cwd=repo, env=env))
    outs.append(run_pedata("key", "list", "--json", cwd=repo, env=env))
    outs.append(run_pedata("promote", "us", "--sign", "bob", "--no-commit", cwd=repo, env=env))
    for r in outs:
        assert body not in r.stdout + r.stderr and "PRIVATE KEY" not in r.stdout + r.stderr
    for p in repo.rglob("*"):
        if p.is_file() and ".git/objects" not in p.as_posix():
            data = p.read_bytes()
            assert body.encode() not in data and b"PRIVATE KEY" not in data, p
    # A keys folder inside the work tree is refused.
    inside = run_pedata("key", "generate", "carol", cwd=repo, env={"PEDATA_KEYS_DIR": str(repo / "keys")})
    assert_one_line_error(inside, "inside the git work tree")
    assert not (repo / "keys").exists()
    # A world-readable private key is refused, and its bytes are not echoed.
    os.chmod(keys / "bob.key", 0o644)
    res = run_pedata("promote", "us", "--to", "stable", "--sign", "bob", "--no-commit", cwd=repo, env=env)
    assert_one_line_error(res, "readable by others")
    assert body not in res.stderr
    # A garbage "key" is refused without echoing what it holds.
    (keys / "eve.key").write_bytes(b"SECRET-MATERIAL-123")
    os.chmod(keys / "eve.key", 0o600)
    res = run_pedata("promote", "us", "--to", "stable", "--sign", "eve", "--no-commit", cwd=repo, env=env)
    assert res.returncode != 0 and "SECRET-MATERIAL-123" not in res.stdout + res.stderr


def test_keys_folder_inside_any_work_tree_is_refused_at_generate_and_at_signing(signed, tmp_path):
    """Whatever the current folder: git is asked about the keys folder itself (symlinks resolved),
    at ``key generate`` and whenever a private key is loaded to sign, by name or by path."""
    template, keys = signed
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    other = tmp_path / "other"  # an unrelated repository
    other.mkdir()
    run(["git", "init", "-q"], cwd=other)
    outside = tmp_path / "outside"  # not in any repository
    outside.mkdir()
    (tmp_path / "link").symlink_to(repo / "manifests")

    def status(where: Path = repo) -> str:
        return run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=where).stdout

    clean, other_clean = status(), status(other)
    # generate: from outside any repository (the reproduced case), from the registry into another
    # repository, into a folder not made yet, into the work tree's top, and through a symlink.
    for folder, cwd in ((repo / "keys", outside), (other / "keys", repo), (repo / "deep" / "er" / "keys", outside),
                        (repo, outside), (tmp_path / "link" / "keys", outside)):
        res = run_pedata("key", "generate", "mallory", cwd=cwd, env={"PEDATA_KEYS_DIR": str(folder)})
        assert_one_line_error(res, f"keys folder {folder.resolve()} is inside the git work tree", "never be committed")
        assert status() == clean and status(other) == other_clean, (folder, status())
    assert not any(p.name.startswith("mallory") for p in repo.rglob("*")) and not (repo / "deep").exists()

    # signing: a key someone copied into a work tree afterwards is refused before it is read, and
    # nothing is written (no channel, no branch, no commit).
    inside = repo / "secrets"
    inside.mkdir(mode=0o700)
    shutil.copy2(keys / "alice.key", inside / "alice.key")
    os.chmod(inside / "alice.key", 0o600)
    clean = status()
    head = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout
    latest = (repo / "channels/us/latest.json").read_bytes()
    body = b"".join((keys / "alice.key").read_bytes().splitlines()[1:-1]).decode()
    for args, env in ((["promote", "us", "--sign", str(inside / "alice.key")], {"PEDATA_KEYS_DIR": str(keys)}),
                      (["promote", "us", "--sign", "alice"], {"PEDATA_KEYS_DIR": str(inside)}),
                      (["sign", "channels/us/latest.json", "--sign", "alice"], {"PEDATA_KEYS_DIR": str(inside)})):
        res = run_pedata(*args, cwd=repo, env=env)
        assert_one_line_error(res, f"private key folder {inside.resolve()} is inside the git work tree {repo.resolve()}")
        assert body not in res.stdout + res.stderr
        assert status() == clean and run(["git", "rev-parse", "HEAD"], cwd=repo).stdout == head
        assert (repo / "channels/us/latest.json").read_bytes() == latest and not (repo / "channels/us/next.json").exists()
    # Group- or world-readable is refused as well (by path too), never echoing the key.
    for mode in (0o640, 0o604):
        shutil.copy2(keys / "alice.key", outside / "alice.key")
        os.chmod(outside / "alice.key", mode)
        res = run_pedata("promote", "us", "--sign", str(outside / "alice.key"), "--no-commit", cwd=repo)
        assert_one_line_error(res, f"mode {mode:04o}", "readable by others")
        assert body not in res.stdout + res.stderr and status() == clean
    # The same key, from a private folder outside every work tree, signs.
    os.chmod(outside / "alice.key", 0o600)
    res = run_pedata("promote", "us", "--sign", str(outside / "alice.key"), "--no-commit", cwd=repo)
    assert res.ok, res
    assert body not in res.stdout + res.stderr


# -- read-only registry --------------------------------------------------------------------------
@needs_root_mount
def test_read_only_registry_resolves_and_refuses_writes_clearly(published, tmp_path):
    src = published.clone(tmp_path / "src")
    ro = tmp_path / "ro"
    ro.mkdir()
    assert _mount("--bind", str(src), str(ro))
    try:
        if not _mount("-o", "remount,bind,ro", str(ro)):
            pytest.skip("cannot remount read-only here")
        cache = tmp_path / "cache"
        # Resolving through the read-only checkout needs DVC, which wants .dvc/tmp: a one-line
        # error naming the read-only folder (never a traceback); the same registry read as a git
        # URL (a bare clone in the resolver's cache) resolves.
        env = {"PEDATA_CACHE_DIR": str(cache)}
        res = run_pedata("get", "pedata://us/people@latest", "--json", cwd=ro, env=env)
        if not res.ok:
            assert_one_line_error(res, "Read-only file system")
            res = run_pedata("get", "pedata://us/people@latest", "--registry", f"file://{ro}", "--json", cwd=tmp_path, env=env)
        assert res.ok, res
        assert_cache_objects_right(cache)
        assert run_pedata("verify", cwd=ro).ok
        res = run_pedata("publish", cwd=ro)
        assert_one_line_error(res)
        assert "read-only" in res.stderr.lower(), res.stderr
    finally:
        subprocess.run(["umount", str(ro)], check=False)


# -- full disk in the cache folder ------------------------------------------------------------
@needs_root_mount
def test_full_cache_disk_is_a_clear_error_and_leaves_nothing_partial(published, tmp_path):
    clone = published.clone(tmp_path / "clone")
    cache = tmp_path / "cache"
    cache.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(cache)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        env = {"PEDATA_CACHE_DIR": str(cache)}
        res = run_pedata("get", "pedata://us/big@latest", cwd=clone, env=env)  # 3 MB into 1 MB
        assert_one_line_error(res, "pedata://us/big@latest")
        assert "space" in res.stderr.lower(), res.stderr
        assert_cache_objects_right(cache)
        objects = [p for p in (cache / "sha256").rglob("*") if p.is_file()] if (cache / "sha256").exists() else []
        assert [p for p in objects if p.name.startswith(TMP_PREFIX)] == []
        assert [p for p in objects if not p.name.startswith(TMP_PREFIX)] == []
        # A small artifact still fits: the failure left the cache usable.
        ok = run_pedata("get", "pedata://us/people@latest", cwd=clone, env=env)
        assert ok.ok, ok
    finally:
        subprocess.run(["umount", str(cache)], check=False)


def test_error_messages_carry_no_terminal_escape_codes():
    """DVC colours its hints; a pedata error (logged, piped, grepped) must be plain text."""
    from dvc_pedata.errors import DvcError

    err = DvcError("dvc import failed: not a DVC repo\nSee <\x1b[36mhttps://dvc.org/doc/user-guide/troubleshooting\x1b[39m>")
    assert err.message == "dvc import failed: not a DVC repo See <https://dvc.org/doc/user-guide/troubleshooting>"


def test_a_write_sweeps_dead_writers_temps_of_its_own_pid_namespace_only(tmp_path):
    """A killed writer's temp file goes at the next write into the folder; a temp file named by a
    writer in another pid namespace (a container sharing the mount) is never judged by our pids."""
    from dvc_pedata.base import atomic

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    ours = tmp_path / f"{atomic.TMP_PREFIX}p{pid}n{atomic._TAG}-killed"
    theirs = tmp_path / f"{atomic.TMP_PREFIX}p{pid}n0other0-live-elsewhere"
    legacy = tmp_path / f"{atomic.TMP_PREFIX}p{pid}-no-namespace"
    for p in (ours, theirs, legacy):
        p.write_bytes(b"half a document")
    atomic.write_if_changed(tmp_path / "doc.json", b"{}\n")
    assert (tmp_path / "doc.json").read_bytes() == b"{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["doc.json", theirs.name, legacy.name])
