"""``pedata publish``: register the artifacts a DVC pipeline produced.

Order matters for crash safety: everything is checked (DVC's records, every file described, the
current inputs lock parsed) before anything is written; then bytes are pushed to the remote; then
the locks are written, then manifests are created, then channel ``latest`` moves. A failure after
the push leaves only objects in the remote that nothing names (and, for a big folder, blobs in
git's object store that nothing names: its listing and inputs lock go there beside the push, so
the ``git add`` after it only hashes them; ``git gc`` prunes them).

One check comes after the push, still before any write: a folder's bytes against DVC's listing.
The hash pass reads every file's md5 with its sha256, so the worker compares the bytes themselves
(not DVC's status, which walks the folder through its state database: 1.7 s at 50,000 files, all
of it before the push could start). A changed folder is refused then; the push had sent only the
objects DVC's record names, which nothing in the registry names: the state a crash after the push
leaves. A file beyond the listing (``.dvcignore`` may hide it from DVC) is DVC's to judge.

One worker thread does the reading meanwhile, with no DVC: the lock files (``recordlocks.py``: the
raw inputs hashed with md5, the environment) from the start of the checks, then, while the push
runs, the sha256 pass (a folder that is also a raw input is read once, by the lock step; thousands
of small files are hashed in a child process, see ``HashState.hash_many``) and the manifests of
new bytes, in memory. A refusal stops it (``hashing.Stop``) instead of waiting for it.

Any Python the worker runs costs the push about as much wall time: a thread coming back from a
syscall (the push makes a dozen per file) waits for the busy one to drop the GIL (the "convoy"
effect; a shorter switch interval did not help in a two-thread test). So the worker's per-file Python is
kept in C where it can be (the inputs lock's entries in one encoder call, paths by one regex),
and the cyclic collector is off for the publish (``_no_cycle_collection``).

A crash at any point leaves either the old state or a state in which every pin has its bytes in
the remote and its manifest in place. Publishing the same bytes again changes nothing.

Revoked bytes are refused before the push (``revoked_guard``): a purge followed by ``dvc repro``
rebuilds the very object the purge deleted, and pushing it would undo the revocation. A folder is
refused when any file in it is revoked (by its DVC md5 or its sha256), even when the folder is new.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic, gitio
from dvc_pedata.base.hashing import HashState, Stop, Stopped
from dvc_pedata.base.progress import bar
from dvc_pedata.errors import DocumentError, NotFoundError, PedataError
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.names import LATEST, check_name
from dvc_pedata.publish.channels import advance, pin_of
from dvc_pedata.publish.dirmanifest import (
    INLINE_LIMIT,
    finish_directory_manifest,
    hash_directory,
    listing_difference,
    plan_directory,
    workspace_changes,
)
from dvc_pedata.publish.manifests import build_manifest, describe_file
from dvc_pedata.registry.lock import registry_lock
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.revoked import RevokedIndex, refuse_upload

_BLOB_AHEAD = 256 * 1024  # below this `git add` costs less than starting `git hash-object`

_REVOKED_HINT = ("nothing was pushed or written; change the build so it makes different bytes, "
                 "or publish the other artifacts by path (pedata publish PATH...)")


@dataclass
class Published:
    namespace: str
    name: str
    path: str
    sha256: str
    md5: str | None
    size: int
    manifest: str
    manifest_sha256: str
    manifest_created: bool
    rehashed: bool


@dataclass
class PublishResult:
    artifacts: list[Published] = field(default_factory=list)
    channels: dict[str, int] = field(default_factory=dict)  # ns -> new latest version (changed only)
    pushed: int = 0
    locks_written: list[str] = field(default_factory=list)  # lock files publish recorded (publish_locks.py)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"artifacts": [asdict(a) for a in self.artifacts], "channels": self.channels, "pushed": self.pushed,
                "locks_written": self.locks_written, "warnings": self.warnings}


@dataclass
class _Target:
    name: str
    path: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class FileDigestAt:
    path: str  # inside the folder
    sha256: str


@dataclass
class _Plan:
    t: _Target
    ns: str
    info: Any
    fd: Any  # FileDigest; None until a file that missed the memo is hashed
    cached: bool
    licence: str | None = None
    manifest: Any = None  # built only when no manifest exists for these bytes
    extra: dict[str, bytes] = field(default_factory=dict)
    exists: bool = False  # a manifest for these bytes is already in the registry (kept as it is)
    described: tuple[str, str, dict[str, Any]] | None = None
    directory: Any = None  # dirmanifest.DirectoryPlan of a folder out: described; hashed while the push runs
    revoked_files: list[FileDigestAt] = field(default_factory=list)  # a folder's files whose sha256 is revoked
    workspace: str | None = None  # a folder against DVC's listing, once hashed: "modified", "ask DVC" or None


def _pedata_meta(name: str, art: dict[str, Any]) -> dict[str, Any]:
    """``meta: {pedata: {...}}`` of a dvc.yaml artifact: a mapping, or a one-line error naming the file."""
    meta = art.get("meta") or {}
    value = meta.get("pedata") if isinstance(meta, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DocumentError(f"{art.get('dvcfile', 'dvc.yaml')}: artifact {name!r}: meta.pedata must be a mapping"
                            f" (namespace:, licence:, …), not {type(value).__name__} {value!r}")
    return dict(value)


def _targets(repo: Any, reg: Registry, paths: list[str]) -> list[_Target]:
    declared = repo.artifacts()
    by_path = {a["path"]: (name, a) for name, a in declared.items()}
    if not paths:
        if not declared:
            raise NotFoundError("nothing to publish: no paths given and dvc.yaml declares no artifacts")
        return [_Target(check_name(n, "artifact name"), a["path"], _pedata_meta(n, a)) for n, a in sorted(declared.items())]
    out = []
    for p in paths:
        abs_p = Path(p).resolve()
        if not abs_p.is_relative_to(reg.root):
            raise NotFoundError(f"{p} is outside the registry {reg.root}")
        rel = abs_p.relative_to(reg.root).as_posix()
        if rel in by_path:
            name, art = by_path[rel]
            out.append(_Target(check_name(name, "artifact name"), rel, _pedata_meta(name, art)))
        else:
            stem = Path(rel).name.split(".")[0]
            out.append(_Target(check_name(stem, "artifact name (from the file name)"), rel, {}))
    return out


@dataclass
class _Run:
    """One publish: the open DVC repo and hash memo, the checked plans, what was written."""

    reg: Registry
    repo: Any
    state: HashState
    head: str | None
    tombstones: RevokedIndex
    result: PublishResult
    plans: list[_Plan] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    stages: list[Any] = field(default_factory=list)  # the pipeline, read on the main thread (DVC)
    current_lock: Any = None  # recordlocks.CurrentLock: the inputs lock as found, already checked


def publish(
    paths: list[str] | None = None,
    namespace: str | None = None,
    root: Path | str = ".",
    *,
    push: bool = True,
    remote: str | None = None,
) -> PublishResult:
    """Publish the named outputs (or every artifact in dvc.yaml) and move channel ``latest``."""
    reg = Registry.find(root)
    from dvc_pedata.dvcio.pipeline import (
        pipeline_stages,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )
    from dvc_pedata.dvcio.repo import (
        DvcRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        dvc_errors,
    )
    from dvc_pedata.publish.recordlocks import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
        read_current,
        uncommitted,
    )

    result = PublishResult()
    # a broken dvc.yaml/dvc.lock is read lazily by DVC, wherever first needed: one line, naming it
    with _no_cycle_collection(), dvc_errors(), DvcRepo(reg.root) as repo, registry_lock(reg.state_dir), HashState(reg.state_dir / "hashes.db") as state:
        targets = _targets(repo, reg, list(paths or []))
        head = gitio.head(reg.root)
        # The locks as `pedata lock` would write them (recordlocks.py), for every manifest: a broken
        # inputs lock is refused here, before anything is pushed; the new bytes are computed while
        # the push runs and written after it.
        stages = pipeline_stages(reg.root, repo=repo, upstream=False)  # the stages, not their order
        current_lock = read_current(reg)
        dirty = uncommitted(reg, stages)
        if dirty:
            result.warnings.append(
                f"{', '.join(dirty)} differ from the last commit ({(head or 'none')[:10]}), which the manifests name as the "
                "recipe that built these bytes (producer.git_commit); commit the pipeline before publishing"
            )
        run = _Run(reg, repo, state, head, RevokedIndex(reg), result, stages=stages, current_lock=current_lock)
        # The worker thread starts on the locks (the raw inputs' hashes) while the checks run, and
        # goes on with the sha256 pass and the manifests while the push runs (_beside_the_push).
        with ThreadPoolExecutor(max_workers=1) as pool:
            stop, planned = Stop(), threading.Event()
            work = pool.submit(_beside_the_push, run, planned, stop)
            try:
                # 1. Check everything (metadata only: DVC's records, file footers) before writing anything.
                for t in targets:
                    run.plans.append(_plan_output(run, t, namespace))
            except BaseException:
                stop.set()  # a refusal does not wait for the hash pass
                raise
            finally:
                planned.set()
            # 2. Bytes to the remote first (a pin must never name bytes the remote lacks).
            lock_files = _push(run, push, remote, work)
        # 3. The lock files the manifests name, then 4. manifests (immutable), then 5. channel latest.
        result.locks_written = lock_files.write()
        run.written += result.locks_written
        pins = _write_manifests(run)
        _move_latest(run, pins)
        gitio.add(reg.root, run.written)
    return result


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector off for one publish (Mercurial's ``util.nogc`` does the same
    while it builds large containers).

    A 50,000-file folder makes about a million long-lived objects (DVC's index and push, the
    listing, the inputs lock); every full collection walks all of them, 13 of them in one publish:
    1.1-1.6 s, each holding the GIL that ``dvc push``'s thread needs after every syscall. The
    objects are not garbage and hold few cycles: peak RSS with the collector off was the same
    (262 against 260 MiB). Reference counting still frees everything else at once."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _plan_output(run: _Run, t: Any, namespace: str | None) -> _Plan:
    """Step 1 for one output: refuse what cannot be published, describe it; writes nothing."""
    reg, repo, state, tombstones = run.reg, run.repo, run.state, run.tombstones
    ns = reg.namespace(namespace or t.meta.get("namespace"))
    info = repo.out_info(t.path)
    if info.md5 is None:
        raise PedataError(f"{t.path} has no recorded hash yet: run 'dvc repro' (or 'dvc commit') first")
    if not (reg.root / t.path).exists():
        raise NotFoundError(f"{t.path} is missing from the workspace: run 'dvc pull' or 'dvc repro'")
    if not (info.is_dir and info.hash_name == "md5"):
        # A folder's status is not asked of DVC here: DVC walks it through its state database
        # (1.7 s at 50,000 files, all before the push could start), and the hash pass reads every
        # file's md5 anyway, so the worker compares the bytes themselves with DVC's listing while
        # the push runs (_beside_the_push); a change is refused in _push, before anything is written.
        _refuse_changed(t.path, info, repo.workspace_status(t.path))
    # DVC's md5 is known without hashing: refuse before anything is pushed or written.
    refuse_upload(tombstones, t.path, md5=info.md5, action="publish", hint=_REVOKED_HINT)
    licence = t.meta.get("licence", reg.config.get("licence"))
    if info.is_dir:  # a folder out: Merkle identity, per-file listing, layouts
        # a new folder can still hold a revoked file (one revoked with ;path=): its object would be pushed too
        listing = repo.dir_entries(info.md5)
        for rel, md5 in listing:
            refuse_upload(tombstones, f"{t.path}/{rel}", md5=md5, action="publish", hint=_REVOKED_HINT)
        unsure = False
        if info.hash_name == "md5":  # DVC was not asked (above): which files, here; their bytes, during the push
            missing, unsure = listing_difference(reg.root / t.path, [rel for rel, _ in listing])
            if missing:
                _refuse_changed(t.path, info, "modified")
        # every file described now (a corrupt one fails here); hashed in step 2, during the push
        plan = _Plan(t, ns, info, None, False, licence, directory=plan_directory(listing, reg.root, info, t.meta))
        plan.workspace = "ask DVC" if unsure else None
        return plan
    hit = state.lookup(reg.root / t.path)
    if hit is not None:
        refuse_upload(tombstones, t.path, sha256=hit.sha256, action="publish", hint=_REVOKED_HINT)
    plan = _Plan(t, ns, info, hit, hit is not None, licence)
    # Unchanged since hashed, and its manifest exists and is immutable: nothing to read
    # (a CSV's sidecar would be a full parse).
    plan.exists = hit is not None and reg.manifest_path(ns, t.name, hit.sha256).exists()
    if not plan.exists:
        plan.described = describe_file(reg.root / t.path, t.meta, limit=None)  # a corrupt file fails here, before any write
    return plan


def _refuse_changed(path: str, info: Any, status: str | None) -> None:
    if status is not None:
        record = info.dvcfile.removesuffix(".yaml") + ".lock" if info.stage else info.dvcfile
        raise PedataError(f"{path} is {status} since {record} was written: run 'dvc repro' or 'dvc commit' first")


def _push(run: _Run, push: bool, remote: str | None, work: Any) -> Any:
    """Step 2: push while the worker thread hashes what changed since last seen and builds the
    manifests of new bytes, in memory (it needs no DVC; hashlib releases the GIL and the push is
    mostly kernel I/O, so this costs little wall time); then the refusals by sha256. Returns the
    lock files to write (``recordlocks.Prepared``)."""
    reg, state, result = run.reg, run.state, run.result
    if work.done():
        work.result()  # the lock step already failed: say so before anything is pushed
    try:
        if push:
            result.pushed = run.repo.push([p.t.path for p in run.plans], remote=remote or reg.config.get("remote"))
    finally:
        done = work.result()
    assert done is not None  # only a refusal during the checks stops the worker
    lock_files, read_paths = done
    state.read_paths |= read_paths
    for p in run.plans:  # a folder's bytes against DVC's listing (the worker hashed them)
        if p.workspace == "modified":
            _refuse_changed(p.t.path, p.info, "modified")
        if p.workspace == "ask DVC":  # a file beyond the listing: .dvcignore is DVC's to apply
            _refuse_changed(p.t.path, p.info, run.repo.workspace_status(p.t.path))
    result.warnings += lock_files.warnings
    # the md5 checks kept revoked objects out of the push; a tombstone naming only a sha256 (of a
    # file, a folder, or one file in a folder) still stops the manifest and the channel
    for p in run.plans:
        refuse_upload(run.tombstones, p.t.path, sha256=p.fd.sha256, action="publish", hint=_REVOKED_HINT)
        for e in p.revoked_files:  # a folder's, found by the worker (it holds the digests)
            refuse_upload(run.tombstones, f"{p.t.path}/{e.path}", sha256=e.sha256, action="publish", hint=_REVOKED_HINT)
    return lock_files


def _beside_the_push(run: _Run, planned: threading.Event, stop: Stop) -> tuple[Any, set[str]] | None:
    """The worker thread: the lock step while the checks run, then, once they are done (``planned``),
    the sha256 pass and the manifests while DVC pushes. Needs no DVC.

    Its own memo connection (sqlite connections stay on their thread). The lock step comes first:
    a folder or file that is also a raw input is read there, with md5, and is a memo hit after.
    Returns the lock files and the paths whose bytes were read in this run; None when ``stop``
    (a refusal) ended it early."""
    from dvc_pedata.publish.recordlocks import (
        prepare,  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
    )

    reg = run.reg
    inline = int(reg.config.get("directory_inline_files", INLINE_LIMIT))
    with HashState(run.state.db_path) as st:
        try:
            lock_files = prepare(reg, run.stages, st, run.current_lock, stop=stop)
        except Stopped:
            return None
        planned.wait()
        if stop.is_set():
            return None
        misses = [p for p in run.plans if p.fd is None and p.directory is None]
        for p in run.plans:
            if p.directory is None:
                continue
            digests, cached = hash_directory(p.directory, st)
            if p.info.hash_name == "md5" and workspace_changes(p.directory, digests):
                p.workspace = "modified"  # refused after the push (_push), before any write
                continue
            # files the lock step read in this run (a `dvc add`ed folder is also a raw input) count as read
            folder = str(p.directory.folder.resolve())  # hash_many's keys: the folder resolved once, then each rel
            cached = cached and not any(f"{folder}/{r}" in st.read_paths for r in p.directory.rels)
            p.manifest, p.fd, p.cached, p.extra = finish_directory_manifest(
                p.directory, digests, cached, root=reg.root, namespace=p.ns, name=p.t.name, git_commit=run.head,
                licence=p.licence, inline_limit=inline, locks=lock_files.state,
            )
            p.revoked_files = [FileDigestAt(e.path, digests[e.path].sha256) for e in p.directory.described
                               if run.tombstones.find(sha256=digests[e.path].sha256)]  # read-only, loaded up front
            p.directory = None  # 50,000 described entries need not live through the rest of the push
        with bar("sha256", sum(p.info.size or 0 for p in misses) or None) as advance_bar:
            for p in misses:
                p.fd, cached = st.hash_file(reg.root / p.t.path, progress=advance_bar)
                p.cached = cached and str((reg.root / p.t.path).resolve()) not in st.read_paths
        for p in run.plans:
            if p.workspace == "modified":
                continue  # refused after the push (_push): no manifest of bytes DVC did not record
            p.exists = p.exists or reg.manifest_path(p.ns, p.t.name, p.fd.sha256).exists()
            if p.manifest is None and not p.exists:
                p.manifest, p.extra = build_manifest(
                    root=reg.root, namespace=p.ns, name=p.t.name, out=p.info, file_digest=p.fd,
                    meta=p.t.meta, git_commit=run.head, licence=p.licence, described=p.described,
                    locks=lock_files.state,
                )
        # A folder's listing and inputs lock are megabytes: git compresses them now, beside the
        # push, so the `git add` after it only hashes them (nothing in the work tree changes here).
        # A folder whose manifest exists keeps its listing as committed: nothing to store.
        for rel, data in [*lock_files.files.items(), *(kv for p in run.plans if not p.exists for kv in p.extra.items())]:
            if len(data) >= _BLOB_AHEAD:
                gitio.store_blob(reg.root, rel, data)
        return lock_files, st.read_paths


def _write_manifests(run: _Run) -> dict[str, dict[str, dict[str, Any]]]:
    """Step 3: manifests are immutable: an existing manifest for these bytes is kept as it is,
    with the companion files it names; a new one's companions are written before it."""
    reg = run.reg
    pins: dict[str, dict[str, dict[str, Any]]] = {}
    for p in run.plans:
        t, ns, fd = p.t, p.ns, p.fd
        mpath = reg.manifest_path(ns, t.name, fd.sha256)
        created = False
        manifest = p.manifest
        if not p.exists:
            for rel, data in sorted(p.extra.items()):  # a directory's file list, a wide table's field list
                atomic.create_exclusive(reg.root / rel, data)
                run.written.append(rel)
            created = atomic.create_exclusive(mpath, manifest.to_bytes())
        if not created:
            manifest = Manifest.load(mpath, reg.rel(mpath))
        run.written.append(reg.rel(mpath))
        pins.setdefault(ns, {})[t.name] = pin_of(fd.sha256, manifest.digest, fd.size)
        run.result.artifacts.append(
            Published(ns, t.name, t.path, fd.sha256, p.info.md5, fd.size, reg.rel(mpath), manifest.digest, created, not p.cached)
        )
    return pins


def _move_latest(run: _Run, pins: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Step 4: channel latest, one new version per namespace at most."""
    reg = run.reg
    for ns, arts in sorted(pins.items()):
        doc = advance(reg, ns, LATEST, arts)
        path = reg.channel_path(ns, LATEST)
        if doc is not None:
            doc.save(path)
            run.result.channels[ns] = doc.version
        # Staged even when unchanged: a run killed after writing it may not have staged it.
        run.written.append(reg.rel(path))


