"""What a registry's stores must hold: every pinned artifact at HEAD, with its DVC object.

``fsck`` and ``mirror`` work from the same list, so "what mirror copies" and "what fsck checks"
can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dvc_pedata.errors import IntegrityError
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Channel, Manifest, Release
from dvc_pedata.model.listing import is_directory, load_listing, members_with
from dvc_pedata.registry.repo import Registry


@dataclass
class Pinned:
    """One artifact's bytes, as channels and releases pin them."""

    namespace: str
    name: str
    sha256: str
    md5: str | None
    size: int
    pinned_by: list[str] = field(default_factory=list)  # e.g. "channel us/latest", "release us@1.0.0"
    revoked: dict[str, Any] | None = None  # the tombstone's reason/authority/date

    @property
    def uri(self) -> str:
        return f"pedata://{self.namespace}/{self.name}@sha256:{self.sha256}"


def pinned(reg: Registry, namespace: str | None = None) -> list[Pinned]:
    """Every (namespace, name, sha256) pinned by a channel or release in the work tree."""
    if namespace is not None:
        namespace = reg.namespace(namespace)
    found: dict[tuple[str, str, str], Pinned] = {}

    def add(ns: str, pins: dict[str, Any], by: str) -> None:
        if namespace is not None and ns != namespace:
            return
        for name, pin in pins.items():
            key = (ns, name, pin["sha256"])
            if key not in found:
                found[key] = Pinned(ns, name, pin["sha256"], None, int(pin["size"]))
            found[key].pinned_by.append(by)

    for path in reg.iter_channel_paths():
        ch = Channel.load(path, reg.rel(path))
        add(ch.namespace, ch.artifacts, f"channel {ch.namespace}/{ch.channel}")
    for path in reg.iter_release_paths():
        rel = Release.load(path, reg.rel(path))
        add(rel.namespace, rel.pins, f"release {rel.namespace}@{rel.version}")
    out = []
    for (ns, name, sha), p in sorted(found.items()):
        m = reg.load_manifest(ns, name, sha)
        if m.md5 is None:
            raise IntegrityError(f"manifest of {p.uri} records no md5, so its DVC object cannot be located")
        p.md5 = m.md5
        ts = reg.load_tombstone(sha)
        if ts is not None:
            p.revoked = {"reason": ts.reason, "authority": ts.authority, "date": ts.date}
        if m.format == "directory":  # checked file by file: dirmanifest.py

            out.extend(expand_pin(reg, p, m))
            continue
        out.append(p)
    return out


def pinned_folders(pins: list[Pinned]) -> list[tuple[str, str, str]]:
    """``(namespace, name, directory sha256)`` of each directory artifact in ``pins``, once each.

    A folder's files are pinned one by one (above); DVC's ``.dir`` listing of the folder is an
    object of its own that ``dvc pull`` needs, so stores must hold it too.
    """
    seen: dict[tuple[str, str, str], None] = {}
    for p in pins:
        sha = getattr(p, "directory_sha256", "")
        if sha:
            seen.setdefault((p.namespace, p.name, sha), None)
    return list(seen)


def folder_files(reg: Registry, ns: str, name: str, sha256: str) -> tuple[str, set[tuple[str, str]]]:
    """The ``.dir`` md5 of a pinned folder and the ``(relpath, md5)`` pairs its verified listing names."""
    manifest = reg.load_manifest(ns, name, sha256)
    if manifest.md5 is None:
        raise IntegrityError(f"manifest of pedata://{ns}/{name}@sha256:{sha256} records no md5")
    return manifest.md5, {(e.path, e.md5 or "") for e in load_listing(manifest, registry_reader(reg.root))}


def declared_stores(reg: Registry) -> list[str]:
    """The registry's remote (pedata.json ``remote``) then its mirrors, without repeats."""
    out = [reg.config.get("remote") or "storage"]
    out += [m for m in reg.config.get("mirrors") or [] if m not in out]
    return out


def pin_contains(reg: Any, ns: str, name: str, pin: dict[str, Any], sha256: str) -> bool:
    """Whether the directory artifact a pin names holds a file with bytes ``sha256``."""
    path = reg.manifest_path(ns, name, pin["sha256"])
    if not path.is_file():
        return False
    return bool(members_with(Manifest.load(path, reg.rel(path)), registry_reader(reg.root), sha256))


def member_records(reg: Any, sha256: str) -> list[dict[str, Any]]:
    """``{namespace, name, path, md5}`` for every file with bytes ``sha256`` inside a directory artifact.

    Revoking such a file needs its DVC object (to purge) and where it occurs (for the tombstone).
    """
    out: list[dict[str, Any]] = []
    read = registry_reader(reg.root)
    for path in reg.iter_manifest_paths():
        m = Manifest.load(path, reg.rel(path))
        if is_directory(m):
            for e in load_listing(m, read):
                if e.sha256 == sha256:
                    out.append({"namespace": m.namespace, "name": m.name, "path": e.path, "md5": e.md5, "directory_sha256": m.sha256})
    return out


def expand_pin(reg: Any, p: Any, m: Manifest) -> list[Any]:
    """A pinned directory as one pinned entry per distinct file (what ``fsck`` and ``mirror`` check).

    Each keeps the directory's ``pinned_by``; its ``uri`` names the file by ``;path=``, and a
    tombstone on the file's own bytes marks it revoked.
    """
    from dataclasses import dataclass


    @dataclass
    class MemberPinned(Pinned):
        directory_sha256: str = ""
        path: str = ""

        @property
        def uri(self) -> str:
            return f"pedata://{self.namespace}/{self.name}@sha256:{self.directory_sha256};path={self.path}"

    out: list[Any] = []
    seen: set[str] = set()
    for e in load_listing(m, registry_reader(reg.root)):
        if e.sha256 in seen:
            continue
        seen.add(e.sha256)
        mp = MemberPinned(p.namespace, p.name, e.sha256, e.md5, e.size, list(p.pinned_by), p.revoked, m.sha256, e.path)
        ts = reg.load_tombstone(e.sha256)
        if ts is not None:
            mp.revoked = {"reason": ts.reason, "authority": ts.authority, "date": ts.date}
        out.append(mp)
    return out
