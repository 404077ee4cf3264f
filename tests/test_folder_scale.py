"""A folder of many small files: published with its sha256 pass beside the push, fetched in
batches made durable by one filesystem sync each; what a user sees stays exact.

The folder is 1,500 files (above the inline limit, so the listing is its own ``.files.json``) in
30 sub-folders, ``dvc add``-ed and declared as an artifact, published with the real CLI to a
local DVC remote and fetched into an empty resolver cache from a fresh clone.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.commands import dvc_cmd, run, run_pedata

FILES = 1500


def write_folder(folder: Path, seed: int = 1) -> dict[str, bytes]:
    rng = random.Random(seed)
    out = {}
    for i in range(FILES):
        rel = f"region{i % 30:02d}/part{i:05d}.bin"
        data = rng.randbytes(rng.randint(1, 3000))
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
        out[rel] = data
    return out


@pytest.fixture
def registry(tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    env = {"PEDATA_STORAGE_DIR": str(tmp_path / "storage"), "PEDATA_CACHE_DIR": str(tmp_path / "publisher-cache")}
    run(["git", "init", "-q", "-b", "main"], cwd=origin)
    # clones fetch the bytes: the folder is declared the shared remote (init's default is machine-local)
    assert run_pedata("init", "-n", "us", "--remote", str(tmp_path / "storage" / "origin"), cwd=origin, env=env).ok
    (origin / "dvc.yaml").write_text("artifacts:\n  areas:\n    path: areas\n    type: dataset\n    meta: {pedata: {namespace: us}}\n")
    files = write_folder(origin / "areas")
    run([*dvc_cmd(), "add", "-q", "areas"], cwd=origin)
    return origin, env, files


def publish(origin: Path, env: dict) -> dict:
    res = run_pedata("publish", "--json", "areas", cwd=origin, env=env)
    assert res.ok, res.stderr
    return json.loads(res.stdout)["artifacts"][0]


def published_clone(origin: Path, env: dict, tmp_path: Path) -> Path:
    """Publish the folder, commit, and clone the registry (a consumer's fresh checkout)."""
    publish(origin, env)
    run(["git", "add", "-A"], cwd=origin)
    run(["git", "commit", "-qm", "publish"], cwd=origin)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], cwd=tmp_path)
    return clone


def test_publish_hashes_each_file_once_and_remembers_all_of_them(registry):
    origin, env, files = registry
    first = publish(origin, env)
    assert first["rehashed"] and first["manifest_created"] and first["size"] == sum(map(len, files.values()))
    manifest = json.loads((origin / first["manifest"]).read_text())
    listing = json.loads((origin / "manifests/us/areas" / manifest["files"]["sidecar"]).read_bytes())
    assert {e["path"]: e["sha256"] for e in listing} == {r: hashlib.sha256(d).hexdigest() for r, d in files.items()}
    again = publish(origin, env)  # every file answered by the memo, read in one query
    assert (again["rehashed"], again["manifest_created"], again["sha256"]) == (False, False, first["sha256"])
    p = origin / "areas/region07/part00007.bin"  # same bytes, new mtime: that file alone is read again
    data = p.read_bytes()
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    assert p.read_bytes() == data
    third = publish(origin, env)
    assert (third["rehashed"], third["manifest_created"], third["sha256"]) == (True, False, first["sha256"])


def test_cold_get_of_the_folder_stores_verified_read_only_objects_and_no_temp_files(registry, tmp_path):
    origin, env, files = registry
    clone = published_clone(origin, env, tmp_path)
    cache = tmp_path / "cache"
    res = run_pedata("get", "pedata://us/areas@latest", cwd=clone, env={"PEDATA_CACHE_DIR": str(cache)})
    assert res.ok, res.stderr
    tree = Path(res.stdout.strip().splitlines()[-1])
    got = {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    assert got == files
    objects = [p for p in (cache / "sha256").rglob("*") if p.is_file()]
    assert len(objects) == len({hashlib.sha256(d).hexdigest() for d in files.values()})
    assert all(p.stat().st_mode & 0o777 == 0o444 for p in objects)
    assert all(hashlib.sha256(p.read_bytes()).hexdigest() == p.parent.name + p.name for p in objects)
    assert not [p for p in cache.rglob(".pedata-tmp-*")]
    again = run_pedata("get", "pedata://us/areas@latest", cwd=clone, env={"PEDATA_CACHE_DIR": str(cache)})
    assert again.ok and again.stdout == res.stdout


def test_a_killed_gets_temp_files_are_removed_by_the_next_get_and_no_other(registry, tmp_path):
    """A killed get leaves `.pedata-tmp-<sha256[2:14]>-<random>` beside the objects it was
    writing. The next get of the folder removes those of the objects it fetches; a temp file of
    an object it does not fetch may be another resolver's, writing right now, and is kept."""
    origin, env, files = registry
    clone = published_clone(origin, env, tmp_path)
    cache = tmp_path / "cache"
    shas = sorted({hashlib.sha256(d).hexdigest() for d in files.values()})
    killed = [cache / "sha256" / s[:2] / f".pedata-tmp-{s[2:14]}-k{i}ll3d" for i, s in enumerate(shas[:40])]
    other = "ab" + "c" * 62  # no file of the folder has these bytes
    assert other not in shas
    live = cache / "sha256" / other[:2] / f".pedata-tmp-{other[2:14]}-l1ve"
    for p in [*killed, live]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"half an object")
    res = run_pedata("get", "pedata://us/areas@latest", cwd=clone, env={"PEDATA_CACHE_DIR": str(cache)})
    assert res.ok, res.stderr
    assert [p for p in cache.rglob(".pedata-tmp-*")] == [live]
    tree = Path(res.stdout.strip().splitlines()[-1])
    assert {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()} == files


def _first_object(cache: Path) -> bool:
    """True once the get has published one object (not a temp file) under ``cache``."""
    try:
        folders = list(os.scandir(cache / "sha256"))
    except FileNotFoundError:
        return False
    return any(not e.name.startswith(".pedata-tmp-") for f in folders if f.is_dir() for e in os.scandir(f.path))


def test_two_gets_of_the_folder_in_one_checkout_at_once(registry, tmp_path):
    """Two gets of the folder in one checkout at once, each into its own cache: the second runs
    to the end while the first is stopped mid-fetch (SIGSTOP), holding what it holds then (DVC's
    data index of this checkout, opened by its fetch threads; its own object locks)."""
    origin, env, files = registry
    clone = published_clone(origin, env, tmp_path)
    first_cache, second_cache = tmp_path / "cache-1", tmp_path / "cache-2"
    first = subprocess.Popen([sys.executable, "-m", "dvc_pedata", "get", "pedata://us/areas@latest"], cwd=clone,
                             env={**os.environ, "PEDATA_CACHE_DIR": str(first_cache)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _first_object(first_cache) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        os.kill(first.pid, signal.SIGSTOP)
        assert first.poll() is None, "the first get ended before it could be stopped mid-fetch"
        assert len([p for p in (first_cache / "sha256").rglob("*") if p.is_file()]) < len(files)

        second = run_pedata("get", "pedata://us/areas@latest", cwd=clone, env={"PEDATA_CACHE_DIR": str(second_cache)})
        assert second.ok, second.stderr
        tree = Path(second.stdout.strip().splitlines()[-1])
        assert {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()} == files
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert Path(out.strip().splitlines()[-1]).name == tree.name
