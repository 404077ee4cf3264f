"""Crash safety: SIGKILL ``pedata publish``, ``promote``, ``get`` and ``revoke --purge`` at random
moments (many seeds).

After every kill: no JSON document is truncated, no object sits under a name its bytes do not hash
to (registry manifests, DVC remote, resolver cache), ``pedata verify`` and ``pedata fsck`` agree
with the state, and re-running the command completes the work. Data is small (a few MB) so each seed costs a couple
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
import time
from pathlib import Path

import pytest
import store_helpers
from conftest import dvc_cmd, run, run_pedata
from resolve_helpers import GEN, build_registry, sha256_of
from store_helpers import Store

from dvc_pedata.atomic import TMP_PREFIX
from dvc_pedata.canonical import loads_strict

SEEDS = [int(s) for s in os.environ.get("PEDATA_CRASH_SEEDS", "1,2,3,4").split(",")]
DOC_DIRS = ("manifests", "channels", "releases", "tombstones", "trust")


store_template = store_helpers.store_template  # fixture (a published, promoted, certified registry)


def spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The CLI in its own process group, so what it started can be waited for after the kill."""
    return subprocess.Popen([sys.executable, "-m", "dvc_pedata", *args], cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in process group ``pgid``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; True if it was still running (a real kill).

    Only the pedata process is killed. A child it had started (``git commit``) runs on to its own
    end, as after a real crash; it is waited for, so the re-run does not meet its ``index.lock``.
    """
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
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


def fsck_json(repo: Path, env: dict[str, str] | None = None) -> dict:
    res = run_pedata("fsck", "--json", cwd=repo, env=env)
    assert res.returncode in (0, 1) and res.stdout, res.stderr
    data = json.loads(res.stdout)
    assert res.ok == data["ok"], (res.returncode, res.stdout)
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
    fs = fsck_json(repo)  # the store holds what the pins (if any yet) promise, and fsck says so
    assert fs["ok"] and fs["checked"] == (1 if latest.exists() else 0), (killed, delay, fs)
    res = run_pedata("publish", "--json", cwd=repo)
    assert res.ok, (killed, delay, res.stderr)
    verify_ok(repo)
    pin = loads_strict(latest.read_bytes())["signed"]["artifacts"]["people"]
    assert pin["sha256"] == sha256_of(repo / "people.bin")
    assert loads_strict(latest.read_bytes())["signed"]["version"] == 1  # one version, never a duplicate
    assert_remote_objects_right(storage)
    fs = fsck_json(repo)
    assert fs["ok"] and fs["checked"] == 1, fs


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
    fs = fsck_json(clone, env)  # a killed reader leaves the stores as they were, and fsck says so
    assert fs["ok"] and fs["checked"] == 2 and not fs["findings"], (killed, delay, fs)
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


# -- revoke --purge ------------------------------------------------------------------------------
PEOPLE = "pedata://us/people"
REVOKE = ["revoke", f"{PEOPLE}@latest", "--reason", "licence withdrawn", "--authority", "US Census Bureau",
          "--sign", "alice", "--purge"]


def _violations(repo: Path) -> dict[str, list[str]]:
    res = run_pedata("verify", "--json", cwd=repo)
    data = json.loads(res.stdout)
    assert res.ok == data["ok"], (res.returncode, res.stdout, res.stderr)
    out: dict[str, list[str]] = {}
    for v in data["violations"]:
        out.setdefault(v["file"], []).append(v["reason"])
    return out


def _refuses(store: Store, probe_cache: Path, tombstone: dict) -> None:
    """Every resolution of the revoked bytes is refused, naming the tombstone (nothing is fetched)."""
    res = run_pedata("get", f"{PEOPLE}@latest", cwd=store.root, env={**store.env, "PEDATA_CACHE_DIR": str(probe_cache)})
    assert not res.ok and "revoked" in res.stderr and tombstone["reason"] in res.stderr, res.stderr
    assert not (probe_cache / "sha256").exists() or not any((probe_cache / "sha256").rglob("*"))


def _assert_revoke_state_truthful(store: Store, people: str, places: dict[str, Path], probe_cache: Path) -> None:
    """verify and fsck describe a possibly half-done revocation as it is; resolving refuses once it began."""
    tomb = store.root / "tombstones" / f"{people}.json"
    violations = _violations(store.root)
    fs = fsck_json(store.root, store.env)
    present_in_remote = places["remote"].is_file()
    if not tomb.exists():  # killed before the first write: nothing is touched, everything passes
        assert all(p.is_file() for p in places.values()), {k: p.exists() for k, p in places.items()}
        assert violations == {} and fs["ok"], (violations, fs)
        return
    ts = loads_strict(tomb.read_bytes())["signed"]
    assert (ts["artifact_sha256"], ts["reason"], ts["authority"]) == (people, "licence withdrawn", "US Census Bureau")
    rel = loads_strict((store.root / "releases/us/1.0.0.json").read_bytes())["signed"]
    # verify: the channels still point at revoked bytes (true until they move); the release is
    # flagged exactly while it is not yet re-signed as unreproducible; nothing else (the
    # tombstone's signature, the re-signed release's signature) is wrong.
    expected = {"channels/us/latest.json", "channels/us/next.json"}
    if rel["status"] != "unreproducible":
        expected.add("releases/us/1.0.0.json")
    assert set(violations) == expected, violations
    assert all("revoked" in r for reasons in violations.values() for r in reasons), violations
    # fsck: bytes still in the remote are reported as revoked-but-present, never passed silently
    problems = sorted(f["problem"] for f in fs["findings"])
    assert problems == (["revoked-present"] if present_in_remote else []), fs
    assert fs["ok"] == (not present_in_remote)
    _refuses(store, probe_cache, ts)


def _revoke_store(store_template, tmp_path: Path) -> tuple[Store, str, dict[str, Path]]:
    """A private copy of the store whose ``people`` bytes sit in all four places a purge empties."""
    store = store_helpers.copy_store(*store_template, tmp_path / "copy")
    root = store.root
    people = store.pin("people")["sha256"]
    cache = Path(os.environ["PEDATA_CACHE_DIR"])
    resolver_obj = cache / "sha256" / people[:2] / people[2:]
    resolver_obj.parent.mkdir(parents=True, exist_ok=True)
    resolver_obj.write_bytes((root / "people.bin").read_bytes())  # as a `pedata get` leaves it
    places = {
        "remote": store.object(store.storage, people),
        "dvc-cache": store.object(root / ".dvc" / "cache", people),
        "resolver-cache": resolver_obj,
        "workspace": root / "people.bin",
    }
    assert all(p.is_file() for p in places.values())
    return store, people, places


def _assert_revoke_complete(store: Store, people: str, places: dict[str, Path], probe_cache: Path, killed: bool) -> None:
    """After a re-run: bytes gone everywhere, one tombstone with a full purge record, the release
    re-signed once and committed with it, verify and fsck saying exactly that."""
    root = store.root
    for where, path in places.items():
        assert not path.exists(), (where, path)
    tax = store.pin("tax")["sha256"]
    assert store.object(store.storage, tax).is_file() and (root / "tax.bin").is_file()
    left = sorted(p.name for p in (root / "tombstones").iterdir() if p.name != ".gitkeep")
    assert left == [f"{people}.json"]  # exactly one tombstone, no temp file left beside it
    ts = loads_strict((root / "tombstones" / f"{people}.json").read_bytes())["signed"]
    assert all(p["status"] in ("deleted", "absent") for p in ts["purged"]), ts["purged"]
    assert {"remote", "dvc-cache", "resolver-cache"} <= {p["kind"] for p in ts["purged"]}, ts["purged"]
    assert killed or any(p["kind"] == "remote" and p["status"] == "deleted" for p in ts["purged"]), ts["purged"]
    rel = loads_strict((root / "releases/us/1.0.0.json").read_bytes())["signed"]
    assert rel["status"] == "unreproducible" and "licence withdrawn" in rel["notice"]["summary"]
    assert [h["status"] for h in rel["status_history"]].count("unreproducible") == 1  # re-signed once
    assert run(["git", "status", "--porcelain", "tombstones", "releases"], cwd=root).stdout == ""
    assert set(_violations(root)) == {"channels/us/latest.json", "channels/us/next.json"}
    fs = fsck_json(root, store.env)
    assert fs["ok"] and fs["findings"] == [], fs
    assert_remote_objects_right(store.storage)
    _refuses(store, probe_cache, ts)


@pytest.mark.parametrize("seed", SEEDS)
def test_revoke_purge_killed_at_random_then_rerun(store_template, tmp_path, seed):
    store, people, places = _revoke_store(store_template, tmp_path)
    root = store.root
    delay = random.Random(seed).uniform(0.05, 0.9)  # a whole run takes about 1 s
    killed = kill_after(spawn(REVOKE, root, store.env), delay)

    assert_documents_whole(root)
    assert_remote_objects_right(store.storage)
    assert_remote_objects_right(root / ".dvc" / "cache")
    assert_cache_objects_right(places["resolver-cache"].parents[2])
    _assert_revoke_state_truthful(store, people, places, tmp_path / "probe")

    # Re-running the same command completes the purge and its record.
    res = run_pedata(*REVOKE, "--json", cwd=root, env=store.env)
    assert res.ok, (killed, delay, res.stderr)
    _assert_revoke_complete(store, people, places, tmp_path / "probe", killed)


# The random delays rarely land in the few milliseconds between two steps near the end, so a
# `git` shim first on PATH SIGKILLs revoke (its parent) exactly when it runs one git step:
# the release just re-signed but not yet staged, or everything staged but not committed.
GIT_SHIM = """#!/bin/sh
case " $* " in *" $PEDATA_KILL_AT "*) kill -9 $PPID; exit 1;; esac
exec {git} "$@"
"""


@pytest.mark.parametrize("kill_at", ["add -- releases/us/1.0.0.json", "commit -q -m"])
def test_revoke_purge_killed_between_steps_then_rerun(store_template, tmp_path, kill_at):
    store, people, places = _revoke_store(store_template, tmp_path)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "git").write_text(GIT_SHIM.format(git=shutil.which("git")))
    (shim / "git").chmod(0o755)
    env = {**store.env, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "PEDATA_KILL_AT": kill_at}
    proc = spawn(REVOKE, store.root, env)
    assert proc.wait(timeout=120) == -signal.SIGKILL
    assert_documents_whole(store.root)
    _assert_revoke_state_truthful(store, people, places, tmp_path / "probe")
    res = run_pedata(*REVOKE, "--json", cwd=store.root, env=store.env)
    assert res.ok, res.stderr
    _assert_revoke_complete(store, people, places, tmp_path / "probe", True)
