"""``pedata publish``: register the artifacts a DVC pipeline produced.

Order matters for crash safety: everything is checked (DVC's records, every file described)
before anything is written; then bytes are pushed to the remote while the sha256 pass runs beside
the push (files and folders alike: hashlib releases the GIL), then manifests are created, then
channel ``latest`` moves. A hash failure after the push leaves only objects in the remote that
nothing names.
A crash at any point leaves either the old state or a state in which every pin has its bytes in
the remote and its manifest in place. Publishing the same bytes again changes nothing.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import atomic, gitio
from .channels import advance, pin_of
from .errors import NotFoundError, PedataError
from .hashing import HashState, hash_file
from .locking import registry_lock
from .manifest import build_manifest, describe_file, read_locks
from .names import check_name
from .progress import bar
from .registry import Registry

LATEST = "latest"


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

    def to_json(self) -> dict[str, Any]:
        return {"artifacts": [asdict(a) for a in self.artifacts], "channels": self.channels, "pushed": self.pushed}


@dataclass
class _Target:
    name: str
    path: str
    meta: dict[str, Any]


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


def _targets(repo: Any, reg: Registry, paths: list[str]) -> list[_Target]:
    declared = repo.artifacts()
    by_path = {a["path"]: (name, a) for name, a in declared.items()}
    if not paths:
        if not declared:
            raise NotFoundError("nothing to publish: no paths given and dvc.yaml declares no artifacts")
        return [_Target(check_name(n, "artifact name"), a["path"], dict(a["meta"].get("pedata") or {})) for n, a in sorted(declared.items())]
    out = []
    for p in paths:
        abs_p = Path(p).resolve()
        if not abs_p.is_relative_to(reg.root):
            raise NotFoundError(f"{p} is outside the registry {reg.root}")
        rel = abs_p.relative_to(reg.root).as_posix()
        if rel in by_path:
            name, art = by_path[rel]
            out.append(_Target(check_name(name, "artifact name"), rel, dict(art["meta"].get("pedata") or {})))
        else:
            stem = Path(rel).name.split(".")[0]
            out.append(_Target(check_name(stem, "artifact name (from the file name)"), rel, {}))
    return out


def _hash_stable(path: Path, progress: Any) -> tuple[Any, Any, Any]:
    """sha256 of ``path`` with its stat before and after (to memoise only a file that held still)."""
    before = os.stat(path)
    fd = hash_file(path, progress=progress)
    return fd, before, os.stat(path)


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
    from .dvcio import DvcRepo

    result = PublishResult()
    with DvcRepo(reg.root) as repo, registry_lock(reg.state_dir), HashState(reg.state_dir / "hashes.db") as state:
        targets = _targets(repo, reg, list(paths or []))
        head = gitio.head(reg.root)
        locks = read_locks(reg.root)  # once for every manifest; a broken inputs lock is refused here, before anything is pushed
        plans: list[_Plan] = []
        # 1. Check everything (metadata only: DVC's records, file footers) before writing anything.
        for t in targets:
            ns = reg.namespace(namespace or t.meta.get("namespace"))
            info = repo.out_info(t.path)
            if info.md5 is None:
                raise PedataError(f"{t.path} has no recorded hash yet: run 'dvc repro' (or 'dvc commit') first")
            if not (reg.root / t.path).exists():
                raise NotFoundError(f"{t.path} is missing from the workspace: run 'dvc pull' or 'dvc repro'")
            status = repo.workspace_status(t.path)
            if status is not None:
                record = info.dvcfile.removesuffix(".yaml") + ".lock" if info.stage else info.dvcfile
                raise PedataError(f"{t.path} is {status} since {record} was written: run 'dvc repro' or 'dvc commit' first")
            licence = t.meta.get("licence", reg.config.get("licence"))
            if info.is_dir:  # a folder out: Merkle identity, per-file listing, layouts
                from .dirmanifest import plan_directory

                # every file described now (a corrupt one fails here); hashed in step 2, during the push
                plans.append(_Plan(t, ns, info, None, False, licence, directory=plan_directory(repo, reg.root, info, t.meta)))
                continue
            hit = state.lookup(reg.root / t.path)
            plan = _Plan(t, ns, info, hit, hit is not None, licence)
            # Unchanged since hashed, and its manifest exists and is immutable: nothing to read
            # (a CSV's sidecar would be a full parse).
            plan.exists = hit is not None and reg.manifest_path(ns, t.name, hit.sha256).exists()
            if not plan.exists:
                plan.described = describe_file(reg.root / t.path, t.meta, limit=None)  # a corrupt file fails here, before any write
            plans.append(plan)
        # 2. Bytes to the remote first (a pin must never name bytes the remote lacks), while a
        #    worker thread hashes the files that changed since last seen: hashlib releases the GIL
        #    and the push is mostly kernel I/O, so the sha256 pass costs almost no wall time.
        #    A folder's files are hashed the same way, on every core, with their own memo connection.
        from .dirmanifest import INLINE_LIMIT, finish_directory_manifest, hash_directory

        misses = [p for p in plans if p.fd is None and p.directory is None]
        total = sum(p.info.size or 0 for p in misses)
        with bar("sha256", total or None) as advance_bar, ThreadPoolExecutor(max_workers=2) as pool:
            futures = [(p, pool.submit(_hash_stable, reg.root / p.t.path, advance_bar)) for p in misses]
            folders = [(p, pool.submit(hash_directory, p.directory, state.db_path)) for p in plans if p.directory is not None]
            try:
                if push:
                    result.pushed = repo.push([p.t.path for p in plans], remote=remote or reg.config.get("remote"))
            finally:
                hashed = [(p, f.result()) for p, f in futures]
                folder_digests = [(p, f.result()) for p, f in folders]
        inline = int(reg.config.get("directory_inline_files", INLINE_LIMIT))
        for p, (digests, cached) in folder_digests:
            p.manifest, p.fd, p.cached, p.extra = finish_directory_manifest(
                p.directory, digests, cached, root=reg.root, namespace=p.ns, name=p.t.name, git_commit=head,
                licence=p.licence, inline_limit=inline, locks=locks,
            )
            p.exists = reg.manifest_path(p.ns, p.t.name, p.fd.sha256).exists()
        for p, (fd, before, after) in hashed:
            p.fd = fd
            state.record_if_stable(reg.root / p.t.path, fd, before, after)
            p.exists = reg.manifest_path(p.ns, p.t.name, fd.sha256).exists()
        for p in plans:
            if p.manifest is None and not p.exists:
                p.manifest, p.extra = build_manifest(
                    root=reg.root, namespace=p.ns, name=p.t.name, out=p.info, file_digest=p.fd,
                    meta=p.t.meta, git_commit=head, licence=p.licence, described=p.described, locks=locks,
                )
        # 3. Manifests (immutable: an existing manifest for these bytes is kept as it is, with the
        #    companion files it names; a new one's companions are written before it).
        pins: dict[str, dict[str, dict[str, Any]]] = {}
        written: list[str] = []
        for p in plans:
            t, ns, fd = p.t, p.ns, p.fd
            mpath = reg.manifest_path(ns, t.name, fd.sha256)
            created = False
            manifest = p.manifest
            if not p.exists:
                for rel, data in sorted(p.extra.items()):  # a directory's file list, a wide table's field list
                    atomic.create_exclusive(reg.root / rel, data)
                    written.append(rel)
                created = atomic.create_exclusive(mpath, manifest.to_bytes())
            if not created:
                from .documents import Manifest

                manifest = Manifest.load(mpath, reg.rel(mpath))
            written.append(reg.rel(mpath))
            pins.setdefault(ns, {})[t.name] = pin_of(fd.sha256, manifest.digest, fd.size)
            result.artifacts.append(
                Published(ns, t.name, t.path, fd.sha256, p.info.md5, fd.size, reg.rel(mpath), manifest.digest, created, not p.cached)
            )
        # 4. Channel latest, one new version per namespace at most.
        for ns, arts in sorted(pins.items()):
            doc = advance(reg, ns, LATEST, arts)
            path = reg.channel_path(ns, LATEST)
            if doc is not None:
                doc.save(path)
                result.channels[ns] = doc.version
            # Staged even when unchanged: a run killed after writing it may not have staged it.
            written.append(reg.rel(path))
        gitio.add(reg.root, written)
    return result
