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
  ``location`` (now ``{"type": "dvc", "md5": ..., "dvcfile": ...}``).

The resolver reads the adoption record first, so every pin with this sha256 — including signed
releases that still record the ``hf://`` origin — resolves from DVC with no HTTP at all; the
origin is used only if no DVC source has the bytes. ``pedata verify`` checks the record (see
:mod:`dvc_pedata.checks.external`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from . import atomic, gitio
from .channels import advance
from .documents import Document, new_body
from .errors import IntegrityError, PedataError
from .external import adoption_path, location_of
from .hashing import FileDigest
from .locking import registry_lock
from .registry import Registry
from .uri import parse

LATEST = "latest"


class Adoption(Document):
    """The record ``pedata adopt`` writes; unsigned (bytes are still checked against the pin)."""

    kind = "adoption"
    signed_kind = False

    namespace = property(lambda self: self.body["namespace"])
    name = property(lambda self: self.body["name"])
    sha256 = property(lambda self: self.body["sha256"])
    size = property(lambda self: self.body["size"])
    md5 = property(lambda self: self.body["md5"])
    path = property(lambda self: self.body["path"])
    dvcfile = property(lambda self: self.body["dvcfile"])


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
    created: bool  # False: already adopted, nothing changed
    channels: dict[str, int] = field(default_factory=dict)

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


def adopt(ref: str, root: Path | str = ".", *, remote: str | None = None, push: bool = True) -> AdoptResult:
    """Copy the external artifact ``ref`` names into the registry's DVC remote (see module doc)."""
    from .resolve import resolve

    reg = Registry.find(root)
    uri = parse(ref, default_ref=LATEST)
    res = resolve(uri, reg.root, log=False)  # every trust check, then verified bytes in the cache
    ns, name, sha256 = res.namespace, res.name, res.sha256
    if not res.location:
        raise PedataError(f"{res.uri}: sha256 {sha256} is not an external pin (its bytes already live in the DVC remote)")
    origin = dict(res.location)
    record_rel = adoption_path(ns, name, sha256)
    remote = remote or reg.config.get("remote")
    existing = reg.root / record_rel
    if existing.is_file():
        rec = Adoption.load(existing, record_rel)
        return AdoptResult(res.uri, ns, name, sha256, rec.md5, rec.size, rec.path, rec.dvcfile, record_rel,
                           rec.body["remote"], rec.body["origin"], 0, False)
    if origin.get("type") == "dvc":
        raise PedataError(f"{res.uri}: the pin already names a DVC location but {record_rel} is missing")
    assert res.path is not None
    data_rel = f"adopted/{ns}/{name}/{sha256}/{_file_name(origin, name)}"
    from .dvcio import DvcRepo
    from .manifest import build_manifest, describe_file

    with registry_lock(reg.state_dir), DvcRepo(reg.root) as repo:
        data_abs = reg.root / data_rel
        size = _copy_verified(res.path, data_abs, sha256)
        if res.size is not None and size != res.size:
            raise IntegrityError(f"{res.uri}: {size} bytes, the pin says {res.size}")
        meta = {"format": res.manifest.format} if res.manifest.format not in ("binary", "directory") else {}
        try:
            describe_file(data_abs, meta)  # a sidecar that cannot be read fails before DVC is touched
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                data_abs.unlink()
            raise
        dvcfile = repo.add(data_rel)
        info = repo.out_info(data_rel)
        assert info.md5 is not None
        pushed = repo.push([data_rel], remote=remote) if push else 0
        manifest = build_manifest(
            root=reg.root, namespace=ns, name=name, out=info, file_digest=FileDigest(sha256, size),
            meta=meta, git_commit=gitio.head(reg.root), licence=res.manifest.licence,
        )
        record = Adoption(new_body(
            "adoption", namespace=ns, name=name, sha256=sha256, size=size, md5=info.md5, path=data_rel,
            dvcfile=dvcfile, remote=remote, origin=origin, pinned_manifest_sha256=res.manifest_sha256,
            manifest=manifest.body,
        ))
        atomic.create_exclusive(existing, record.to_bytes())
        written = [record_rel, dvcfile]
        gitignore = Path(dvcfile).parent / ".gitignore"
        if (reg.root / gitignore).is_file():
            written.append(gitignore.as_posix())
        result = AdoptResult(res.uri, ns, name, sha256, info.md5, size, data_rel, dvcfile, record_rel, remote,
                             origin, pushed, True)
        latest = reg.load_channel(ns, LATEST)
        pin = latest.artifacts.get(name) if latest is not None else None
        if pin is not None and pin["sha256"] == sha256 and (pin.get("location") or {}).get("type") != "dvc":
            new_pin = {**pin, "location": {"type": "dvc", "md5": info.md5, "dvcfile": dvcfile}}
            doc = advance(reg, ns, LATEST, {name: new_pin})
            if doc is not None:
                doc.save(reg.channel_path(ns, LATEST))
                written.append(reg.rel(reg.channel_path(ns, LATEST)))
                result.channels[ns] = doc.version
        gitio.add(reg.root, written)
    return result
