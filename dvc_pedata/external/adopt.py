"""``pedata adopt``: move an external artifact's verified bytes into the registry's DVC remote.

Identity does not move: the artifact keeps its sha256, and the pinned manifest (and every signed
channel or release that names it) stays byte for byte as it was. What adoption adds, all
git-tracked:

* ``adopted/<ns>/<name>/<sha256>/<file>.dvc`` — ``dvc add`` of the bytes (the file itself is
  git-ignored and pushed to the DVC remote);
* ``adopted/<ns>/<name>/<sha256>.json`` — the adoption record: md5, ``.dvc`` file, remote, the
  origin location, and the manifest of the adopted copy with its sidecar schema read from the
  bytes (kind ``adoption``, schema ``adoption.schema.json``);
* a new version of channel ``latest`` when it pins these bytes, whose pin differs only in its
  ``location`` (now ``{"type": "dvc", "md5": ..., "dvcfile": ...}``);
* with ``sign`` (promoter keys), the same for every *signed* channel of the namespace that pins
  these bytes under this name (``bundle`` after ``pedata import-bundle``, ``next``, ...): a new
  version signed by those keys, written only if it meets the promoter threshold. A channel whose
  current version is not trusted (under the threshold, or expired) is never re-signed: adoption
  moves bytes, it does not create trust. Without ``sign`` those channels are left as they are
  (``kept``); they already resolve from DVC through the adoption record. A channel version not
  yet committed is replaced, not chained onto (``verify`` wants every ``prev`` in git history).

Before anything is fetched or written, adopt checks the ``sign`` keys and that the DVC remote
it pushes to exists; if the copy, ``dvc add`` or ``dvc push`` still fails, what it wrote is taken
back (:mod:`dvc_pedata.adopt_guard`).

The resolver reads the adoption record first, so every pin with this sha256 — including signed
releases that still record the ``hf://`` origin — resolves from DVC with no HTTP at all; the
origin is used only if no DVC source has the bytes. ``pedata verify`` checks the record (see
:mod:`dvc_pedata.checks.external`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from dvc_pedata.base import atomic, gitio
from dvc_pedata.base.hashing import FileDigest
from dvc_pedata.base.timeutil import is_expired
from dvc_pedata.errors import IntegrityError, PedataError, SignatureError
from dvc_pedata.external.adopt_guard import checked_remote, undo_on_failure
from dvc_pedata.model import filekind, layout
from dvc_pedata.model.documents import Adoption, Channel, new_body
from dvc_pedata.model.names import LATEST
from dvc_pedata.model.uri import parse
from dvc_pedata.publish.channels import advance
from dvc_pedata.registry.lock import registry_lock
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.revoked import RevokedIndex, refuse_upload
from dvc_pedata.resolver.external import adoption_path, location_of
from dvc_pedata.resolver.resolve import resolve
from dvc_pedata.trust.signing import check_threshold
from dvc_pedata.trust.signing import sign as sign_doc


@dataclass
class AdoptResult:
    uri: str
    namespace: str
    name: str
    sha256: str
    md5: str
    size: int
    path: str
    dvcfile: str
    record: str
    remote: str | None
    origin: dict[str, Any]
    pushed: int
    created: bool  # False: already adopted (channels may still have moved, with sign)
    channels: dict[str, int] = field(default_factory=dict)  # "<ns>/<channel>" -> new version
    kept: dict[str, str] = field(default_factory=dict)  # "<ns>/<channel>" -> why it still names the origin

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _file_name(loc_obj: dict[str, Any], name: str) -> str:
    loc = location_of(loc_obj)
    raw = loc.path if loc is not None and loc.type == "hf" else unquote(urlsplit(str(loc_obj.get("uri", ""))).path)
    base = PurePosixPath(raw or "").name
    return base if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", base or "") else f"{name}.bin"


def _copy_verified(src: Path, dest: Path, sha256: str) -> int:
    """Copy ``src`` to ``dest`` hashing as it goes; the cache only stats on a hit, so re-check here."""
    h = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, atomic.staged_file(dest) as (fout, _):
        for chunk in iter(lambda: fin.read(1 << 20), b""):
            h.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        if h.hexdigest() != sha256:
            raise IntegrityError(f"cached object {src} hashes to {h.hexdigest()}, not {sha256}; remove it and retry")
    return size


def _promoters(reg: Registry, ns: str, refs: list[str] | None) -> tuple[list[Any], Any]:
    """Load ``--sign`` keys and check, before any work, that together they meet the promoter threshold."""
    if not refs:
        return [], None
    from dvc_pedata.trust.root import (
        load_role_signers,  # lazy: cryptography; only signed refs and signing pay for it
    )

    signers, root = load_role_signers(reg, refs, "promoter")
    probe = Channel(new_body("channel", namespace=ns, channel="probe", version=1, prev=None, expires=None, artifacts={}), [])
    for s in signers:
        sign_doc(probe, s)
    problems = check_threshold(probe, root, "promoter", ns)
    if problems:
        raise SignatureError(f"--sign: {'; '.join(problems)} (signed channels are re-signed at the promoter threshold)")
    return signers, root


def _channel_names(reg: Registry, ns: str) -> list[str]:
    folder = reg.root / layout.CHANNELS / ns
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return [LATEST, *[n for n in names if n != LATEST]] if LATEST in names else names


def _move_channels(reg: Registry, ns: str, name: str, sha256: str, md5: str, dvcfile: str,
                   signers: list[Any], root: Any, result: AdoptResult) -> list[str]:
    """Give every channel pinning these bytes (``latest``; signed ones with ``signers``) a DVC location.

    Every new document is built, signed and checked before any is written. Returns the paths written.
    """
    location = {"type": "dvc", "md5": md5, "dvcfile": dvcfile}
    docs: list[Channel] = []
    for channel in _channel_names(reg, ns):
        current = reg.load_channel(ns, channel)
        pin = current.artifacts.get(name) if current is not None else None
        if current is None or pin is None or pin["sha256"] != sha256 or (pin.get("location") or {}).get("type") == "dvc":
            continue
        key = f"{ns}/{channel}"
        if channel != LATEST:
            if not signers:
                result.kept[key] = "signed channel: re-run adopt with --sign PROMOTER_KEY, or promote, to record the DVC location"
                continue
            problems = check_threshold(current, root, "promoter", ns)
            if problems or is_expired(current.expires):
                why = "; ".join(problems) if problems else f"expired at {current.expires}"
                result.kept[key] = f"version {current.version} is not trusted ({why}), so adopt does not re-sign it"
                continue
        doc = advance(reg, ns, channel, {name: {**pin, "location": location}}, expires=current.expires)
        if doc is None:
            continue
        if channel != LATEST:
            for s in signers:
                sign_doc(doc, s)
            problems = check_threshold(doc, root, "promoter", ns)
            if problems:
                raise SignatureError(f"channel {key} version {doc.version}: {'; '.join(problems)}; nothing was written")
        docs.append(doc)
    written = []
    for doc in docs:
        path = reg.channel_path(ns, doc.body["channel"])
        doc.save(path)
        written.append(reg.rel(path))
        result.channels[f"{ns}/{doc.body['channel']}"] = doc.version
    return written


@dataclass
class AdoptPlan:
    """What ``adopt`` checked before writing anything: the keys, the remote, the verified bytes."""

    reg: Registry
    res: Any  # the resolver's Resolution: every trust check passed, the bytes verified in the cache
    remote: str | None
    signers: list[Any]
    trust_root: Any
    origin: dict[str, Any]
    record_rel: str


def plan_adopt(reg: Registry, ref: str, remote: str | None, push: bool, sign: list[str] | None) -> AdoptPlan:
    """Check the keys and the remote, then resolve ``ref`` (verified bytes land in the resolver's
    cache, never in the registry): a failure here leaves the registry untouched."""
    uri = parse(ref, default_ref=LATEST)
    signers, trust_root = _promoters(reg, reg.namespace(uri.namespace), sign)
    remote = checked_remote(reg, remote, push)  # a missing remote fails here, before any fetch or write
    res = resolve(uri, reg.root, log=False)  # every trust check, then verified bytes in the cache
    if not res.location:
        raise PedataError(f"{res.uri}: sha256 {res.sha256} is not an external pin (its bytes already live in the DVC remote)")
    record_rel = adoption_path(res.namespace, res.name, res.sha256)
    origin = dict(res.location)
    if origin.get("type") == "dvc" and not (reg.root / record_rel).is_file():
        raise PedataError(f"{res.uri}: the pin already names a DVC location but {record_rel} is missing")
    return AdoptPlan(reg, res, remote, signers, trust_root, origin, record_rel)


def adopt(ref: str, root: Path | str = ".", *, remote: str | None = None, push: bool = True,
          sign: list[str] | None = None) -> AdoptResult:
    """Copy the external artifact ``ref`` names into the registry's DVC remote (see module doc).

    ``sign``: promoter keys to re-sign the signed channels that pin these bytes with the DVC
    location (checked against the promoter threshold before anything is done).
    """
    todo = plan_adopt(Registry.find(root), ref, remote, push, sign)
    if (todo.reg.root / todo.record_rel).is_file():
        return _resume_adopt(todo)
    return _apply_adopt(todo, push)


def _resume_adopt(todo: AdoptPlan) -> AdoptResult:
    """Adopted before: only the channels that still name the external location move."""
    reg, res = todo.reg, todo.res
    rec = Adoption.load(reg.root / todo.record_rel, todo.record_rel)
    result = AdoptResult(res.uri, res.namespace, res.name, res.sha256, rec.md5, rec.size, rec.path, rec.dvcfile,
                         todo.record_rel, rec.body["remote"], rec.body["origin"], 0, False)
    with registry_lock(reg.state_dir):
        written = _move_channels(reg, res.namespace, res.name, res.sha256, rec.md5, rec.dvcfile, todo.signers,
                                 todo.trust_root, result)
        if written:
            gitio.add(reg.root, written)
    return result


def _apply_adopt(todo: AdoptPlan, push: bool) -> AdoptResult:
    """Copy the verified bytes into the work tree, ``dvc add`` and push them, write the adoption
    record, move the channels; a failure up to the push takes back the copy and the .dvc file."""
    reg, res, remote, origin, record_rel = todo.reg, todo.res, todo.remote, todo.origin, todo.record_rel
    ns, name, sha256 = res.namespace, res.name, res.sha256
    assert res.path is not None
    existing = reg.root / record_rel
    data_rel = f"adopted/{ns}/{name}/{sha256}/{_file_name(origin, name)}"
    from dvc_pedata.dvcio.repo import (
        DvcRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )
    from dvc_pedata.publish.manifests import (  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
        build_manifest,
        describe_file,
    )

    gitignore_rel = f"{PurePosixPath(data_rel).parent}/.gitignore"
    with registry_lock(reg.state_dir), DvcRepo(reg.root) as repo:
        # a failure up to the push (copy, sidecar, dvc add, dvc push) takes back the copy and .dvc file
        with undo_on_failure(reg.root, [data_rel, f"{data_rel}.dvc"], [gitignore_rel]):
            data_abs = reg.root / data_rel
            size = _copy_verified(res.path, data_abs, sha256)
            if res.size is not None and size != res.size:
                raise IntegrityError(f"{res.uri}: {size} bytes, the pin says {res.size}")
            # the verified bytes decide when they prove a format (an imported name may say nothing)
            fmt = filekind.of_file(data_abs, res.manifest.format)
            meta = {"format": fmt} if fmt not in ("binary", "directory") else {}
            # read once, complete (build_manifest caps it); a sidecar that cannot be read fails before DVC is touched
            described = describe_file(data_abs, meta, limit=None)
            dvcfile = repo.add(data_rel)
            info = repo.out_info(data_rel)
            assert info.md5 is not None
            # resolve() refused a revoked sha256; a tombstone naming the same DVC object (a purge
            # of these bytes under another name) must stop the push too
            refuse_upload(RevokedIndex(reg), data_rel, md5=info.md5, sha256=sha256, action="adopt")
            pushed = repo.push([data_rel], remote=remote) if push else 0
            manifest, _ = build_manifest(  # embedded in the adoption record, never stored as a manifest
                root=reg.root, namespace=ns, name=name, out=info, file_digest=FileDigest(sha256, size),
                meta=meta, git_commit=gitio.head(reg.root), licence=res.manifest.licence, companions=False,
                described=described,
            )
        record = Adoption(new_body(
            "adoption", namespace=ns, name=name, sha256=sha256, size=size, md5=info.md5, path=data_rel,
            dvcfile=dvcfile, remote=remote, origin=origin, pinned_manifest_sha256=res.manifest_sha256,
            manifest=manifest.body,
        ))
        result = AdoptResult(res.uri, ns, name, sha256, info.md5, size, data_rel, dvcfile, record_rel, remote,
                             origin, pushed, True)
        atomic.create_exclusive(existing, record.to_bytes())
        written = [record_rel, dvcfile]
        gitignore = Path(dvcfile).parent / ".gitignore"
        if (reg.root / gitignore).is_file():
            written.append(gitignore.as_posix())
        gitio.add(reg.root, written)
        channels = _move_channels(reg, ns, name, sha256, info.md5, dvcfile, todo.signers, todo.trust_root, result)
        if channels:
            gitio.add(reg.root, channels)
    return result
