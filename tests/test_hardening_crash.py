"""Crash safety: SIGKILL ``pedata publish``, ``promote`` and ``get`` at random moments (many seeds).

After every kill: no JSON document is truncated, no object sits under a name its bytes do not hash
to (registry manifests, DVC remote, resolver cache), ``pedata verify`` agrees with the state, and
re-running the command completes the work. Data is small (a few MB) so each seed costs a couple
of seconds; the kill delay is drawn from the span a normal run takes, so seeds land before,
inside and after the interesting steps (hashing, push, manifests, channel, git).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import dvc_cmd, run, run_pedata
from resolve_helpers import GEN, build_registry, sha256_of

from dvc_pedata.atomic import TMP_PREFIX
from dvc_pedata.canonical import loads_strict

SEEDS = [int(s) for s in os.environ.get("PEDATA_CRASH_SEEDS", "1,2,3,4").split(",")]
DOC_DIRS = ("manifests", "channels", "releases", "tombstones", "trust")


def spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dvc_pedata", *args], cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; True if it was still running (a real kill)."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True


def assert_documents_whole(repo: Path) -> None:
    """Every registry JSON document parses; every manifest is stored under its own sha256."""
    for top in DOC_DIRS:
        for p in (repo / top).rglob("*.json"):
            doc = loads_strict(p.read_bytes(), source=str(p))  # raises on a truncated file
            if top == "manifests":
                assert p.stem == doc["digest"]["sha256"], p


def assert_remote_objects_right(storage: Path) -> None:
    """Every object in the local DVC remote hashes to its name (temp files are not objects)."""
    for p in (storage / "files" / "md5").rglob("*"):
        if p.is_file() and len(p.parent.name) == 2 and len(p.name) == 30:
            assert hashlib.md5(p.read_bytes()).hexdigest() == p.parent.name + p.name, p


def assert_cache_objects_right(cache: Path) -> None:
    root = cache / "sha256"
    for p in root.rglob("*") if root.exists() else []:
        if p.is_file() and not p.name.startswith(TMP_PREFIX):
            assert sha256_of(p) == p.parent.name + p.name, p


def verify_ok(repo: Path) -> dict:
    res = run_pedata("verify", "--json", cwd=repo)
    data = json.loads(res.stdout)
    assert res.ok and data["ok"], (res.stdout, res.stderr)
    return data


# -- publish ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unpublished(tmp_path_factory) -> Path:
    """A registry whose pipeline has run (4 MB output) but nothing is published: a template."""
    base = tmp_path_factory.mktemp("crash-publish")
    repo = base / "template"
    repo.mkdir()
    env = {"PEDATA_STORAGE_DIR": str(base / "template-storage")}
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    assert run_pedata("init", "-n", "us", cwd=repo, env=env).ok
    (repo / "gen.py").write_text(GEN)
    (repo / "seed.txt").write_text("crash\n")
    (repo / "dvc.yaml").write_text(
        "stages:\n  people:\n"
        f"    cmd: {sys.executable} gen.py people.bin seed.txt {4 << 20}\n"
        "    deps: [gen.py, seed.txt]\n    outs: [people.bin]\n"
        "artifacts:\n  people:\n    path: people.bin\n"
    )
    run([*dvc_cmd(), "repro", "-q"], cwd=repo, env=env)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "pipeline"], cwd=repo)
    return repo


def _copy_registry(template: Path, dest: Path) -> tuple[Path, Path]:
    """A copy of ``template`` with its own (empty) local remote."""
    shutil.copytree(template, dest / "repo", symlinks=True)
    storage = dest / "storage"
    storage.mkdir()
    cfg = dest / "repo" / ".dvc" / "config"
    text = cfg.read_text()
    old = next(line.split("=", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("url"))
    cfg.write_text(text.replace(old, str(storage)))
    return dest / "repo", storage


@pytest.mark.parametrize("seed", SEEDS)
def test_publish_killed_at_random_then_rerun(unpublished, tmp_path, seed):
    repo, storage = _copy_registry(unpublished, tmp_path)
    rnd = random.Random(seed)
    delay = rnd.uniform(0.3, 3.5)
    killed = kill_after(spawn(["publish"], repo), delay)
    assert_documents_whole(repo)
    assert_remote_objects_right(storage)
    verify_ok(repo)  # whatever was written so far is consistent: pins only name existing manifests
    latest = repo / "channels/us/latest.json"
    if latest.exists():  # the channel moved: the bytes must already be in the remote
        pin = loads_strict(latest.read_bytes())["signed"]["artifacts"]["people"]
        md5 = hashlib.md5((repo / "people.bin").read_bytes()).hexdigest()
        assert (storage / "files/md5" / md5[:2] / md5[2:]).is_file()
        assert pin["sha256"] == sha256_of(repo / "people.bin")
    res = run_pedata("publish", "--json", cwd=repo)
    assert res.ok, (killed, delay, res.stderr)
    verify_ok(repo)
    pin = loads_strict(latest.read_bytes())["signed"]["artifacts"]["people"]
    assert pin["sha256"] == sha256_of(repo / "people.bin")
    assert loads_strict(latest.read_bytes())["signed"]["version"] == 1  # one version, never a duplicate
    assert_remote_objects_right(storage)


# -- get ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return build_registry(tmp_path_factory.mktemp("crash-get"), big_size=16 << 20)


@pytest.mark.parametrize("seed", SEEDS)
def test_get_killed_at_random_then_rerun(published, tmp_path, seed):
    clone = published.clone(tmp_path / "clone")
    cache = tmp_path / "cache"
    env = {"PEDATA_CACHE_DIR": str(cache)}
    delay = random.Random(seed).uniform(0.2, 3.0)
    killed = kill_after(spawn(["get", "pedata://us/big@latest"], clone, env), delay)
    assert_cache_objects_right(cache)  # a partial download never sits under a sha256 name
    res = run_pedata("get", "pedata://us/big@latest", "--json", cwd=clone, env=env)
    assert res.ok, (killed, delay, res.stderr)
    path = Path(json.loads(res.stdout)["path"])
    assert sha256_of(path) == published.big
    assert_cache_objects_right(cache)
    leftovers = [p for p in (cache / "sha256").rglob("*") if p.is_file() and p.name.startswith(TMP_PREFIX)]
    assert leftovers == []  # the next resolver of that object cleans what the killed one left


# -- promote -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def promotable(tmp_path_factory, published):
    """A clone with a trust root (alice holds every role) and a published ``latest``."""
    base = tmp_path_factory.mktemp("crash-promote")
    keys = base / "keys"
    repo = published.clone(base / "template")
    env = {"PEDATA_KEYS_DIR": str(keys)}
    for args in (("key", "generate", "alice"), ("trust", "init", "--root", "alice", "--expires", "never")):
        assert run_pedata(*args, cwd=repo, env=env).ok
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "trust"], cwd=repo)
    return repo, keys


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_promote_killed_at_random_then_rerun(promotable, tmp_path, seed):
    template, keys = promotable
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    env = {"PEDATA_KEYS_DIR": str(keys)}
    delay = random.Random(seed).uniform(0.1, 1.5)
    killed = kill_after(spawn(["promote", "us", "--sign", "alice"], repo, env), delay)
    assert_documents_whole(repo)
    verify_ok(repo)
    # Re-running completes the work: same branch name, one version 1 of `next`, signed.
    res = run_pedata("promote", "us", "--sign", "alice", "--json", cwd=repo, env=env)
    if not res.ok:
        assert "nothing to promote" in res.stderr, (killed, delay, res.stderr)
    nxt = loads_strict((repo / "channels/us/next.json").read_bytes())
    assert nxt["signed"]["version"] == 1 and nxt["signatures"]
    verify_ok(repo)
    branches = run(["git", "branch", "--list", "promote/*"], cwd=repo).stdout.split()
    assert [b for b in branches if b != "*"] == ["promote/us-next-v1"]
    log = run(["git", "log", "--format=%s", "promote/us-next-v1"], cwd=repo).stdout
    assert log.count("Promote us") == 1
