"""What ``publish`` checks and records about the recipe besides the bytes.

1. **The locks.** Every manifest names the sha256 of ``locks/inputs.manifest.json`` and
   ``locks/deps.lock.yaml``, and ``replay`` needs both at a release's commit. A registry built by
   ``dvc repro`` + ``pedata publish`` alone never ran ``pedata lock``, so publish records them itself
   when they are missing or stale, with exactly the bytes ``pedata lock`` would write
   (:func:`read_current` reads and checks the current inputs lock before anything is pushed, so a
   broken one is refused first; :func:`prepare` computes the new bytes while the push runs, on the
   hash thread; :meth:`Prepared.write` writes them after the push and its refusals, before the
   manifests, so a refused publish writes nothing).

   - inputs: rebuilt from the pipeline's raw inputs, hashed through publish's sha256 memo (an
     unchanged input is not read again); ``retrieved_at`` is kept for unchanged bytes, so an
     unchanged pipeline rewrites nothing. A raw input missing from the work tree (never pulled)
     leaves the current lock as it is, with a warning: the lock must describe bytes, not guesses.
   - environment: ``locks.environment()`` reads every installed distribution's RECORD (≈0.6 s for
     ~200 packages), so it is only recomputed when a cheap fingerprint changed: the interpreter and
     the names of the ``*.dist-info``/``*.egg-info`` folders on ``sys.path`` (they carry name and
     version), remembered with the lock's sha256 in ``.dvc/tmp/pedata/deps-lock.fingerprint``. A
     package reinstalled at the same version is not noticed here; ``pedata lock`` always is exact.
     When it is recomputed, a child interpreter does it (:func:`_environment_yaml`), off the GIL
     the push needs.

2. **Uncommitted recipe.** ``producer.git_commit`` is HEAD. When ``dvc.yaml``, ``dvc.lock``, a
   params file or a git-tracked dependency of the published stages differs from HEAD, that commit
   is not the recipe that built the bytes (and manifests are immutable): :func:`uncommitted` names
   the files, and publish warns.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic, gitio
from dvc_pedata.errors import NotFoundError
from dvc_pedata.model.canonical import pretty_bytes
from dvc_pedata.model.locks import load_inputs_lock
from dvc_pedata.publish.locks import (
    DEPS_LOCK,
    INPUTS_LOCK,
    build_inputs_lock,
    dump_yaml,
    environment,
)
from dvc_pedata.publish.manifests import LockState
from dvc_pedata.registry.repo import Registry

FINGERPRINT = "deps-lock.fingerprint"


@dataclass
class Prepared:
    """Lock bytes to write (only those that change) and the state every manifest takes from them."""

    root: Path
    files: dict[str, bytes]  # rel -> the bytes the lock file must hold (changed or missing ones only)
    state: LockState
    warnings: list[str] = field(default_factory=list)
    fingerprint: tuple[Path, str] | None = None  # where to remember the environment's fingerprint

    def write(self) -> list[str]:
        """Write the changed lock files (temp file + fsync + rename each); returns their paths."""
        for rel, data in sorted(self.files.items()):
            atomic.write_if_changed(self.root / rel, data)
        if self.fingerprint is not None:
            path, text = self.fingerprint
            atomic.write_if_changed(path, text.encode())
        return sorted(self.files)


def _env_fingerprint() -> str:
    names: list[str] = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                names += [e.name for e in it if e.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
    blob = json.dumps([sys.executable, platform.python_version(), sys.platform, sorted(names)])
    return hashlib.sha256(blob.encode()).hexdigest()


def _deps_bytes(reg: Registry) -> tuple[bytes | None, tuple[Path, str] | None]:
    """(new deps-lock bytes, or None when the current file is fresh; the fingerprint record to keep)."""
    path = reg.root / DEPS_LOCK
    memo = reg.state_dir / FINGERPRINT
    fp = _env_fingerprint()
    current = path.read_bytes() if path.is_file() else None
    current_sha = hashlib.sha256(current).hexdigest() if current is not None else None
    try:
        seen = json.loads(memo.read_text())
    except (OSError, ValueError):
        seen = {}
    if current_sha and isinstance(seen, dict) and seen.get("fingerprint") == fp and seen.get("sha256") == current_sha:
        return None, None
    data = _environment_yaml()
    record = json.dumps({"fingerprint": fp, "sha256": hashlib.sha256(data).hexdigest()}, sort_keys=True)
    return (None if data == current else data), (memo, record)


def _environment_yaml() -> bytes:
    """``dump_yaml(environment())``, computed by a child interpreter when one starts.

    Publish computes it on its worker thread while ``dvc push`` runs, and while that thread holds
    the GIL the push waits (the convoy, see ``publish.py``): reading 209 packages' metadata and
    ruamel.yaml's pure-Python writer held it 0.10-0.15 s of a 2-3 s push. The child is this
    interpreter with this ``sys.path`` (the same distributions, in the same order, so the same
    bytes); anything but a clean exit with output makes the caller compute it here."""
    code = ("import json, sys; sys.path[:] = json.loads(sys.stdin.read()); "
            "from dvc_pedata.publish.locks import dump_yaml, environment; "
            "sys.stdout.buffer.write(dump_yaml(environment()))")
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=json.dumps(sys.path).encode(),
                              capture_output=True, timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        proc = None
    if proc is not None and proc.returncode == 0 and proc.stdout:
        return proc.stdout
    return dump_yaml(environment())


@dataclass(frozen=True)
class CurrentLock:
    """The inputs lock as committed to the work tree: its bytes and parsed document (None: absent)."""

    data: bytes | None
    doc: dict[str, Any] | None


def read_current(reg: Registry) -> CurrentLock:
    """Read the current inputs lock; a broken one is refused here (one line naming it)."""
    path = reg.root / INPUTS_LOCK
    data = path.read_bytes() if path.is_file() else None
    return CurrentLock(data, load_inputs_lock(data) if data is not None else None)


def prepare(reg: Registry, stages: list[Any], state: Any, current: CurrentLock | None = None,
            stop: Any = None) -> Prepared:
    """The lock files as publish must record them (see the module docstring); nothing is written.

    Safe on any thread given its own ``state`` (a :class:`HashState` connection) and no DVC
    repository: ``stages`` were read beforehand. ``stop``: a :class:`hashing.Stop` that gives the
    raw inputs' hash pass up (raises :class:`hashing.Stopped`)."""
    current = current if current is not None else read_current(reg)
    files: dict[str, bytes] = {}
    warnings: list[str] = []
    inputs_bytes = current.data
    doc: dict[str, Any] | None = None
    try:
        doc = build_inputs_lock(reg, stages, reg.config.get("remote"), current.doc,
                                hasher=lambda root, rels: state.hash_many(root, rels, md5=True, label="inputs", stop=stop)[0])
    except NotFoundError as exc:
        warnings.append(f"{INPUTS_LOCK} not updated: {exc.message}")
    else:
        inputs_bytes = pretty_bytes(doc)
        if inputs_bytes != current.data:
            files[INPUTS_LOCK] = inputs_bytes
    deps_bytes, fingerprint = _deps_bytes(reg)
    if deps_bytes is not None:
        files[DEPS_LOCK] = deps_bytes
    deps_now = deps_bytes if deps_bytes is not None else ((reg.root / DEPS_LOCK).read_bytes() if (reg.root / DEPS_LOCK).is_file() else None)
    digests = {
        INPUTS_LOCK: hashlib.sha256(inputs_bytes).hexdigest() if inputs_bytes is not None else None,
        DEPS_LOCK: hashlib.sha256(deps_now).hexdigest() if deps_now is not None else None,
    }
    # (path, md5) -> sha256 of the lock the manifests will name: the one just built, else the current one
    lock_doc = doc if INPUTS_LOCK in files else current.doc
    raw = {(i["path"], i.get("md5")): i["sha256"] for i in (lock_doc or {}).get("inputs", [])}
    return Prepared(reg.root, files, LockState(raw, digests), warnings, fingerprint)


def uncommitted(reg: Registry, stages: list[Any]) -> list[str]:
    """The pipeline's recipe files that differ from HEAD (or are untracked): every stage's DVC file
    and lock, params files, and dependencies no stage produces (code; DVC-tracked data is ignored
    by git and so never listed). Upstream stages count: what built an input built the artifact."""
    produced: set[str] = {o["path"] for s in stages for o in s.outs}
    wanted: set[str] = set()
    for s in stages:
        wanted.add(s.dvcfile)
        if s.dvcfile.endswith((".yaml", ".yml")):
            wanted.add(str(Path(s.dvcfile).with_suffix(".lock").as_posix()))
        wanted.update(s.params)
        wanted.update(d["path"] for d in s.deps if d["path"] not in produced)
    if not wanted:
        return []
    existing = [p for p in sorted(wanted) if (reg.root / p).exists()]
    if not existing:
        return []
    out = gitio.git(reg.root, "status", "--porcelain", "--untracked-files=all", "--", *existing)
    changed = []
    for line in out.splitlines():
        name = line[3:].split(" -> ")[-1].strip('"')
        changed.append(name)
    return sorted(set(changed))
