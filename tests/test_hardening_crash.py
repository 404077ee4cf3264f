"""Crash safety: SIGKILL ``pedata publish``, ``promote``, ``get`` and ``revoke --purge`` mid-work,
at seeded random moments (``PEDATA_CRASH_KILLS=N`` runs N kills per command instead of the default).

Kills are aimed, not left to chance. Each command has *milestones*: observable steps of its work
(the DVC push has begun, the manifest exists, the promote branch exists, the remote object is
gone, ...). One uncrashed run of the same command, watched, says when each milestone appears and
how long until the next one (:class:`Timeline`). Seed ``i`` then picks milestone ``i`` (round
robin), waits in the killed run until that milestone is observed, and SIGKILLs after a random
delay drawn from the measured window up to the next milestone. Process start-up (imports) is
never the target, and each test asserts that most kills landed while the command was still working.

After every kill: no JSON document is truncated (every ``*.json`` under ``channels/ releases/
tombstones/ manifests/ trust/`` parses; manifests sit under their own sha256), no object sits under
a wrong name (DVC remote, resolver cache), ``pedata verify`` and ``pedata fsck`` describe the state
as it is (run side by side: both only read; verify names each temporary file a killed writer left
in a document folder, and nothing else unless the command's half-done state is itself a finding),
and re-running the command completes the work, ending where an uncrashed run ends (byte-identical
documents where they are deterministic, the same files staged, no temporary file left).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import stores as store_helpers
from support.checks import assert_cache_objects_right, verify_ok
from support.commands import dvc_cmd, run, run_pedata
from support.resolve import GEN, build_registry, sha256_of
from support.stores import Store

from dvc_pedata.base.atomic import TMP_PREFIX
from dvc_pedata.model.canonical import loads_strict

pytestmark = pytest.mark.slow  # crash tests: `pytest -m 'not slow'` is the fast lane

DOC_DIRS = ("manifests", "channels", "releases", "tombstones", "trust")
POLL = 0.002  # seconds between milestone checks
MIN_LANDED = 0.6  # at least this share of kills must hit a running command


def kills(default: int) -> range:
    return range(int(os.environ.get("PEDATA_CRASH_KILLS") or default))


store_template = store_helpers.store_template  # fixture (a published, promoted, certified registry)


# -- killing ------------------------------------------------------------------------------------------
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
        return proc.returncode == -signal.SIGKILL


@dataclass(frozen=True)
class Milestone:
    """An observable step of a command's work; ``reached`` stays true once it is."""

    name: str
    reached: Callable[[], bool]


@dataclass
class Timeline:
    """When each milestone appeared in an uncrashed run (seconds after spawn), and its end."""

    names: list[str]
    at: list[float]
    end: float

    def window(self, i: int) -> float:
        """How long milestone ``i`` lasts: until the next one (or the end of the run)."""
        nxt = self.at[i + 1] if i + 1 < len(self.at) else self.end
        return max(nxt - self.at[i], 0.002)


def measure(args: list[str], cwd: Path, env: dict[str, str], milestones: list[Milestone]) -> Timeline:
    """Run the command to its end, watching; every milestone must be observed."""
    proc = spawn(args, cwd, env)
    t0 = time.monotonic()
    seen: dict[str, float] = {}
    while True:
        done = proc.poll() is not None
        for m in milestones:
            if m.name not in seen and m.reached():
                seen[m.name] = time.monotonic() - t0
        if done:
            break
        time.sleep(POLL)
    end = time.monotonic() - t0
    assert proc.returncode == 0, (args, proc.returncode)
    assert [m.name for m in milestones if m.name not in seen] == []
    return Timeline([m.name for m in milestones], [seen[m.name] for m in milestones], end)


@dataclass
class Kill:
    seed: int
    milestone: str
    delay: float
    landed: bool  # the command was still running when SIGKILL came (after its milestone)

    def __str__(self) -> str:
        return f"seed {self.seed}: {'killed' if self.landed else 'finished before the kill'} {self.delay * 1000:.0f} ms after '{self.milestone}'"


def kill_at(seed: int, args: list[str], cwd: Path, env: dict[str, str], milestones: list[Milestone], timeline: Timeline) -> Kill:
    """Seed ``seed`` picks a milestone (round robin) and a delay within its measured window; the
    command is killed that long after the milestone is observed."""
    i = seed % len(milestones)
    delay = random.Random(seed).uniform(0, timeline.window(i))
    proc = spawn(args, cwd, env)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not milestones[i].reached():
        assert time.monotonic() < deadline, f"'{milestones[i].name}' never reached"
        time.sleep(POLL)
    landed = milestones[i].reached() and kill_after(proc, delay)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return Kill(seed, milestones[i].name, delay, landed)


def assert_enough_landed(done: list[Kill], *must: str) -> None:
    """Most kills hit a running command; and each milestone in ``must`` got at least one."""
    landed = [k for k in done if k.landed]
    report = "\n".join(map(str, done))
    print(report)  # shown with -s / -rP: where every kill landed
    assert len(landed) >= max(1, math.ceil(MIN_LANDED * len(done))), report
    for name in must:
        assert any(k.milestone == name for k in landed), (name, report)


# -- what must hold after a kill -------------------------------------------------------------------
def assert_documents_whole(repo: Path) -> None:
    """Every registry JSON document parses; every manifest is stored under its own sha256."""
    for top in DOC_DIRS:
        for p in (repo / top).rglob("*.json"):
            doc = loads_strict(p.read_bytes(), source=str(p))  # raises on a truncated file
            if top == "manifests" and not p.name.endswith(".files.json"):
                assert p.stem == doc["digest"]["sha256"], p


def assert_remote_objects_right(storage: Path) -> None:
    """Every object in a local DVC remote or cache hashes to its name (temp files are not objects)."""
    for p in (storage / "files" / "md5").rglob("*"):
        if p.is_file() and len(p.parent.name) == 2 and len(p.name) == 30:
            assert hashlib.md5(p.read_bytes()).hexdigest() == p.parent.name + p.name, p




def temps_left(repo: Path) -> set[str]:
    """Temporary files a killed writer left in the document folders (not documents: never parsed)."""
    return {p.relative_to(repo).as_posix() for top in DOC_DIRS for p in (repo / top).rglob(f"{TMP_PREFIX}*")}


def assert_verify_truthful(repo: Path, verify: dict, expected: set[str] = frozenset()) -> None:
    """``verify`` reports exactly the leftover temporary files and the ``expected`` files, nothing else."""
    temps = temps_left(repo)
    reported = {v["file"] for v in verify["violations"] if "temporary file left by an interrupted pedata write" in v["reason"]}
    assert reported == temps, (reported, temps)
    others = {v["file"] for v in verify["violations"]} - temps
    assert others == set(expected), verify["violations"]
    assert verify["ok"] == (not temps and not expected)


def _report(name: str, proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1) and out, (name, proc.returncode, err)
    data = json.loads(out)
    assert (proc.returncode == 0) == data["ok"], (name, out)
    return data


def verify_and_fsck(repo: Path, env: dict[str, str] | None = None) -> tuple[dict, dict]:
    """``pedata verify --json`` and ``pedata fsck --json``, side by side (both only read)."""
    procs = [subprocess.Popen([sys.executable, "-m", "dvc_pedata", cmd, "--json"], cwd=repo, env={**os.environ, **(env or {})},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in ("verify", "fsck")]
    return _report("verify", procs[0]), _report("fsck", procs[1])




def fsck_json(repo: Path, env: dict[str, str] | None = None) -> dict:
    res = run_pedata("fsck", "--json", cwd=repo, env=env)
    assert res.returncode in (0, 1) and res.stdout, res.stderr
    data = json.loads(res.stdout)
    assert res.ok == data["ok"], (res.returncode, res.stdout)
    return data


def _exists(path: Path) -> Callable[[], bool]:
    return path.exists


def _gone(path: Path) -> Callable[[], bool]:
    return lambda: not path.exists()


def _any_file(folder: Path, pattern: str = "*") -> Callable[[], bool]:
    return lambda: folder.is_dir() and any(p.is_file() for p in folder.rglob(pattern))


# -- publish ---------------------------------------------------------------------------------------
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
    # locked first: publish would record the locks itself, with the time of each run in
    # retrieved_at, and every killed-and-rerun copy must end with the reference run's bytes
    assert run_pedata("lock", cwd=repo, env=env).ok
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "pipeline"], cwd=repo)
    return repo


def _copy_registry(template: Path, dest: Path) -> tuple[Path, Path]:
    """A copy of ``template`` with its own (empty) local remote."""
    shutil.copytree(template, dest / "repo", symlinks=True)
    storage = dest / "storage"
    storage.mkdir()
    cfg = dest / "repo" / ".dvc" / "config.local"  # where `pedata init` keeps a machine-local remote
    text = cfg.read_text()
    old = next(line.split("=", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("url"))
    cfg.write_text(text.replace(old, str(storage)))
    return dest / "repo", storage


def _publish_milestones(repo: Path, storage: Path) -> list[Milestone]:
    md5 = hashlib.md5((repo / "people.bin").read_bytes()).hexdigest()
    return [
        Milestone("push began", _exists(storage / "files")),
        Milestone("object pushed", _exists(storage / "files" / "md5" / md5[:2] / md5[2:])),
        Milestone("manifest written", _any_file(repo / "manifests" / "us" / "people", "*.json")),
        Milestone("latest written", _exists(repo / "channels/us/latest.json")),
    ]


@pytest.fixture(scope="module")
def publish_run(unpublished, tmp_path_factory) -> tuple[Timeline, bytes, str]:
    """An uncrashed publish, watched: its timeline, the channel it wrote and what it staged."""
    repo, storage = _copy_registry(unpublished, tmp_path_factory.mktemp("publish-measured"))
    timeline = measure(["publish"], repo, {}, _publish_milestones(repo, storage))
    staged = run(["git", "diff", "--cached", "--name-only"], cwd=repo).stdout
    return timeline, (repo / "channels/us/latest.json").read_bytes(), staged


def test_publish_killed_mid_work_then_rerun_completes(unpublished, publish_run, tmp_path):
    timeline, reference, staged = publish_run
    done = []
    for seed in kills(4):
        repo, storage = _copy_registry(unpublished, tmp_path / f"seed-{seed}")
        milestones = _publish_milestones(repo, storage)
        k = kill_at(seed, ["publish"], repo, {}, milestones, timeline)
        done.append(k)

        assert_documents_whole(repo)
        assert_remote_objects_right(storage)
        assert_cache_objects_right(Path(os.environ["PEDATA_CACHE_DIR"]))
        latest = repo / "channels/us/latest.json"
        if latest.exists():  # the channel moved: its bytes are already in the remote, its manifest exists
            assert milestones[1].reached() and milestones[2].reached(), k
        vf, fs = verify_and_fsck(repo)
        assert_verify_truthful(repo, vf)  # what was written so far is consistent: pins only name existing manifests
        assert fs["ok"] and fs["checked"] == (1 if latest.exists() else 0) and not fs["findings"], (str(k), fs)

        res = run_pedata("publish", "--json", cwd=repo)
        assert res.ok, (str(k), res.stderr)
        assert temps_left(repo) == set(), str(k)  # the re-run's writes removed what the killed one left
        assert latest.read_bytes() == reference, str(k)  # version 1, the same pin: as if never killed
        assert loads_strict(reference)["signed"]["artifacts"]["people"]["sha256"] == sha256_of(repo / "people.bin")
        assert run(["git", "diff", "--cached", "--name-only"], cwd=repo).stdout == staged, str(k)
        md5 = hashlib.md5((repo / "people.bin").read_bytes()).hexdigest()
        assert (storage / "files" / "md5" / md5[:2] / md5[2:]).is_file(), str(k)  # what fsck would check
        assert_remote_objects_right(storage)
        verify_ok(repo)
        shutil.rmtree(tmp_path / f"seed-{seed}")  # 12 MB a seed (work tree, DVC cache, remote)
    assert_enough_landed(done, "push began", "object pushed", "manifest written")


# -- get ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return build_registry(tmp_path_factory.mktemp("crash-get"), big_size=16 << 20)


def _get_milestones(published, cache: Path) -> list[Milestone]:
    folder = cache / "sha256" / published.big[:2]
    return [
        Milestone("download began", _any_file(folder, f"{TMP_PREFIX}*")),
        Milestone("object placed", _exists(folder / published.big[2:])),
    ]


@pytest.fixture(scope="module")
def get_run(published, tmp_path_factory) -> Timeline:
    base = tmp_path_factory.mktemp("get-measured")
    clone = published.clone(base / "clone")
    cache = base / "cache"
    return measure(["get", "pedata://us/big@latest"], clone, {"PEDATA_CACHE_DIR": str(cache)}, _get_milestones(published, cache))


def test_get_killed_mid_download_then_rerun_completes(published, get_run, tmp_path):
    clone = published.clone(tmp_path / "clone")
    done = []
    for seed in kills(6):  # cheap: no DVC import before the download
        cache = tmp_path / f"cache-{seed}"
        env = {"PEDATA_CACHE_DIR": str(cache)}
        milestones = _get_milestones(published, cache)
        k = kill_at(seed, ["get", "pedata://us/big@latest"], clone, env, milestones, get_run)
        done.append(k)

        assert_cache_objects_right(cache)  # a partial download never sits under a sha256 name
        vf, fs = verify_and_fsck(clone, env)  # a killed reader leaves the registry and its stores as they were
        assert_verify_truthful(clone, vf)
        assert fs["ok"] and fs["checked"] == 2 and not fs["findings"], (str(k), vf, fs)

        res = run_pedata("get", "pedata://us/big@latest", "--json", cwd=clone, env=env)
        assert res.ok, (str(k), res.stderr)
        path = Path(json.loads(res.stdout)["path"])
        assert path == cache / "sha256" / published.big[:2] / published.big[2:] and sha256_of(path) == published.big
        assert_cache_objects_right(cache)
        leftovers = [p for p in (cache / "sha256").rglob("*") if p.is_file() and p.name.startswith(TMP_PREFIX)]
        assert leftovers == [], str(k)  # the next resolver of that object cleans what the killed one left
        shutil.rmtree(cache)
    assert run(["git", "status", "--porcelain"], cwd=clone).stdout == ""
    assert_enough_landed(done, "download began")


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


PROMOTE = ["promote", "us", "--sign", "alice"]
BRANCH = "promote/us-next-v1"


def _promote_milestones(repo: Path) -> list[Milestone]:
    ref = repo / ".git" / "refs" / "heads" / BRANCH
    base = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    return [
        Milestone("branch made", ref.exists),
        Milestone("channel written", _exists(repo / "channels/us/next.json")),
        Milestone("committed", lambda: ref.exists() and ref.read_text().strip() not in ("", base)),
    ]


@pytest.fixture(scope="module")
def promote_run(promotable, tmp_path_factory) -> tuple[Timeline, bytes]:
    template, keys = promotable
    repo = tmp_path_factory.mktemp("promote-measured") / "repo"
    shutil.copytree(template, repo, symlinks=True)
    timeline = measure(PROMOTE, repo, {"PEDATA_KEYS_DIR": str(keys)}, _promote_milestones(repo))
    return timeline, (repo / "channels/us/next.json").read_bytes()


def test_promote_killed_mid_work_then_rerun_completes(promotable, promote_run, tmp_path):
    template, keys = promotable
    timeline, reference = promote_run
    env = {"PEDATA_KEYS_DIR": str(keys)}
    done = []
    for seed in kills(6):  # cheap: a promotion is git and a signature
        repo = tmp_path / f"repo-{seed}"
        shutil.copytree(template, repo, symlinks=True)
        milestones = _promote_milestones(repo)
        k = kill_at(seed, PROMOTE, repo, env, milestones, timeline)
        done.append(k)

        assert_documents_whole(repo)
        nxt = repo / "channels/us/next.json"
        if nxt.exists():  # written whole and signed, or not at all
            assert nxt.read_bytes() == reference, str(k)
        vf, fs = verify_and_fsck(repo)  # the stores are untouched by a promotion: fsck finds them whole
        assert_verify_truthful(repo, vf)
        assert fs["ok"] and fs["checked"] == 2 and not fs["findings"], (str(k), fs)
        committed = milestones[2].reached()

        # Re-running completes the work: one branch, one commit, one signed version 1 of `next`.
        res = run_pedata(*PROMOTE, "--json", cwd=repo, env=env)
        if committed:  # the killed run had finished its commit: nothing is left to do, and it says so
            assert not res.ok and "nothing to promote" in res.stderr, (str(k), res.stderr)
        else:
            assert res.ok, (str(k), res.stderr)
        assert nxt.read_bytes() == reference, str(k)
        assert temps_left(repo) == set(), str(k)
        assert run(["git", "status", "--porcelain", "channels"], cwd=repo).stdout == "", str(k)
        branches = run(["git", "branch", "--list", "promote/*", "--format=%(refname:short)"], cwd=repo).stdout.split()
        assert branches == [BRANCH], (str(k), branches)
        log = run(["git", "log", "--format=%s", BRANCH], cwd=repo).stdout
        assert log.count("Promote us") == 1, (str(k), log)
        verify_ok(repo)
        shutil.rmtree(repo)
    assert_enough_landed(done, "branch made", "channel written")


# -- revoke --purge ------------------------------------------------------------------------------
PEOPLE = "pedata://us/people"
REVOKE = ["revoke", f"{PEOPLE}@latest", "--reason", "licence withdrawn", "--authority", "US Census Bureau",
          "--sign", "alice", "--purge"]


def _violations(verify: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for v in verify["violations"]:
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
    verify, fs = verify_and_fsck(store.root, store.env)
    temps = temps_left(store.root)
    violations = {f: r for f, r in _violations(verify).items() if f not in temps}
    assert_verify_truthful(store.root, verify, set(violations))  # leftover temporary files are named, each
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


def _revoke_store(store_template, dest: Path) -> tuple[Store, str, dict[str, Path]]:
    """A private copy of the store whose ``people`` bytes sit in all four places a purge empties."""
    store = store_helpers.copy_store(*store_template, dest)
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


def _purge_recorded(tomb: Path) -> Callable[[], bool]:
    def reached() -> bool:
        try:
            return bool(loads_strict(tomb.read_bytes())["signed"]["purged"])
        except Exception:  # not there yet
            return False
    return reached


def _revoke_milestones(store: Store, people: str, places: dict[str, Path]) -> list[Milestone]:
    release = store.root / "releases/us/1.0.0.json"
    tomb = store.root / "tombstones" / f"{people}.json"
    return [
        Milestone("tombstone written", tomb.exists),
        Milestone("remote purged", _gone(places["remote"])),  # then the DVC cache and the work tree
        Milestone("resolver cache purged", _gone(places["resolver-cache"])),
        Milestone("purge recorded", _purge_recorded(tomb)),
        Milestone("release re-signed", lambda: b'"unreproducible"' in release.read_bytes()),
    ]


def _assert_revoke_complete(store: Store, people: str, places: dict[str, Path], probe_cache: Path, killed: bool,
                            full: bool = True) -> None:
    """After a re-run: bytes gone everywhere, one tombstone with a full purge record, the release
    re-signed once and committed with it, verify and fsck saying exactly that."""
    root = store.root
    for where, path in places.items():
        assert not path.exists(), (where, path)
    tax = store.pin("tax")["sha256"]
    assert store.object(store.storage, tax).is_file() and (root / "tax.bin").is_file()
    left = sorted(p.name for p in (root / "tombstones").iterdir() if p.name != ".gitkeep")
    assert left == [f"{people}.json"]  # exactly one tombstone, no temp file left beside it
    assert temps_left(root) == set()
    ts = loads_strict((root / "tombstones" / f"{people}.json").read_bytes())["signed"]
    assert all(p["status"] in ("deleted", "absent") for p in ts["purged"]), ts["purged"]
    assert {"remote", "dvc-cache", "resolver-cache"} <= {p["kind"] for p in ts["purged"]}, ts["purged"]
    assert killed or any(p["kind"] == "remote" and p["status"] == "deleted" for p in ts["purged"]), ts["purged"]
    rel = loads_strict((root / "releases/us/1.0.0.json").read_bytes())["signed"]
    assert rel["status"] == "unreproducible" and "licence withdrawn" in rel["notice"]["summary"]
    assert [h["status"] for h in rel["status_history"]].count("unreproducible") == 1  # re-signed once
    assert run(["git", "status", "--porcelain", "tombstones", "releases"], cwd=root).stdout == ""
    res = run_pedata("verify", "--json", cwd=root)
    assert set(_violations(json.loads(res.stdout))) == {"channels/us/latest.json", "channels/us/next.json"}
    if full:  # fsck: nothing revoked is left in any store (after a kill, the places above say so)
        fs = fsck_json(root, store.env)
        assert fs["ok"] and fs["findings"] == [], fs
    assert_remote_objects_right(store.storage)
    _refuses(store, probe_cache, ts)


@pytest.fixture(scope="module")
def revoke_run(store_template, tmp_path_factory) -> Timeline:
    dest = tmp_path_factory.mktemp("revoke-measured")
    with pytest.MonkeyPatch.context() as mp:  # module scope: the per-test key and cache folders are not set yet
        mp.setenv("PEDATA_KEYS_DIR", str(dest / "keys"))
        mp.setenv("PEDATA_CACHE_DIR", str(dest / "cache"))
        store, people, places = _revoke_store(store_template, dest / "copy")
        return measure(REVOKE, store.root, store.env, _revoke_milestones(store, people, places))


def test_revoke_purge_killed_mid_work_then_rerun_completes(store_template, revoke_run, tmp_path):
    done = []
    for seed in kills(5):
        store, people, places = _revoke_store(store_template, tmp_path / f"copy-{seed}")
        k = kill_at(seed, REVOKE, store.root, store.env, _revoke_milestones(store, people, places), revoke_run)
        done.append(k)

        assert_documents_whole(store.root)
        assert_remote_objects_right(store.storage)
        assert_remote_objects_right(store.root / ".dvc" / "cache")
        assert_cache_objects_right(places["resolver-cache"].parents[2])
        _assert_revoke_state_truthful(store, people, places, tmp_path / f"probe-{seed}")

        # Re-running the same command completes the purge and its record.
        res = run_pedata(*REVOKE, "--json", cwd=store.root, env=store.env)
        assert res.ok, (str(k), res.stderr)
        _assert_revoke_complete(store, people, places, tmp_path / f"probe-{seed}", k.landed, full=False)
        shutil.rmtree(tmp_path / f"copy-{seed}")
    assert_enough_landed(done, "remote purged", "resolver cache purged", "purge recorded")


# Between two steps near the end (a few milliseconds apart) a `git` shim first on PATH SIGKILLs
# revoke (its parent) exactly when it runs one git step: the release just re-signed but not yet
# staged, or everything staged but not committed.
GIT_SHIM = """#!/bin/sh
case " $* " in *" $PEDATA_KILL_AT "*) kill -9 $PPID; exit 1;; esac
exec {git} "$@"
"""


@pytest.mark.parametrize("kill_at_step", ["add -- releases/us/1.0.0.json", "commit -q -m"])
def test_revoke_purge_killed_between_steps_then_rerun(store_template, tmp_path, kill_at_step):
    store, people, places = _revoke_store(store_template, tmp_path / "copy")
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "git").write_text(GIT_SHIM.format(git=shutil.which("git")))
    (shim / "git").chmod(0o755)
    env = {**store.env, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}", "PEDATA_KILL_AT": kill_at_step}
    proc = spawn(REVOKE, store.root, env)
    assert proc.wait(timeout=120) == -signal.SIGKILL
    assert_documents_whole(store.root)
    _assert_revoke_state_truthful(store, people, places, tmp_path / "probe")
    res = run_pedata(*REVOKE, "--json", cwd=store.root, env=store.env)
    assert res.ok, res.stderr
    _assert_revoke_complete(store, people, places, tmp_path / "probe", True)
