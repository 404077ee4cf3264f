"""``pedata revoke``: take an artifact's bytes back while keeping the record that they existed.

A revocation is a signed tombstone ``tombstones/<sha256>.json`` (revoker threshold). Its
manifest stays, so ``pedata schema`` still answers and citations still resolve to a description;
the resolver refuses the bytes by every ref. With ``--purge`` the DVC objects are deleted from
every configured DVC remote and mirror, the local DVC cache, the work tree and the resolver cache,
and the tombstone records each place: ``deleted``, ``absent`` or ``failed`` with why. For a
directory artifact that is DVC's folder listing and every member file's object (a member whose
bytes an unrevoked artifact also holds is kept, and recorded in the tombstone's ``kept``), and the
resolver's cached trees; :mod:`purgeplan` decides which objects, for ``revoke`` and ``fsck`` alike.

Order, for crash safety: everything is checked (the sha256 is known, the signatures meet the
revoker threshold, every release that must become ``unreproducible`` can be signed at the
certifier threshold) before anything is written. The tombstone is written first, so a purge
killed half way already leaves the artifact refused; re-running ``revoke SHA --purge --sign KEY``
resumes and completes the record (the tombstone's reason, authority and date never change).
Releases are then re-signed as ``unreproducible`` and all of it committed.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvc_pedata.base import gitio
from dvc_pedata.base.timeutil import format_time, now
from dvc_pedata.errors import NotFoundError, PedataError, SignatureError, UsageError
from dvc_pedata.model import layout
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Channel, Release, Tombstone, new_body
from dvc_pedata.model.listing import find_entry, load_listing
from dvc_pedata.model.uri import is_uri, parse
from dvc_pedata.registry.lock import registry_lock
from dvc_pedata.registry.refs import manifest_for_pin, pin_for
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.shaprefix import expand_bare
from dvc_pedata.registry.source import is_git_url, open_registry
from dvc_pedata.resolver import cache
from dvc_pedata.store.pinset import member_records, pin_contains
from dvc_pedata.store.purgeplan import plan, trees_holding, work_outs
from dvc_pedata.trust.keys import Signer
from dvc_pedata.trust.signing import check_threshold
from dvc_pedata.trust.signing import sign as sign_doc

if TYPE_CHECKING:
    from dvc_pedata.store.purgeplan import PurgePlan, WorkOut

_SHA_RE = re.compile(r"^(?:sha256:)?([0-9a-f]{12,64})\Z")


@dataclass
class PurgeEntry:
    """One place the bytes were (or may have been): what happened there and why."""

    kind: str  # remote | mirror | dvc-cache | workspace | resolver-cache
    store: str  # remote name, or a local label
    location: str  # URL or path of the object
    status: str  # deleted | absent | failed
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if d["reason"] is None:
            del d["reason"]
        return d


@dataclass
class RevokeResult:
    sha256: str
    tombstone: str
    reason: str
    authority: str
    date: str
    manifests: list[dict[str, Any]]
    purged: list[PurgeEntry] = field(default_factory=list)
    kept: list[dict[str, str]] = field(default_factory=list)  # members of a folder another artifact still holds
    releases: list[dict[str, str]] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None
    resumed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256, "tombstone": self.tombstone, "reason": self.reason,
            "authority": self.authority, "date": self.date, "manifests": self.manifests,
            "purged": [p.to_json() for p in self.purged], "kept": self.kept, "releases": self.releases,
            "channels_still_pointing": self.channels, "commit": self.commit, "resumed": self.resumed,
        }


def target_sha256(reg: Registry, ref: str) -> str:
    """The sha256 a REF names: ``pedata://ns/name@ref`` (any ref kind) or a bare sha256."""
    ref = ref.strip()
    if is_uri(ref):
        uri = parse(ref)
        if uri.path is not None:  # one file of a directory artifact: its own bytes (dirmanifest.py)

            m = manifest_for_pin(reg, uri.namespace, uri.name, pin_for(reg, uri))
            return find_entry(load_listing(m, registry_reader(reg.root)), uri.path, str(uri)).sha256
        return str(pin_for(reg, uri)["sha256"])
    found = _SHA_RE.match(ref)
    if not found:
        raise UsageError(f"{ref!r} is neither a pedata:// URI nor a sha256 (64 lowercase hex digits, or a unique prefix of at least 12)")

    return expand_bare(reg.root, found.group(1))  # a prefix: the one manifest it names, or an error


def _split_signers(signers: list[Signer], root: Any) -> tuple[list[Signer], list[Signer]]:
    revokers = [s for s in signers if s.keyid in root.roles["revoker"]["keyids"]]
    certifiers = [s for s in signers if s.keyid in root.roles["certifier"]["keyids"]]
    for s in signers:
        if s not in revokers and s not in certifiers:
            raise SignatureError(
                f"key {s.label()} is neither a revoker nor a certifier key in trust root version {root.version}"
            )
    return revokers, certifiers


def _dir_holds(reg: Registry, ns: str, name: str, pin: dict[str, Any], sha256: str) -> bool:
    """A directory artifact holding a revoked file is itself unreproducible (its other files are not revoked)."""
    return pin_contains(reg, ns, name, pin, sha256)


def _dir_members(reg: Registry, sha256: str) -> list[dict[str, Any]]:
    return member_records(reg, sha256)


def _releases_pinning(reg: Registry, sha256: str) -> list[tuple[Path, Release, list[str]]]:
    out = []
    for path in reg.iter_release_paths():
        rel = Release.load(path, reg.rel(path))
        names = sorted(n for n, p in rel.pins.items() if p["sha256"] == sha256 or _dir_holds(reg, rel.namespace, n, p, sha256))
        if names:
            out.append((path, rel, names))
    return out


def channels_pointing(reg: Registry, sha256: str) -> list[dict[str, Any]]:
    """Channels at HEAD whose pins still name ``sha256`` (``verify`` fails until they move)."""
    out = []
    for path in reg.iter_channel_paths():
        ch = Channel.load(path, reg.rel(path))
        names = sorted(n for n, p in ch.artifacts.items() if p["sha256"] == sha256)
        if names:
            out.append({"namespace": ch.namespace, "channel": ch.channel, "version": ch.version, "artifacts": names})
    return out


def _unreproducible_body(rel: Release, names: list[str], ts: Tombstone) -> dict[str, Any]:
    body = dict(rel.body)
    body["status"] = "unreproducible"
    what = ", ".join(names)
    body["notice"] = {
        "type": "withdrawal",
        "summary": f"{what} (sha256 {ts.artifact_sha256}) revoked by {ts.authority} on {ts.date}: {ts.reason}",
        "date": ts.date[:10],
    }
    return body


def _resigned_for(rel: Release, sha256: str) -> bool:
    """Whether the release's latest status change is the one a revocation of ``sha256`` writes."""
    history = rel.body.get("status_history") or []
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    return last.get("status") == "unreproducible" and f"(sha256 {sha256}) revoked by" in str(last.get("reason") or "")


def _mark_unreproducible(reg: Registry, rel: Release, names: list[str], ts: Tombstone, signers: list[Signer]) -> Release:
    """A new signed version of the release with status ``unreproducible``, staged, not committed.

    The release lifecycle belongs to :mod:`certify`; revocation commits it with the tombstone.
    """
    from dvc_pedata.releases.certify import (  # lazy: cryptography; only signed refs and signing pay for it
        mark_unreproducible,
    )

    reason = f"{', '.join(names)} (sha256 {ts.artifact_sha256}) revoked by {ts.authority} on {ts.date}: {ts.reason}"
    return mark_unreproducible(reg, rel.namespace, rel.version, reason, signers, commit=False)


def _check_resume(existing: Tombstone, sha256: str, reason: str, authority: str, purge: bool) -> None:
    """A second ``revoke`` of revoked bytes only resumes a purge, and never rewrites the tombstone's text."""
    if not purge:
        raise PedataError(
            f"sha256 {sha256} is already revoked ({existing.reason}; {existing.authority}, {existing.date});"
            " use --purge to delete remaining copies"
        )
    differ = [f"{what} {old!r} (given {new!r})" for what, old, new in
              (("reason", existing.reason, reason), ("authority", existing.authority, authority)) if new and new != old]
    if differ:
        raise PedataError(
            f"sha256 {sha256} is already revoked and its tombstone is immutable: it records {' and '.join(differ)};"
            " leave out --reason and --authority to resume the purge"
        )


@dataclass
class RevokePlan:
    """Everything ``revoke`` decided and checked before writing anything."""

    reg: Registry
    sha256: str
    existing: Tombstone | None  # resuming: the tombstone already committed
    tombstone: Tombstone  # signed by the revokers, threshold met
    revokers: list[Any]
    certifiers: list[Any]
    pinned_by: list[tuple[Path, Release, list[str]]]  # releases pinning the bytes
    pinning: list[tuple[Path, Release, list[str]]]  # ... of which still to mark unreproducible
    rels: list[str]  # release files the commit carries
    left: list[tuple[str, Release]]  # releases re-signed by a killed run, not yet committed


def plan_revoke(reg: Registry, ref: str, *, reason: str | None, authority: str | None, sign: list[str] | None,
                purge: bool, commit: bool) -> RevokePlan:
    """Check the request, load the keys and sign the tombstone in memory: nothing is written."""
    from dvc_pedata.trust.keys import (  # lazy: cryptography; only signed refs and signing pay for it
        load_signer,
    )
    from dvc_pedata.trust.root import (  # lazy: cryptography; only signed refs and signing pay for it
        load_root_chain,
    )

    reason, authority = " ".join((reason or "").split()), " ".join((authority or "").split())
    sha = target_sha256(reg, ref)
    existing = reg.load_tombstone(sha)
    if existing is None:
        if not reason:
            raise UsageError("give --reason TEXT (why the bytes are taken back)")
        if not authority:
            raise UsageError("give --authority TEXT (who withdrew them, e.g. the statistics office)")
    else:
        _check_resume(existing, sha, reason, authority, purge)
    if not sign:
        raise SignatureError(
            "revoke needs --sign KEY (a revoker key)" if existing is None else
            f"resuming the purge of sha256 {sha} re-signs its tombstone with the record of what was deleted where:"
            " give --sign KEY (revoker keys meeting the threshold)"
        )
    manifests = reg.find_manifests(sha)
    members = [] if manifests else _dir_members(reg, sha)  # a file inside directory artifacts
    if not manifests and not members:
        raise NotFoundError(f"unknown sha256 {sha}: no manifest in this registry describes it, so there is nothing to revoke")
    signers = [load_signer(k) for k in sign]
    trust_root = load_root_chain(reg)
    revokers, certifiers = _split_signers(signers, trust_root)

    if existing is not None:
        body = dict(existing.body)
    else:
        body = new_body(
            "tombstone", artifact_sha256=sha, reason=reason, authority=authority, date=format_time(now()),
            manifests=[{"namespace": m.namespace, "name": m.name, "md5": m.md5} for m in manifests] + members,
            purged=[],
        )
    ts = Tombstone(body, [])
    for s in revokers:
        sign_doc(ts, s)
    problems = check_threshold(ts, trust_root, "revoker")
    if problems:
        raise SignatureError(f"revocation refused: {'; '.join(problems)}")

    pinned_by = _releases_pinning(reg, sha)
    pinning = [(p, r, n) for p, r, n in pinned_by if r.status != "unreproducible"]
    for _path, rel, names in pinning:
        probe = Release(_unreproducible_body(rel, names, ts), [])
        for s in certifiers:
            sign_doc(probe, s)
        problems = check_threshold(probe, trust_root, "certifier", rel.namespace)
        if problems:
            raise SignatureError(
                f"release {rel.namespace}@{rel.version} pins this artifact and must be re-signed as unreproducible:"
                f" {'; '.join(problems)} (add --sign with a certifier key)"
            )
    rels = [reg.rel(p) for p, _, _ in pinning]
    if commit and rels and gitio.is_dirty(reg.root, rels):
        raise PedataError(f"{rels[0]} has uncommitted changes; commit or discard them before revoking")
    # Resuming a revocation killed after it re-signed a release but before it committed: that
    # release is unreproducible in the work tree only, so it is committed with the tombstone now.
    left = [(reg.rel(p), r) for p, r, _ in pinned_by
            if existing is not None and r.status == "unreproducible" and _resigned_for(r, sha)
            and gitio.is_dirty(reg.root, [reg.rel(p)])]
    return RevokePlan(reg, sha, existing, ts, revokers, certifiers, pinned_by, pinning, rels, left)


def revoke(
    ref: str,
    *,
    reason: str | None = None,
    authority: str | None = None,
    sign: list[str] | None = None,
    purge: bool = False,
    commit: bool = True,
    root: Path | str = ".",
) -> RevokeResult:
    """Write (and commit) a signed tombstone for ``ref``'s bytes; optionally purge them everywhere.

    On bytes already revoked, ``purge=True`` resumes the purge: ``reason``/``authority`` may be left
    out (if given they must equal the tombstone's), and ``sign`` needs revoker keys meeting the
    threshold because the tombstone is re-signed with the grown ``purged`` record (certifier keys
    only if a release pinning the bytes is not yet ``unreproducible``).
    """
    reg = Registry.find(root)
    todo = plan_revoke(reg, ref, reason=reason, authority=authority, sign=sign, purge=purge, commit=commit)
    return apply_revoke(todo, purge=purge, commit=commit)


def apply_revoke(todo: RevokePlan, *, purge: bool, commit: bool) -> RevokeResult:
    """Write the tombstone first (the resolver refuses the bytes from then on), purge, mark the
    pinning releases unreproducible, commit. A kill at any step is resumed by the same command."""
    reg, sha, ts, body = todo.reg, todo.sha256, todo.tombstone, todo.tombstone.body
    rels = list(todo.rels)
    ts_path = reg.tombstone_path(sha)
    result = RevokeResult(sha, reg.rel(ts_path), ts.reason, ts.authority, ts.date, body.get("manifests", []),
                          resumed=todo.existing is not None)
    purged_before = list(body.get("purged") or [])
    with registry_lock(reg.state_dir, wait=False):
        # Decided before anything is written, and under the lock: a publish finishing meanwhile
        # cannot add an artifact sharing these bytes after the plan chose to delete them.
        plan, outs = _purge_plan(reg, sha) if purge else (None, [])
        ts.save(ts_path)  # from here on the resolver refuses the bytes, whatever happens next
        if plan is not None:
            result.purged = purge_everywhere(reg, plan, outs)
            ts.body["purged"] = [*purged_before, *(p.to_json() for p in result.purged)]
            if plan.directories or plan.kept or "kept" in ts.body:  # what this purge left, and why
                result.kept = [k.to_json() for k in plan.kept]
                ts.body["kept"] = result.kept
            ts.signatures.clear()
            for s in todo.revokers:
                sign_doc(ts, s)
            ts.save(ts_path)
        for _path, rel, names in todo.pinning:
            doc = _mark_unreproducible(reg, rel, names, ts, todo.certifiers)
            result.releases.append({"namespace": doc.namespace, "version": doc.version, "status": doc.status})
        for rel_path, rel in todo.left:
            rels.append(rel_path)
            result.releases.append({"namespace": rel.namespace, "version": rel.version, "status": rel.status})
        result.channels = channels_pointing(reg, sha)
        if commit:
            msg = f"Revoke sha256:{sha[:12]}: {ts.reason} ({ts.authority})"
            gitio.add(reg.root, [result.tombstone, *rels])
            if gitio.git(reg.root, "diff", "--cached", "--name-only", "--", result.tombstone, *rels):
                result.commit = gitio.commit(reg.root, msg, [result.tombstone, *rels])
        else:
            gitio.add(reg.root, [result.tombstone, *rels])
    return result


def _purge_plan(reg: Registry, sha256: str) -> tuple[PurgePlan, list[WorkOut]]:
    """What purging ``sha256`` deletes (:mod:`purgeplan`), and the work tree's DVC outputs it reads."""
    from dvc_pedata.dvcio.store import (
        StoreRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    with StoreRepo(reg.root) as repo:
        outs = work_outs(repo, reg)
    return plan(reg, sha256, outs), outs


def purge_everywhere(reg: Registry, plan: PurgePlan, outs: list[WorkOut]) -> list[PurgeEntry]:
    """Delete the plan's objects from every DVC remote and mirror, the DVC cache, the work tree and
    the resolver cache (objects and cached trees). Never raises for one place: each failure is
    recorded with its reason."""
    from dvc_pedata.dvcio.store import (
        StoreRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    entries: list[PurgeEntry] = []
    md5s = plan.md5s
    mirrors = list(reg.config.get("mirrors") or [])
    primary = reg.config.get("remote")
    with StoreRepo(reg.root) as repo:
        names = repo.remote_names()
        for name in [*names, *(m for m in mirrors if m not in names)]:
            kind = "mirror" if name in mirrors and name != primary else "remote"
            if name not in names:
                entries += [PurgeEntry(kind, name, md5, "failed", f"mirror {name!r} is not a configured DVC remote") for md5 in md5s]
                continue
            try:
                done = repo.delete_remote_objects(md5s, name)
            except PedataError as exc:
                entries += [PurgeEntry(kind, name, md5, "failed", exc.message) for md5 in md5s]
                continue
            for _md5, url, deleted, error in done:
                status = "failed" if error is not None else "deleted" if deleted else "absent"
                entries.append(PurgeEntry(kind, name, url, status, error))
        for md5 in md5s:
            try:
                deleted, path = repo.delete_cache_object(md5)
                entries.append(PurgeEntry("dvc-cache", "local", path, "deleted" if deleted else "absent"))
            except PedataError as exc:
                entries.append(PurgeEntry("dvc-cache", "local", repo.local_cache_path(md5).as_posix(), "failed", exc.message))
        entries += _purge_workspace(reg, set(md5s), outs)
    for t in plan.targets:
        if t.sha256 is None:
            continue  # DVC's folder listing: never in the resolver cache
        obj = cache.object_path(t.sha256)
        try:
            obj.unlink()
            entries.append(PurgeEntry("resolver-cache", "local", str(obj), "deleted"))
        except FileNotFoundError:
            entries.append(PurgeEntry("resolver-cache", "local", str(obj), "absent"))
        except OSError as exc:
            entries.append(PurgeEntry("resolver-cache", "local", str(obj), "failed", exc.strerror or str(exc)))
    for tree, _held in trees_holding(cache.cache_dir(), plan.sha256s, plan.directories):
        # A cached tree hard-links the objects: the bytes live on until the tree goes too. The
        # listing goes first, so a tree half removed is never taken for a complete one.
        try:
            tree.with_suffix(".json").unlink(missing_ok=True)
            if tree.is_dir():
                shutil.rmtree(tree)
            entries.append(PurgeEntry("resolver-cache", "local", str(tree), "deleted"))
        except OSError as exc:
            entries.append(PurgeEntry("resolver-cache", "local", str(tree), "failed", exc.strerror or str(exc)))
    return entries


def _purge_workspace(reg: Registry, md5s: set[str], outs: list[WorkOut]) -> list[PurgeEntry]:
    """The work tree's copies: a revoked output whole (a folder recursively), and inside a tracked
    folder each file whose bytes are revoked (checked first: an edited file holds other bytes)."""
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        file_md5,
    )

    entries: list[PurgeEntry] = []
    for o in outs:
        target = reg.root / o.path
        if o.md5 in md5s:
            if not (target.exists() or target.is_symlink()):
                continue
            try:
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
                entries.append(PurgeEntry("workspace", "work tree", o.path, "deleted"))
            except OSError as exc:
                entries.append(PurgeEntry("workspace", "work tree", o.path, "failed", exc.strerror or str(exc)))
            continue
        for rel, md5 in o.files or ():
            path = target / rel
            if md5 not in md5s or not path.is_file():
                continue
            where = f"{o.path}/{rel}"
            try:
                if file_md5(path) != md5:
                    continue  # edited in the work tree: not the revoked bytes
                path.unlink()
                entries.append(PurgeEntry("workspace", "work tree", where, "deleted"))
            except OSError as exc:
                entries.append(PurgeEntry("workspace", "work tree", where, "failed", exc.strerror or str(exc)))
    return entries


# -- consumers ----------------------------------------------------------------------------------
def revocations(registry: str | None = None, rev: str | None = None) -> list[dict[str, Any]]:
    """The revocation list: sha256, reason, authority, date (and md5s) for every tombstone.

    Works on a checkout, a commit, or a git URL, so a downstream cache can purge itself.
    """
    view = open_registry(registry, rev, current=False)  # the list at ``rev``, as asked
    if view.rev is None:
        rels = [view.registry.rel(p) for p in view.registry.iter_tombstone_paths()]
    else:
        rels = [p for p in gitio.ls_tree(view.root, view.rev, layout.TOMBSTONES) if p.endswith(".json")]
    out = []
    for rel in sorted(rels):
        data = view.read(rel)
        if data is None:
            continue
        ts = Tombstone.from_bytes(data, view.where(rel))
        out.append({
            "sha256": ts.artifact_sha256, "reason": ts.reason, "authority": ts.authority, "date": ts.date,
            "md5": sorted({m["md5"] for m in ts.body.get("manifests") or [] if isinstance(m, dict) and m.get("md5")}),
            "tombstone": rel,
        })
    return out


def status(root: Path | str = ".") -> list[dict[str, Any]]:
    """DVC outputs here (registry outputs or ``dvc import``-ed files) whose bytes are revoked.

    ``dvc pull`` fails for exactly these (the objects are purged); this says why.
    """
    from dvc_pedata.dvcio.imports import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        cached_listing,
        repo_imports,
    )
    from dvc_pedata.dvcio.repo import (
        find_project,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )
    from dvc_pedata.dvcio.store import (
        StoreRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    start = Path(root).resolve()
    out: list[dict[str, Any]] = []
    reg = None
    with contextlib.suppress(PedataError):
        reg = Registry.find(start)
    if reg is not None:
        by_md5 = {m: r for r in revocations(str(reg.root)) for m in r["md5"]}
        if not by_md5:
            return out
        with StoreRepo(reg.root) as repo:
            outs = work_outs(repo, reg)
        for o in outs:
            for path, md5 in _revoked_in(o.path, o.md5, o.files, by_md5):
                out.append({"path": path, "md5": md5, **_public(by_md5[md5]), "source": "registry"})
        return out
    project = find_project(start)
    lists: dict[str, dict[str, dict[str, Any]]] = {}
    for path, md5, url, _rev in repo_imports(project):
        if url not in lists:
            try:
                src = url if is_git_url(url) else str((project / url).resolve()) if not Path(url).is_absolute() else url
                lists[url] = {m: r for r in revocations(src) for m in r["md5"]}
            except PedataError:
                lists[url] = {}
        if not lists[url]:
            continue
        files = cached_listing(project, md5) if md5.endswith(".dir") and md5 not in lists[url] else None
        for p, m in _revoked_in(path, md5, files, lists[url]):
            out.append({"path": p, "md5": m, **_public(lists[url][m]), "source": url})
    return out


def _revoked_in(path: str, md5: str, files: Any, revoked: dict[str, Any]) -> list[tuple[str, str]]:
    """``(path, md5)`` of a revoked DVC output, or of each revoked file inside a tracked folder."""
    if md5 in revoked:
        return [(path, md5)]
    return [(f"{path}/{rel}", m) for rel, m in files or () if m in revoked]


def _public(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("sha256", "reason", "authority", "date")}
