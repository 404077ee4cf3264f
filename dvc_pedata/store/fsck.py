"""``pedata fsck``: prove what every store holds.

For each pinned, unrevoked artifact (channels and releases in the work tree) and each store, the
DVC object must exist with the pinned size, or with ``--deep`` hash to the pinned sha256 (DVC's
own ``verify`` is off for S3 and GCS, so a flipped byte would otherwise be pulled silently). For
each tombstone, the objects a purge deletes must be gone (:mod:`purgeplan`: for a directory
artifact its ``.dir`` listing and every member object no unrevoked artifact shares; for one file
of a folder its object): bytes still present are reported with the ``pedata revoke … --purge
--sign KEY`` command that finishes the purge (naming the local revoker keys); with ``--deep`` also
in the DVC cache and the resolver cache (objects, and cached trees holding them). A corrupt
object in a store other than the registry's remote is reported with ``pedata mirror --to STORE
--deep``, which replaces it. Every finding names the artifact's URI and the object's URL.

``--deep`` also re-checks the resolver's local cache (:mod:`cachecheck`): every object must hash
to its name and be read-only, every directory tree must match its listing. Cache findings have
``where: cache``, name the object by the URI that pins it in this registry (``sha256:<hex>`` if
none does; the cache is shared by every registry) and its file in the cache as ``url``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.errors import PedataError
from dvc_pedata.model.documents import Tombstone
from dvc_pedata.registry.repo import Registry
from dvc_pedata.resolver import cache
from dvc_pedata.resolver.cachecheck import verify_all
from dvc_pedata.store.pinset import declared_stores, folder_files, pinned, pinned_folders
from dvc_pedata.store.purgeplan import Manifests, plan, revoked_shas, trees_holding, work_outs


@dataclass
class Finding:
    problem: str  # missing | corrupt | revoked-present | unreachable; in the cache also writable | unreadable
    uri: str
    remote: str  # "" for the caches
    url: str  # the object's URL in the remote, or its path in the cache
    detail: str
    where: str = "remote"  # remote | cache (the resolver's) | dvc-cache (revoked-present only)

    def __str__(self) -> str:
        if self.where == "cache":
            return f"{self.problem}: {self.uri} in the resolver cache ({self.url}): {self.detail}"
        if self.where == "dvc-cache":
            return f"{self.problem}: {self.uri} in the DVC cache ({self.url}): {self.detail}"
        return f"{self.problem}: {self.uri} in remote {self.remote} ({self.url}): {self.detail}"


@dataclass
class FsckReport:
    remotes: list[str]
    deep: bool
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    cache: dict[str, Any] | None = None  # --deep: {dir, objects, trees, ok}

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "remotes": self.remotes, "deep": self.deep, "checked": self.checked,
                "cache": self.cache, "findings": [asdict(f) for f in self.findings]}


@dataclass
class FsckPlan:
    """What ``fsck`` checks, decided before any store is asked (no side effects)."""

    stores: list[str]
    source: str | None  # where `pedata mirror` copies from: a store other than it is repaired from it
    pins: list[Any]  # pinned artifacts (Pinned), revoked ones included (they are skipped per pin)
    folders: list[tuple[str, str, set[tuple[str, str]]]]  # (uri, .dir md5, files) of unrevoked folders
    revoked: list[tuple[Any, Any]]  # (tombstone, purge target) whose objects must be gone
    plans: list[tuple[Any, Any]]  # (tombstone, PurgePlan) for every tombstone
    purge_flags: str = ""
    purge_note: str = ""


def plan_fsck(reg: Registry, repo: Any, remote: str | None, namespace: str | None) -> FsckPlan:
    """Which stores, which objects, and which revoked objects ``fsck`` looks for."""
    pins = pinned(reg, namespace)
    tombstones = [Tombstone.load(path, reg.rel(path)) for path in reg.iter_tombstone_paths()]
    folders = []
    for ns, name, sha in pinned_folders(pins):
        if reg.load_tombstone(sha) is None:
            folders.append((f"pedata://{ns}/{name}@sha256:{sha}", *folder_files(reg, ns, name, sha)))
    configured = repo.remote_names()
    if remote is not None:
        repo.remote_url(remote)  # a one-line error for an unknown remote
        stores = [remote]
    else:
        stores = [s for s in declared_stores(reg) if s in configured] or configured
    plans = _purge_plans(reg, repo, tombstones) if tombstones else []
    revoked = [(ts, t) for ts, p in plans for t in p.targets if t.md5 and (namespace is None or t.namespace == namespace)]
    purge_flags, purge_note = _purge_flags(reg) if any(p.targets for _ts, p in plans) else ("", "")
    return FsckPlan(stores, reg.config.get("remote") or repo.default_remote(), pins, folders, revoked, plans,
                    purge_flags, purge_note)


def fsck(root: Path | str = ".", remote: str | None = None, *, deep: bool = False, namespace: str | None = None) -> FsckReport:
    """Check the stores (``remote``, or pedata.json's remote and mirrors); every finding is reported."""
    from dvc_pedata.dvcio.store import (
        StoreRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    reg = Registry.find(root)
    with StoreRepo(reg.root) as repo:
        todo = plan_fsck(reg, repo, remote, namespace)
        report = FsckReport(todo.stores, deep)
        for store in todo.stores:
            _probe_pins(repo, todo, store, report)
            _probe_folders(repo, todo, store, report)
            _probe_revoked(repo, todo, store, report)
        if deep:  # the local copies a purge deletes: the DVC cache here, the resolver cache below
            for ts, t in todo.revoked:
                path = repo.local_cache_path(str(t.md5))
                if path.exists():
                    report.findings.append(Finding("revoked-present", t.uri, "", str(path),
                                                   _still(ts, todo.purge_flags, todo.purge_note), where="dvc-cache"))
    if deep:
        _check_revoked_cache(report, todo.plans, namespace, todo.purge_flags, todo.purge_note)
        _check_cache(report, todo.pins)
    return report


def _hints(todo: FsckPlan, store: str) -> tuple[str, str]:
    """(how to repair a corrupt object, how to refill a missing one) in ``store``."""
    if store == todo.source:
        return "", ""
    return f"; repair: pedata mirror --to {store} --deep", f"; copy it: pedata mirror --to {store}"


def _first_line(exc: Exception) -> str:
    return getattr(exc, "message", "") or (str(exc).splitlines() or [type(exc).__name__])[0]


def _probe_pins(repo: Any, todo: FsckPlan, store: str, report: FsckReport) -> None:
    """Every pinned, unrevoked file object: present, the pinned size, (deep) the pinned sha256."""
    repair, refill = _hints(todo, store)
    for p in todo.pins:
        if p.revoked is not None:
            continue
        report.checked += 1
        assert p.md5 is not None
        url = repo.object_url(p.md5, store)
        try:
            size = repo.remote_object_size(p.md5, store)
        except Exception as exc:  # PedataError, or a network error from DVC's filesystems
            report.findings.append(Finding("unreachable", p.uri, store, url, _first_line(exc)))
            continue
        if size is None:
            report.findings.append(Finding("missing", p.uri, store, url, f"object {p.md5} is not there ({', '.join(p.pinned_by)}){refill}"))
        elif size != p.size:
            report.findings.append(Finding("corrupt", p.uri, store, url, f"size {size} bytes, the pin says {p.size}{repair}"))
        elif report.deep:
            actual = repo.hash_remote_object(p.md5, store)
            if actual != p.sha256:
                report.findings.append(Finding("corrupt", p.uri, store, url, f"bytes hash to sha256 {actual}{repair}"))


def _probe_folders(repo: Any, todo: FsckPlan, store: str, report: FsckReport) -> None:
    """Every pinned, unrevoked folder: its ``.dir`` listing and the objects it names."""
    repair, refill = _hints(todo, store)
    for uri, md5, files in todo.folders:
        report.checked += 1
        url = repo.object_url(md5, store)
        try:
            found = repo.listing_problem(md5, files, store, report.deep)
        except Exception as exc:  # PedataError or a network error from DVC's filesystems
            report.findings.append(Finding("unreachable", uri, store, url, _first_line(exc)))
            continue
        if found is not None:
            report.findings.append(Finding(found[0], uri, store, url, found[1] + (repair if found[0] == "corrupt" else refill)))


def _probe_revoked(repo: Any, todo: FsckPlan, store: str, report: FsckReport) -> None:
    """Every object a purge deletes must be gone from ``store``."""
    for ts, t in todo.revoked:
        report.checked += 1
        try:
            size = repo.remote_object_size(str(t.md5), store)
        except Exception:
            continue
        if size is not None:
            report.findings.append(Finding(
                "revoked-present", t.uri, store, repo.object_url(str(t.md5), store), _still(ts, todo.purge_flags, todo.purge_note)))


def _purge_plans(reg: Registry, repo: Any, tombstones: list[Any]) -> list[tuple[Any, Any]]:
    """``(tombstone, PurgePlan)`` for each tombstone: what its purge deletes (purgeplan.py)."""
    ms = Manifests(reg)
    outs = work_outs(repo, reg, ms)
    revoked = revoked_shas(reg)
    return [(ts, plan(reg, ts.artifact_sha256, outs, manifests=ms, tombstoned=revoked)) for ts in tombstones]


def _still(ts: Any, purge_flags: str, purge_note: str) -> str:
    return (f"revoked on {ts.date} by {ts.authority} ({ts.reason}) but still stored:"
            f" run 'pedata revoke sha256:{ts.artifact_sha256} --purge {purge_flags}'{purge_note}")


def _check_revoked_cache(report: FsckReport, plans: list[tuple[Any, Any]], namespace: str | None,
                         purge_flags: str, purge_note: str) -> None:
    """Revoked bytes still in the resolver cache: an object, or a cached tree that holds them."""
    root = cache.cache_dir()
    for ts, p in plans:
        targets = [t for t in p.targets if namespace is None or t.namespace == namespace]
        if not targets:
            continue
        detail = _still(ts, purge_flags, purge_note)
        for t in targets:
            obj = cache.object_path(t.sha256, root) if t.sha256 else None
            if obj is not None and obj.exists():
                report.findings.append(Finding("revoked-present", t.uri, "", str(obj), detail, where="cache"))
        for tree, held in trees_holding(root, {t.sha256 for t in targets if t.sha256}, p.directories):
            # a member's bytes: named by that member; the revoked folder's own tree: by the folder
            uri = next((t.uri for t in targets if (t.sha256 in held if held else t.sha256 is None)), targets[0].uri)
            report.findings.append(Finding("revoked-present", uri, "", str(tree), f"a cached tree holds the bytes; {detail}",
                                           where="cache"))


def _purge_flags(reg: Registry) -> tuple[str, str]:
    """``--sign NAME`` for local keys that can re-sign a tombstone, and a note if some are lacking (``KEY``)."""
    names, missing = _revoker_keys(reg)
    flags = " ".join(f"--sign {n}" for n in [*names, *["KEY"] * missing])
    if not missing:
        return flags, ""
    from dvc_pedata.trust.keys import (  # lazy: cryptography; only signed refs and signing pay for it
        keys_dir,
    )

    return flags, f" (KEY: a revoker key; {'too few are' if names else 'none is'} in {keys_dir()})"


def _revoker_keys(reg: Registry) -> tuple[list[str], int]:
    """Names of local keys that can sign a tombstone (up to the revoker threshold), and how many are lacking."""
    from dvc_pedata.trust.keys import (  # lazy: cryptography; only signed refs and signing pay for it
        list_keys,
    )
    from dvc_pedata.trust.root import (  # lazy: cryptography; only signed refs and signing pay for it
        load_root_chain,
    )

    try:
        role = load_root_chain(reg).roles["revoker"]
    except (PedataError, KeyError):
        return [], 1
    need = max(1, int(role.get("threshold") or 1))
    ids = set(role.get("keyids") or [])
    names = [k.name for k in list_keys() if k.keyid in ids and k.private_path][:need]
    return names, need - len(names)


def _check_cache(report: FsckReport, pins: list[Any]) -> None:
    """Re-hash the resolver cache; each damaged object or tree named by a URI that pins it."""
    uris: dict[str, str] = {}
    for p in pins:
        uris.setdefault(p.sha256, p.uri)
        directory = getattr(p, "directory_sha256", None)
        if directory:
            uris.setdefault(directory, f"pedata://{p.namespace}/{p.name}@sha256:{directory}")
    rep = verify_all()
    report.cache = {"dir": str(rep.root), "objects": rep.objects, "trees": rep.trees, "ok": rep.ok}
    for c in rep.findings:
        uri = uris.get(c.sha256, f"sha256:{c.sha256}")
        if c.member is not None:
            uri += f";path={c.member}"
        detail = c.detail if c.member is None else f"{c.member} {c.detail}"
        report.findings.append(Finding(c.kind, uri, "", c.path, f"{c.scope} {c.sha256}: {detail}", where="cache"))
