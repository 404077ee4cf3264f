"""The resolver: from ``pedata://<ns>/<name>@<ref>`` to verified bytes on local disk.

Order of work, cheapest and safest first:

1. parse the URI; open the registry (work tree, commit, or cached git clone: :mod:`regsource`);
2. find the pin and check what the ref demands (:mod:`judge` decides, as for ``verify``; a
   document stored under another name than its body gives is refused by name): ``sha256:`` needs
   only a manifest; a channel other than ``latest`` must meet the promoter threshold; a release the certifier threshold (under the
   root in force when it was committed, if the newest root refuses it: :mod:`judge`), and must
   not be ``unreproducible`` (refused) or ``retired`` (a warning); ``trusted_root`` pins root 1;
3. refuse revoked bytes (a tombstone), even when they sit in the local cache, and whatever the
   revision read: a tombstone in the registry's current state wins (:meth:`RegistryView.find_tombstone`);
4. return the cached object if present (no DVC import, no network), else fetch it through
   :mod:`remote_fetch` (registry remote, then mirrors), verifying sha256 while streaming;
5. append an access-log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base.timeutil import parse_time
from dvc_pedata.errors import (
    IntegrityError,
    NotFoundError,
    OfflineError,
    RevokedError,
    SignatureError,
)
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import digest
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.names import LATEST
from dvc_pedata.model.uri import PedataURI, parse
from dvc_pedata.registry.shaprefix import channel_hint, did_you_mean, expand_in_view, view_names
from dvc_pedata.registry.source import RegistryView, open_registry
from dvc_pedata.resolver import access_log, cache, dirresolve, warm
from dvc_pedata.resolver import state as consumer_state
from dvc_pedata.resolver.dirfetch import fetch_directory
from dvc_pedata.resolver.fetch import fetch
from dvc_pedata.trust import gate as trust_gate
from dvc_pedata.trust import judge


@dataclass
class Resolution:
    """Everything a caller (or ``pedata get --json``) may want to know about one resolution."""

    uri: str
    namespace: str
    name: str
    sha256: str
    manifest_sha256: str
    size: int | None
    md5: str | None
    path: Path | None
    source: str | None  # cache | remote:<name> | mirror:<name>
    registry: str
    rev: str | None
    ref_kind: str
    verified_by: str | None  # the role whose threshold was met, if any
    manifest: Manifest = field(repr=False)
    warnings: list[str] = field(default_factory=list)
    view: RegistryView | None = field(default=None, repr=False)
    location: dict[str, Any] | None = None  # an external pin's location (see external.py)
    directory_sha256: str | None = None  # set for a directory artifact, or a file picked with ;path=
    inner_path: str | None = None  # the ;path= qualifier
    entries: list[Any] | None = field(default=None, repr=False)  # a directory's verified file list
    expiries: list[str] = field(default_factory=list, repr=False)  # expiry times the checks relied on

    def to_json(self) -> dict[str, Any]:
        return {
            "uri": self.uri, "namespace": self.namespace, "name": self.name, "sha256": self.sha256,
            "manifest_sha256": self.manifest_sha256, "size": self.size, "md5": self.md5,
            "path": str(self.path) if self.path else None, "source": self.source,
            "registry": self.registry, "rev": self.rev, "ref": self.ref_kind,
            "verified_by": self.verified_by, "warnings": self.warnings,
            **({"location": self.location} if self.location else {}),
            **({"directory_sha256": self.directory_sha256, "inner_path": self.inner_path,
                "files": len(self.entries or [])} if self.directory_sha256 else {}),
        }


@dataclass
class _Pin:
    sha256: str
    manifest_sha256: str
    size: int | None
    verified_by: str | None
    warnings: list[str]
    location: dict[str, Any] | None = None
    expiries: list[str] = field(default_factory=list)  # what was checked unexpired (the memo's limit)
    channel: tuple[str, int] | None = None  # a signed channel served: (ns/channel, version), for consumer_state
    release: tuple[str, str] | None = None  # a release served: (ns@vX, digest of its pins), for consumer_state


def _pin(view: RegistryView, uri: PedataURI, trusted_root: str | None, offline: bool = False,
         require_signed: bool = False) -> _Pin:
    """The pin ``uri`` names, after the checks its ref kind demands."""
    ns = view.namespace(uri.namespace)
    root = trust_gate.load_root(view, trusted_root) if trusted_root else None
    if uri.ref_kind == "sha256":
        manifest = view.load_manifest(ns, uri.name, uri.ref)
        return _Pin(uri.ref, manifest.digest, manifest.size, None, [], expiries=_expiries(root))
    warnings: list[str] = []
    expiries: list[str] = []
    signed_channel = served_release = None
    if uri.ref_kind == "channel":
        ch = view.load_channel(ns, uri.ref)
        if ch is None:
            hint = channel_hint(ns, uri.ref, view_names(view, f"{layout.CHANNELS}/{ns}"), view_names(view, f"{layout.RELEASES}/{ns}"))
            raise NotFoundError(f"no channel {ns}/{uri.ref} in registry {view.location}{hint}")
        what = f"channel {ns}/{uri.ref} (version {ch.version})"
        judge.require_bound(layout.channel(ns, uri.ref), ch, what)
        verified_by = None
        if uri.ref == LATEST and (trusted_root or require_signed):
            # latest is unsigned by design: a hostile copy of a registry can serve its own.
            text = (f"channel {ns}/{LATEST} is unsigned: nobody vouches for what it points at, even under the"
                    " pinned trust root; resolve a signed channel or a release")
            if require_signed:
                raise SignatureError(f"{text} (unsigned channels are refused: --require-signed or PEDATA_REQUIRE_SIGNED)")
            warnings.append(text)
        if uri.ref != LATEST:
            root = root or trust_gate.load_root(view, None)
            trust_gate.require(ch, root, "promoter", ns, what)
            trust_gate.require_unexpired(ch.expires, what)
            verified_by = "promoter"
            expiries.extend(_expiries(root, ch.expires))
            signed_channel = (f"{ns}/{uri.ref}", int(ch.version))
        pins = ch.artifacts
    else:
        rel = view.load_release(ns, uri.ref)
        if rel is None:
            raise NotFoundError(f"no release {ns}@v{uri.ref} in registry {view.location}")
        what = f"release {ns}@v{uri.ref}"
        judge.require_bound(layout.release(ns, uri.ref), rel, what)
        root = root or trust_gate.load_root(view, None)
        trust_gate.require_committed(view, rel, layout.release(ns, uri.ref), root, "certifier", ns, what,
                                     trusted_root, offline)
        judge.require_as_tagged(view, layout.release(ns, uri.ref), rel, what)
        expiries.extend(_expiries(root))
        if rel.status == "unreproducible" and uri.path is not None:
            # One file of a folder: its own tombstone decides (checked later); the rest stay fetchable.
            warnings.append(f"{what} is unreproducible: {rel.body['notice'].get('summary', '')}")
        elif rel.status == "unreproducible":
            raise RevokedError(f"{what} is unreproducible (a pinned artifact was revoked): {rel.body['notice'].get('summary', '')}")
        if rel.status == "retired":
            warnings.append(f"{what} is retired: {rel.body['notice'].get('summary', '')}".rstrip(": "))
        elif rel.status == "provisional":
            warnings.append(f"{what} is provisional (not yet certified)")
        verified_by = "certifier"
        pins = rel.pins

        served_release = (f"{ns}@v{uri.ref}", digest(pins))
    if uri.name not in pins:
        raise NotFoundError(f"{what} has no artifact {uri.name!r}{did_you_mean(uri.name, pins)} (it pins: {', '.join(sorted(pins)) or 'none'})")
    pin = pins[uri.name]
    if not pin.get("sha256"):
        raise IntegrityError(f"{what}: pin {uri.name!r} has no sha256, so its bytes cannot be verified; a certified pin must name its sha256")
    size = None if pin.get("size") is None else int(pin["size"])
    if root is not None and not expiries:
        expiries.extend(_expiries(root))
    return _Pin(pin["sha256"], pin["manifest_sha256"], size, verified_by, warnings, pin.get("location"), expiries,
                signed_channel, served_release)


def _expiries(root: Any, *more: str | None) -> list[str]:
    """The expiry times a resolution relied on: the trust root's (when loaded) and a signed channel's."""
    return [e for e in ((root.expires if root is not None else None), *more) if e]


def _manifest(view: RegistryView, uri: PedataURI, pin: _Pin) -> Manifest:
    manifest = view.load_manifest(uri.namespace, uri.name, pin.sha256)
    if manifest.digest != pin.manifest_sha256:
        raise IntegrityError(
            f"{uri}: manifest digest {manifest.digest} differs from the pinned {pin.manifest_sha256}"
        )
    if manifest.sha256 != pin.sha256 or manifest.size != pin.size:
        raise IntegrityError(f"{uri}: manifest describes sha256 {manifest.sha256} ({manifest.size} bytes),"
                             f" not the pinned {pin.sha256} ({pin.size} bytes)")
    return manifest


def check_tombstone(view: RegistryView, uri: PedataURI, sha256: str) -> None:
    """Refuse revoked bytes: a tombstone at the view's state or, read at a revision, in the current state."""
    found = view.find_tombstone(sha256)
    if found is not None:
        ts, where = found
        later = f" (tombstone in {where}, not at revision {view.rev[:12]})" if where and view.rev else ""
        raise RevokedError(
            f"{uri}: sha256 {sha256} was revoked on {ts.date} by {ts.authority}: {ts.reason}{later}"
        )


def judge_pin(view: RegistryView, parsed: PedataURI, *, trusted_root: str | None = None, offline: bool = False,
              require_signed: bool = False, remember: bool = True) -> tuple[_Pin, Manifest]:
    """The pin ``parsed`` names and its manifest, after every check its ref demands (the judge),
    and, with ``remember``, after this consumer's memory (:mod:`dvc_pedata.resolver.state`): what it
    saw before wins, and what it sees now is remembered. Tombstones are :func:`check_tombstone`'s."""
    require_signed = require_signed or os.environ.get("PEDATA_REQUIRE_SIGNED", "") not in ("", "0")
    pin = _pin(view, parsed, trusted_root, offline, require_signed)
    pin.warnings.extend(view.notes)  # e.g. offline, and the URL's default branch never fetched
    manifest = _manifest(view, parsed, pin)
    if remember:
        # Remembered before the tombstone check, so a tombstone that refuses the bytes is
        # remembered too. The warm memo comes last (resolve()).
        unremembered = consumer_state.consult(view, trusted_root=trusted_root, channel=pin.channel,
                                              sha256s=[pin.sha256], release=pin.release, uri=str(parsed))
        if unremembered:
            pin.warnings.append(unremembered)
    return pin, manifest


def describe(
    uri: str | PedataURI,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
    revoked_ok: bool = False,
    require_signed: bool = False,
) -> Resolution:
    """Resolve ``uri`` to a checked pin and manifest without fetching bytes (``path`` may be None).

    ``revoked_ok`` (``schema`` only: a revoked artifact keeps its manifest) turns a tombstone into
    a warning; the caller must not serve bytes then.
    """
    parsed = uri if isinstance(uri, PedataURI) else parse(uri)
    view = open_registry(registry, rev, offline=offline)
    if view.rev is None and view.url is None:
        view.reads = {}  # a work tree: remember what was read, for the warm-cache memo
    if parsed.ref_kind == "sha256" and len(parsed.ref) < 64:
        parsed = expand_in_view(view, parsed)  # the full digest from here on (checked like any other)
        view.reads = None  # a later manifest could make the prefix ambiguous: never memoise it
    pin, manifest = judge_pin(view, parsed, trusted_root=trusted_root, offline=offline,
                              require_signed=require_signed, remember=not revoked_ok)
    try:
        check_tombstone(view, parsed, pin.sha256)
    except RevokedError as exc:
        if not revoked_ok:
            raise
        pin.warnings.append(f"{exc.message} (its manifest stays readable; its bytes are not served)")
    if parsed.path is not None or manifest.format == "directory":  # directory artifacts: dirresolve.py
        return _describe_directory(view, parsed, pin, manifest)
    hit = cache.lookup(pin.sha256, pin.size)
    res = Resolution(
        uri=str(parsed), namespace=parsed.namespace, name=parsed.name, sha256=pin.sha256,
        manifest_sha256=pin.manifest_sha256, size=_learnt_size(pin.size, hit), md5=manifest.md5, path=hit,
        source="cache" if hit else None, registry=view.location, rev=view.rev, ref_kind=parsed.ref_kind,
        verified_by=pin.verified_by, manifest=manifest, warnings=pin.warnings, view=view,
        location=pin.location or manifest.location,
    )
    res.expiries = pin.expiries
    return res


def _learnt_size(size: int | None, path: Path | None) -> int | None:
    """The pinned size; for a pin without one (an imported bundle), the size of its verified bytes."""
    if size is not None or path is None:
        return size
    try:
        return path.stat().st_size
    except OSError:
        return None


def _describe_directory(view: RegistryView, parsed: PedataURI, pin: _Pin, manifest: Manifest) -> Resolution:
    """A whole directory (its cached tree, if complete) or the one file ``;path=`` names."""
    if parsed.path is not None:
        entry, entries = dirresolve.select(view, parsed, manifest)
        check_tombstone(view, parsed, entry.sha256)
        sha256, size, md5 = entry.sha256, entry.size, entry.md5
        hit = cache.lookup(sha256, size)
    else:
        entries = dirresolve.listing(view, manifest)
        dirresolve.refuse_revoked(str(parsed), view, entries)
        sha256, size, md5 = pin.sha256, pin.size, manifest.md5
        hit = dirresolve.tree_lookup(sha256)
        if hit is None and not dirresolve.missing_objects(entries):
            hit = dirresolve.build_tree(sha256, entries)  # every object cached: no network needed
    return Resolution(
        uri=str(parsed), namespace=parsed.namespace, name=parsed.name, sha256=sha256,
        manifest_sha256=pin.manifest_sha256, size=size, md5=md5, path=hit,
        source="cache" if hit else None, registry=view.location, rev=view.rev, ref_kind=parsed.ref_kind,
        verified_by=pin.verified_by, manifest=manifest, warnings=pin.warnings, view=view,
        directory_sha256=pin.sha256, inner_path=parsed.path, entries=entries,
    )


def resolve(
    uri: str | PedataURI,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    offline: bool = False,
    trusted_root: str | None = None,
    log: bool = True,
    require_signed: bool = False,
) -> Resolution:
    """Resolve ``uri`` and make sure its verified bytes are in the local cache."""
    res = describe(uri, registry, rev, offline=offline, trusted_root=trusted_root, require_signed=require_signed)
    view = res.view
    assert view is not None
    if res.path is None and res.entries is not None and res.inner_path is None and not offline:
        tree = fetch_directory(view, res.uri, res.sha256, res.entries)
        res.path, res.source = tree.path, tree.source
    if res.path is None:
        if offline:
            raise OfflineError(
                f"offline: {res.uri} (sha256 {res.sha256}{'' if res.size is None else f', {res.size} bytes'}) is not in the local cache"
                f" {cache.cache_dir()}; run 'pedata get {res.uri}{_registry_arg(registry)}' once online"
            )
        if res.location or not res.md5:  # external or adopted bytes: external.py
            from dvc_pedata.resolver.external import (  # lazy: ssl/urllib; only external (hf://, https://) fetches pay for them
                fetch_pin,
            )

            got = fetch_pin(view, res)
        else:
            got = fetch(view, uri=res.uri, sha256=res.sha256, md5=res.md5, size=res.size)
        res.path, res.source = got.path, got.source
        if res.entries is None:
            res.size = _learnt_size(res.size, res.path)
    if log:
        log_access(view, res, offline)
    _remember(view, res, uri if isinstance(uri, str) else str(uri), trusted_root)
    return res


def _registry_arg(registry: str | os.PathLike[str] | None) -> str:
    """`` --registry X`` for a suggested command, when the user named the registry (else nothing)."""
    if registry is None:
        return ""
    import shlex

    return f" --registry {shlex.quote(os.fspath(registry))}"


def _remember(view: RegistryView, res: Resolution, uri: str, trusted_root: str | None) -> None:
    """Write the warm-cache memo (warm.py) for a plain cached file read from a work tree."""
    if view.reads is None or res.entries is not None or res.path is None or res.size is None:
        return
    if res.path != cache.object_path(res.sha256) or (view.config.get("audit") or {}).get("remote"):
        return  # a directory tree, or every access must also reach the remote audit trail

    not_after = min((parse_time(e, "expiry").timestamp() for e in res.expiries), default=None)
    roots = tuple(sorted(rel.rsplit("/", 1)[1] for rel, digest in view.reads.items()
                         if rel.startswith(layout.ROOTS + "/") and digest is not None))  # an absent root 1: no listing
    log = {"uri": res.uri, "sha256": res.sha256, "manifest_sha256": res.manifest_sha256,
           "name": f"{res.namespace}/{res.name}"}
    warm.record(
        top=str(view.root), uri=uri, trusted_root=trusted_root, files=dict(view.reads),
        root_files=roots or None, not_after=not_after, obj=str(res.path), size=res.size,
        warnings=res.warnings, log=log,
    )


def log_access(view: RegistryView, res: Resolution, offline: bool) -> None:
    """Append the access-log line for ``res`` (and the remote audit object, if the registry asks)."""
    entry = access_log.Access(
        time=access_log.now_text(), user=access_log.current_user(), uri=res.uri, sha256=res.sha256,
        manifest_sha256=res.manifest_sha256, name=f"{res.namespace}/{res.name}", source=res.source or "",
        registry=res.registry, rev=res.rev,
    )
    access_log.append(entry)
    audit = view.config.get("audit") or {}
    if audit.get("remote") and not offline:
        access_log.append_remote(view.root, view.rev, view.config.get("remote"), entry)




# -- public API ---------------------------------------------------------------------------------




