"""From a reference (URI or manifest path) to a pin and its manifest, without trust checks.

``schema`` and ``diff`` only describe; the resolver adds signature, status and revocation checks
before it ever serves bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.errors import IntegrityError, NotFoundError, PedataError
from dvc_pedata.model import dirdiff, layout, schema_diff
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.fields import beside, complete_schema
from dvc_pedata.model.listing import file_view, find_entry, load_listing
from dvc_pedata.model.names import LATEST
from dvc_pedata.model.uri import PedataURI, is_uri, parse
from dvc_pedata.registry.checkout import registry_root
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.shaprefix import channel_hint, did_you_mean, expand_in_registry


def pin_for(reg: Registry, uri: PedataURI) -> dict[str, Any]:
    """The pin (sha256, manifest_sha256, size[, location]) that ``uri`` names in ``reg``."""
    ns = reg.namespace(uri.namespace)
    if uri.ref_kind == "sha256" and len(uri.ref) < 64:
        uri = expand_in_registry(reg, uri)  # the full digest; the manifest is checked against it below
    if uri.ref_kind == "sha256":
        manifest = reg.load_manifest(ns, uri.name, uri.ref)
        return {"sha256": uri.ref, "manifest_sha256": manifest.digest, "size": manifest.size}
    if uri.ref_kind == "channel":
        ch = reg.load_channel(ns, uri.ref)
        if ch is None:
            names = [p.stem for p in (reg.root / layout.CHANNELS / ns).glob("*.json")]
            versions = [p.stem for p in (reg.root / layout.RELEASES / ns).glob("*.json")]
            raise NotFoundError(f"no channel {ns}/{uri.ref}{channel_hint(ns, uri.ref, names, versions)}")
        pins, where = ch.artifacts, f"channel {ns}/{uri.ref} (version {ch.version})"
    else:
        rel = reg.load_release(ns, uri.ref)
        pins, where = rel.pins, f"release {ns}@{uri.ref}"
    if uri.name not in pins:
        known = ", ".join(sorted(pins)) or "none"
        raise NotFoundError(f"{where} has no artifact {uri.name!r}{did_you_mean(uri.name, pins)} (it pins: {known})")
    return dict(pins[uri.name])


def manifest_for_pin(reg: Registry, ns: str, name: str, pin: dict[str, Any]) -> Manifest:
    """Load the manifest a pin names and check it is the very document the pin was made with."""
    manifest = reg.load_manifest(ns, name, pin["sha256"])
    if manifest.digest != pin["manifest_sha256"]:
        raise IntegrityError(
            f"manifest for {ns}/{name} sha256:{pin['sha256'][:12]} has digest {manifest.digest}, "
            f"but the pin names {pin['manifest_sha256']}"
        )
    if manifest.sha256 != pin["sha256"]:
        raise IntegrityError(f"manifest for {ns}/{name} describes sha256 {manifest.sha256}, not {pin['sha256']}")
    return manifest


def load_manifest_ref(ref: str, root: Path | str = ".") -> Manifest:
    """A manifest from a ``pedata://`` URI (default ref ``latest``) or a manifest file path."""
    if is_uri(ref):
        reg = Registry.find(root)
        uri = parse(ref, default_ref=LATEST)
        manifest = manifest_for_pin(reg, uri.namespace, uri.name, pin_for(reg, uri))
        if uri.path is None:
            return manifest
        return _one_file(reg, uri, manifest)
    path = Path(ref)
    if path.is_file():
        return Manifest.load(path)
    if "://" in ref:
        parse(ref)  # raises the precise URI error
    raise PedataError(f"{ref!r} is neither a pedata:// URI nor a manifest file")


def reader_for_ref(ref: str, root: Path | str = ".") -> Any:
    """Where companion files (a wide table's field list) of ``ref``'s manifest are read from:
    the registry for a URI, the manifest's own folder for a manifest file path."""
    if is_uri(ref):
        return registry_reader(Registry.find(root).root)
    return beside(Path(ref))


def _one_file(reg: Registry, uri: PedataURI, manifest: Manifest) -> Manifest:
    """The file ``;path=`` names inside a directory artifact, from its verified file list."""
    if manifest.format != "directory":
        raise PedataError(f"{uri}: ;path= names a file inside a directory artifact, but this is a {manifest.format} file")
    entries = load_listing(manifest, registry_reader(reg.root))
    return file_view(manifest, find_entry(entries, str(uri.path), str(uri)))


def root_for(registry: str | None, *refs: str) -> Path | str:
    """The registry to read ``refs`` from: ``registry`` (a checkout or git URL; default
    ``$PEDATA_REGISTRY``, else the current one) if any is a URI; manifest file paths alone need
    none (and no fetch), so ``"."``."""
    return registry_root(registry) if any(is_uri(r) for r in refs) else "."


def schema_ref(ref: str, registry: str | None = None) -> tuple[Manifest, dict[str, Any]]:
    """``ref``'s manifest (a URI or a manifest file) and its complete schema: a wide table's every field, checked."""
    root = root_for(registry, ref)
    m = load_manifest_ref(ref, root)
    return m, complete_schema(m, reader_for_ref(ref, root))


@dataclass
class RefDiff:
    """What differs between two artifacts: ``kind`` ``"directory"`` (files added, removed,
    changed: :mod:`dvc_pedata.model.dirdiff`) or ``"schema"`` (:mod:`dvc_pedata.model.schema_diff`)."""

    kind: str
    data: dict[str, Any]


def diff_refs(a: str, b: str, registry: str | None = None) -> RefDiff:
    """Schema, row-count and input differences between the artifacts ``a`` and ``b`` name (URIs or
    manifest files); file differences when either is a directory artifact (then both must be)."""
    root = root_for(registry, a, b)
    ma, mb = load_manifest_ref(a, root), load_manifest_ref(b, root)
    if "directory" in (ma.format, mb.format):
        if ma.format != mb.format:
            raise PedataError(f"cannot diff a {ma.format} artifact with a {mb.format} artifact")
        # a listing is read where its manifest was: beside a manifest file, or from the registry
        # the URIs were resolved in (--registry, not the current folder's)
        return RefDiff("directory", dirdiff.diff_directories(ma, mb, load_listing(ma, reader_for_ref(a, root)),
                                                             load_listing(mb, reader_for_ref(b, root))))
    return RefDiff("schema", schema_diff.diff_manifests(ma, mb, reader_for_ref(a, root), reader_for_ref(b, root)))
