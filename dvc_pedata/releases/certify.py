"""``pedata certify`` / ``retire`` and the ``unreproducible`` mark: the release lifecycle.

Certification is the boundary that stops a silent promote: a release is only ever made from a
channel that verifies at the promoter threshold under the current trust root, whose pins all name
their manifests and none is revoked. The release document is signed by the certifier role at its
threshold, committed alone, and tagged ``<ns>/v<version>`` with the release digest in the tag
message (plus GTO's ``<ns>@v<version>``). Later status changes (certified, retired,
unreproducible) only move forward and are new signed versions of the same file; the tags stay
on the commit that first certified it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.timeutil import expires_in, format_time, is_expired, utcnow
from dvc_pedata.errors import NotFoundError, PedataError, SignatureError, UsageError
from dvc_pedata.lineage.replayable import refuse_unreplayable
from dvc_pedata.model.companion import FILES
from dvc_pedata.model.documents import Manifest, Release, new_body, status_rank
from dvc_pedata.model.fields import companion_of
from dvc_pedata.model.semver import Version, check_semver
from dvc_pedata.model.uri import gto_tag_name, tag_name
from dvc_pedata.registry.lock import registry_lock
from dvc_pedata.registry.refs import manifest_for_pin
from dvc_pedata.registry.repo import Registry
from dvc_pedata.releases.catalog import gto_tag_message, previous_of, tag_message, versions
from dvc_pedata.trust.keys import Signer
from dvc_pedata.trust.signing import check_threshold, sign

COMPAT_MODES = ("forward", "backward", "both", "break")
DEFAULT_PROVISIONAL_EXPIRY = "30d"


@dataclass
class CertifyResult:
    """What ``certify`` wrote: the release, its file, the commit and the tags."""

    release: Release
    path: str
    commit: str
    tag: str | None
    gto_tag: str | None

    def to_json(self) -> dict[str, Any]:
        r = self.release
        return {"namespace": r.namespace, "version": r.version, "status": r.status, "digest": r.digest,
                "path": self.path, "commit": self.commit, "tag": self.tag, "gto_tag": self.gto_tag,
                "previous": r.previous, "source_channel": r.source_channel, "expires": r.expires,
                "pins": {n: p["sha256"] for n, p in sorted(r.pins.items())}}

    def text(self) -> str:
        r = self.release
        lines = [f"certified {r.namespace}@{r.version} ({r.status}) from channel "
                 f"{r.source_channel['name']} version {r.source_channel['version']}" if r.source_channel else
                 f"{r.namespace}@{r.version}: {r.status}",
                 f"  release {self.path}  sha256:{r.digest}",
                 f"  commit  {self.commit}"]
        if self.tag:
            lines.append(f"  tag     {self.tag}" + (f"  (GTO: {self.gto_tag})" if self.gto_tag else ""))
        if r.expires:
            lines.append(f"  expires {r.expires}")
        return "\n".join(lines)


def parse_certified_for(text: str | None) -> dict[str, str] | None:
    """``PACKAGE==VERSION`` -> ``{"package", "version"}`` (what the release is certified for)."""
    if text is None:
        return None
    pkg, sep, ver = text.partition("==")
    if not sep or not pkg.strip() or not ver.strip() or any(c.isspace() for c in text.strip()):
        raise UsageError(f"--certified-for {text!r}: expected PACKAGE==VERSION, like policyengine-us==2.2.1")
    return {"package": pkg.strip(), "version": ver.strip()}


def _load_signers(reg: Registry, refs: Sequence[str | Signer], ns: str) -> tuple[list[Signer], Any]:
    """Load ``--sign`` keys and refuse any that is not a certifier for ``ns`` in the current root."""
    from dvc_pedata.trust.root import (
        load_role_signers,  # lazy: cryptography; only signed refs and signing pay for it
    )

    if not refs:
        raise SignatureError("a release needs --sign KEY (a certifier key)")
    signers, root = load_role_signers(reg, refs, "certifier")
    scope = root.roles["certifier"].get("namespaces")
    if signers and scope is not None and ns not in scope:
        raise SignatureError(f"the certifier role is scoped to [{', '.join(scope)}], not namespace {ns!r}")
    return signers, root


def _sign_checked(doc: Release, signers: Sequence[Signer], root: Any) -> None:
    """Sign with every key and refuse (before writing anything) if the certifier threshold is unmet."""
    for s in signers:
        sign(doc, s)
    problems = check_threshold(doc, root, "certifier", doc.namespace)
    if problems:
        raise SignatureError(f"release {doc.namespace}@{doc.version}: {'; '.join(problems)} "
                             "(give every needed certifier key with --sign)")


def _check_source(reg: Registry, ns: str, channel_name: str, root: Any) -> Any:
    """The source channel, refused unless it verifies: promoter threshold, expiry, manifests, no revoked pin."""
    ch = reg.load_channel(ns, channel_name)
    if ch is None:
        raise NotFoundError(f"no channel {ns}/{channel_name} to certify from")
    problems = check_threshold(ch, root, "promoter", ns)
    if problems:
        raise SignatureError(f"channel {ns}/{channel_name} (version {ch.version}) does not verify at the promoter "
                             f"threshold: {'; '.join(problems)}; promote it with 'pedata promote --sign' first")
    if is_expired(ch.expires):
        raise PedataError(f"channel {ns}/{channel_name} (version {ch.version}) expired at {ch.expires}")
    if not ch.artifacts:
        raise PedataError(f"channel {ns}/{channel_name} pins no artifacts")
    for name, pin in sorted(ch.artifacts.items()):
        manifest_for_pin(reg, ns, name, pin)
        t = reg.load_tombstone(pin["sha256"])
        if t is not None:
            raise PedataError(f"channel {ns}/{channel_name} pins revoked artifact {name!r} "
                              f"(sha256 {pin['sha256'][:12]}…: {t.reason}); move the channel first")
    return ch


def _refuse_dirty(reg: Registry, rel: str) -> None:
    if gitio.is_dirty(reg.root, [rel]):
        raise PedataError(f"{rel} has uncommitted changes; commit or discard them first")


def _refuse_uncommitted(reg: Registry, rel: str) -> None:
    if gitio.is_dirty(reg.root, [rel]) or not gitio.git(reg.root, "ls-files", "--", rel):
        raise PedataError(f"{rel} is not committed as it is in the work tree; certify only what was "
                          "committed and reviewed (commit it through its pull request first)")


def _companions(reg: Registry, ns: str, pins: dict[str, Any]) -> list[str]:
    """The companion files the pinned manifests name by digest: field lists of wide tables and
    file lists of large folders (a clone of the release tag must hold them too)."""
    out = []
    for n, p in sorted(pins.items()):
        path = reg.manifest_path(ns, n, p["sha256"])
        if path.is_file():  # a missing manifest is refused just before
            m = Manifest.load(path, reg.rel(path))
            rel = companion_of(m)
            if rel:
                out.append(rel)
            files = m.body.get("files")
            if isinstance(files, dict) and files.get("sidecar_sha256"):  # a folder's long file list
                out.append(FILES.rel(ns, n, files["sidecar_sha256"]))
    return out


def _commit_file(reg: Registry, rel: str, message: str) -> str:
    """Commit exactly ``rel`` (other staged work stays staged, not swept into the release commit)."""
    gitio.add(reg.root, [rel])
    gitio.git(reg.root, "commit", "-q", "-m", message, "--", rel)
    return gitio.git(reg.root, "rev-parse", "HEAD")


@dataclass
class CertifyPlan:
    """A new release, checked and signed in memory: what ``apply_certify`` commits and tags."""

    reg: Registry
    doc: Release
    path: Path
    rel: str
    source: str
    source_version: int
    tag: str
    gto: str | None


def _check_request(compat_mode: str, status: str, notice: str | None, expires: str | None) -> None:
    if compat_mode not in COMPAT_MODES:
        raise UsageError(f"invalid compat mode {compat_mode!r} (choose from {', '.join(COMPAT_MODES)})")
    if status not in ("provisional", "certified"):
        raise UsageError(f"a new release is provisional or certified, not {status!r}")
    if compat_mode == "break" and not (notice and notice.strip()):
        raise UsageError("--compat-mode break needs --notice TEXT explaining what breaks for users")
    if status == "certified" and expires is not None:
        raise UsageError("--expires is for provisional releases; a certified release does not expire")


def plan_certify(reg: Registry, ns: str, version: str, *, signers: list[Any], trust_root: Any, source: str,
                 compat_mode: str, notice: str | None, cert_for: Any, status: str, expires: str | None,
                 gto_tag: bool) -> CertifyPlan:
    """Every check ``certify`` makes, then the release signed in memory; nothing is written.

    Called under the registry lock, so nothing it checked can change before :func:`apply_certify`.
    """
    path = reg.release_path(ns, version)
    rel = reg.rel(path)
    earlier = versions(reg, ns)
    same = [v.text for v in earlier if v.text.lower() == version.lower()]
    if same:
        # semver orders "RC1" below "rc1", so the check below would let it through
        raise PedataError(f"release {ns}@{same[0]} already exists and differs from {version} only in case: release"
                          " versions must be unique ignoring case (their files and tags collide on macOS and Windows)")
    if earlier and not Version(version) > earlier[-1]:
        raise PedataError(f"version {version} is not greater than the latest release {ns}@{earlier[-1]}; "
                          "choose a higher version")
    tag = tag_name(ns, version)
    gto = gto_tag_name(ns, version)
    for t in (tag, gto) if gto_tag else (tag,):
        if gitio.git(reg.root, "rev-parse", "--verify", "-q", f"refs/tags/{t}", check=False):
            raise PedataError(f"git tag {t} already exists; a release tag is never moved or reused")
    ch = _check_source(reg, ns, source, trust_root)
    _refuse_dirty(reg, rel)
    # What is certified must be what was reviewed: the channel as committed (the promote
    # branch's pull request), and the manifests its pins name, so a clone of the tag has them.
    for committed in (reg.rel(reg.channel_path(ns, source)),
                      *(reg.rel(reg.manifest_path(ns, n, p["sha256"])) for n, p in sorted(ch.artifacts.items())),
                      *_companions(reg, ns, ch.artifacts)):
        _refuse_uncommitted(reg, committed)
    # A release promises a rebuild: refuse one `pedata replay` could not do (lineage/replayable.py).
    refuse_unreplayable(reg, ns, version, ch.artifacts)
    now = utcnow()
    body = new_body(
        "release",
        namespace=ns,
        version=version,
        status=status,
        compat_mode=compat_mode,
        notice={"type": "release", "summary": (notice or f"Release {ns} {version}").strip(),
                "date": now.date().isoformat()},
        pins={n: dict(p) for n, p in sorted(ch.artifacts.items())},
        source_channel={"name": source, "version": ch.version, "digest": ch.digest},
        certified_for=cert_for,
        previous=previous_of(reg, ns, version),
        expires=expires_in(expires or DEFAULT_PROVISIONAL_EXPIRY, now) if status == "provisional" else None,
        certified_at=format_time(now),
    )
    doc = Release(body, [])
    _sign_checked(doc, signers, trust_root)
    return CertifyPlan(reg, doc, path, rel, source, ch.version, tag, gto if gto_tag else None)


def apply_certify(todo: CertifyPlan) -> CertifyResult:
    """Write the release file, commit it (taken back if the commit fails), then tag the commit."""
    reg, doc, ns, version = todo.reg, todo.doc, todo.doc.namespace, todo.doc.version
    doc.save(todo.path)
    try:
        commit = _commit_file(reg, todo.rel, f"Release {ns}@{version} ({doc.status}) from {todo.source} version {todo.source_version}")
    except Exception:
        todo.path.unlink(missing_ok=True)
        gitio.git(reg.root, "reset", "-q", "--", todo.rel, check=False)
        raise
    gitio.git(reg.root, "tag", "-a", todo.tag, "-m", tag_message(ns, version, todo.rel, doc.digest), commit)
    if todo.gto is not None:
        gitio.git(reg.root, "tag", "-a", todo.gto, "-m", gto_tag_message(ns, version), commit)
    return CertifyResult(doc, todo.rel, commit, todo.tag, todo.gto)


def certify(
    namespace: str,
    version: str,
    *,
    sign: Sequence[str],
    source: str = "next",
    compat_mode: str = "backward",
    notice: str | None = None,
    certified_for: str | None = None,
    status: str = "certified",
    expires: str | None = None,
    gto_tag: bool = True,
    root: Path | str = ".",
) -> CertifyResult:
    """Certify channel ``source`` of ``namespace`` as release ``version``: sign, commit, tag.

    Refuses (writing nothing) unless the source channel verifies at the promoter threshold,
    ``version`` is semver and greater than every earlier release of the namespace, ``break`` has
    a notice, and the certifier keys meet their threshold. A provisional release gets an expiry
    (``expires``, default 30 days); a certified one has none. Running it again for an existing
    provisional release with ``status="certified"`` promotes that release to certified instead.
    """
    reg = Registry.find(root)
    ns = reg.namespace(namespace)
    version = check_semver(version)
    _check_request(compat_mode, status, notice, expires)
    cert_for = parse_certified_for(certified_for)
    signers, trust_root = _load_signers(reg, sign, ns)
    with registry_lock(reg.state_dir, wait=False):
        path = reg.release_path(ns, version)
        if path.is_file():
            existing = Release.load(path, reg.rel(path))
            if existing.status == "provisional" and status == "certified":
                return _upgrade(reg, existing, reg.rel(path), signers, trust_root)
            raise PedataError(f"release {ns}@{version} already exists (status {existing.status}); "
                              "releases are immutable: certify a new version")
        todo = plan_certify(reg, ns, version, signers=signers, trust_root=trust_root, source=source,
                            compat_mode=compat_mode, notice=notice, cert_for=cert_for, status=status,
                            expires=expires, gto_tag=gto_tag)
        return apply_certify(todo)


def _history_entry(status: str, reason: str | None) -> dict[str, str]:
    entry = {"status": status, "date": utcnow().date().isoformat()}
    if reason:
        entry["reason"] = reason
    return entry


def _advance_status(
    reg: Registry,
    current: Release,
    new_status: str,
    signers: Sequence[Signer],
    trust_root: Any,
    *,
    reason: str | None,
    notice: dict[str, str] | None = None,
    commit: bool = True,
) -> tuple[Release, str | None]:
    """Write the next signed version of a release with a later status; commit it alone."""
    ns, version = current.namespace, current.version
    if status_rank(new_status) <= current.status_rank:
        if new_status == current.status:
            raise PedataError(f"release {ns}@{version} is already {current.status}")
        raise PedataError(f"release {ns}@{version} is {current.status}; its status cannot go back to {new_status}")
    body = dict(current.body)
    body["status"] = new_status
    if notice is not None:
        body["notice"] = notice
    if new_status != "provisional":
        body["expires"] = None
    body["status_history"] = [*current.body.get("status_history", []), _history_entry(new_status, reason)]
    doc = Release(body, [])
    _sign_checked(doc, signers, trust_root)
    path = reg.release_path(ns, version)
    rel = reg.rel(path)
    _refuse_dirty(reg, rel)
    doc.save(path)
    sha = None
    if commit:
        sha = _commit_file(reg, rel, f"Release {ns}@{version}: {current.status} -> {new_status}"
                           + (f"\n\n{reason}" if reason else ""))
    else:
        gitio.add(reg.root, [rel])
    return doc, sha


def _upgrade(reg: Registry, existing: Release, rel: str, signers: Sequence[Signer], trust_root: Any) -> CertifyResult:
    doc, sha = _advance_status(reg, existing, "certified", signers, trust_root, reason="provisional release certified")
    return CertifyResult(doc, rel, sha or "", None, None)


def retire(
    namespace: str,
    version: str,
    *,
    sign: Sequence[str],
    notice: str,
    root: Path | str = ".",
) -> CertifyResult:
    """Retire a release: a withdrawal notice, status ``retired``, re-signed and committed.

    The bytes stay resolvable (retired is not revoked): citations made earlier keep working, and
    readers are told why the release should no longer be used.
    """
    if not notice or not notice.strip():
        raise UsageError("retire needs --notice TEXT saying why the release is withdrawn")
    reg = Registry.find(root)
    ns = reg.namespace(namespace)
    version = check_semver(version)
    signers, trust_root = _load_signers(reg, sign, ns)
    with registry_lock(reg.state_dir, wait=False):
        current = reg.load_release(ns, version)
        note = {"type": "withdrawal", "summary": notice.strip(), "date": utcnow().date().isoformat()}
        doc, sha = _advance_status(reg, current, "retired", signers, trust_root, reason=notice.strip(), notice=note)
    return CertifyResult(doc, reg.rel(reg.release_path(ns, version)), sha or "", None, None)


def mark_unreproducible(
    registry: Registry,
    ns: str,
    version: str,
    reason: str,
    signers: Sequence[Signer | str],
    *,
    commit: bool = True,
) -> Release:
    """Mark a release ``unreproducible`` (one of its pinned artifacts was revoked).

    Writes a new version of ``releases/<ns>/<version>.json`` signed by ``signers`` (certifier
    keys, as :class:`Signer` objects or key names/paths) with a correction notice, and commits that
    file alone (or, with ``commit=False``, only stages it so the caller can commit it together
    with its tombstone). Raises :class:`PedataError` if the release is already unreproducible.
    Does not take the registry lock, so a caller holding it (revocation) can call it.
    """
    from dvc_pedata.trust.keys import (
        load_signer,  # lazy: cryptography; only signed refs and signing pay for it
    )

    if not reason or not reason.strip():
        raise UsageError("marking a release unreproducible needs a reason")
    ns = registry.namespace(ns)
    version = check_semver(version)
    loaded, trust_root = _load_signers(
        registry, [s if isinstance(s, Signer) else load_signer(s) for s in signers], ns)
    current = registry.load_release(ns, version)
    note = {"type": "correction", "summary": f"unreproducible: {reason.strip()}", "date": utcnow().date().isoformat()}
    doc, _ = _advance_status(registry, current, "unreproducible", loaded, trust_root, reason=reason.strip(),
                             notice=note, commit=commit)
    return doc
