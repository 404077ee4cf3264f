"""PolicyEngine bundle manifests (``policyengine`` 6.11 ``data/bundle/manifest.json``, schema 2).

Export: a release becomes a bundle manifest PolicyEngine's own code accepts — ``bundle_version``
and ``policyengine_version`` at the top (its bundle loader), the release as ``data_releases.<ns>``
(its ``CountryReleaseManifest``: ``policyengine_version`` and ``model_package`` from flags or the
release's ``certified_for``, ``repo_type`` only ``model``/``dataset``), with
``certified_data_artifact.uri`` a content-addressed ``pedata://…@sha256:…`` URI, plus its TRO
sidecar. pedata's own coordinates go only where the format has room (keys its models ignore, a
``preservation_mirrors`` entry). Import: a bundle's certified datasets and its
``dataset_overlays`` become *external* pins — sha256 known, bytes elsewhere — with a manifest each
and a channel that pins them (signed, or merged into the unsigned ``latest``), so a registry can
take over.

External manifests record only what the bundle states: no schema (it is not in the bundle), the
size only when the entry states it (else ``null``: the resolver learns it when it fetches and
checks the sha256), the format from the file name (:mod:`dvc_pedata.filekind`). The location is
``{"type": "hf", "uri", "repo_id", "repo_type", "revision", "path"}`` for Hugging Face entries
(repository fields, an ``hf://`` ``uri``, or both, agreeing) and ``{"type": "https", "uri"}`` for
an entry whose ``uri`` is a plain ``https://`` URL; every entry's location is checked
(:mod:`dvc_pedata.bundle_entry`) before anything is written.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import DocumentError, NotFoundError, PedataError, UsageError
from dvc_pedata.model import filekind, layout
from dvc_pedata.model.canonical import loads_strict, pretty_bytes
from dvc_pedata.model.documents import Manifest, new_body
from dvc_pedata.model.names import LATEST, check_name
from dvc_pedata.publish.channels import advance, pin_of
from dvc_pedata.registry.lock import registry_lock
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.revoked import RevokedIndex, refuse_upload
from dvc_pedata.releases.citation import Cited
from dvc_pedata.releases.cite import Output, check_output_file, cited, json_bytes
from dvc_pedata.releases.tro import policyengine_tro
from dvc_pedata.releases.tro_sign import dsse_envelope
from dvc_pedata.trust.signing import sign as sign_doc


# -- locations ------------------------------------------------------------------------------------
def hf_https(loc: dict[str, Any]) -> str:
    """The https download URL of a Hugging Face file location."""
    prefix = {"dataset": "datasets/", "space": "spaces/"}.get(loc.get("repo_type") or "model", "")
    return f"https://huggingface.co/{prefix}{loc['repo_id']}/resolve/{loc['revision']}/{loc['path']}"


def _remote_https_base(reg: Registry) -> str | None:
    """The default DVC remote as an https base URL, when it is served over https (s3/gs mapped)."""
    cfg = configparser.ConfigParser()
    try:
        cfg.read(reg.root / ".dvc" / "config")
    except configparser.Error:
        return None
    name = reg.config.get("remote") or cfg.get("core", "remote", fallback=None)
    url = cfg.get(f"'remote \"{name}\"'", "url", fallback=None) if name else None
    if not url:
        return None
    if url.startswith("https://"):
        return url.rstrip("/")
    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        return f"https://{bucket}.s3.amazonaws.com" + (f"/{prefix.strip('/')}" if prefix.strip("/") else "")
    if url.startswith(("gs://", "gcs://")):
        return "https://storage.googleapis.com/" + url.split("://", 1)[1].strip("/")
    return None


def https_location(reg: Registry, manifest: Manifest, pin: dict[str, Any], base_url: str | None) -> str | None:
    """An https URL for an artifact's bytes: its external location, else its DVC object over https."""
    loc = pin.get("location") or manifest.location
    if loc:
        if loc.get("type") == "hf":
            return hf_https(loc)
        if loc.get("type") == "https":
            return loc["uri"]
    base = base_url.rstrip("/") if base_url else _remote_https_base(reg)
    md5 = manifest.md5
    if base and md5 and not md5.endswith(".dir"):
        return f"{base}/files/md5/{md5[:2]}/{md5[2:]}"
    return None


# -- export ---------------------------------------------------------------------------------------
def default_dataset(c: Cited, dataset: str | None) -> str:
    """The certified dataset: the one asked for, else the only pin, else the first HDF5 pin, else the first."""
    pins = c.release.pins
    if dataset is not None:
        if dataset not in pins:
            raise NotFoundError(f"release {c.ns}@{c.version} has no artifact {dataset!r} (it pins: {', '.join(sorted(pins))})")
        return dataset
    h5 = [n for n in sorted(pins) if c.manifests[n].format == "hdf5"]
    return h5[0] if h5 else sorted(pins)[0]


@dataclass(frozen=True)
class PackagePin:
    """A package and version (PolicyEngine's ``PackageVersion``: ``name``, ``version``)."""

    name: str
    version: str


def policyengine_requirements(c: Cited, policyengine_version: str | None,
                              model_package: str | None) -> tuple[str, PackagePin]:
    """(policyengine version, model package) for the export, or one error naming all that is missing.

    PolicyEngine's ``CountryReleaseManifest`` requires both and pedata cannot know them: the model
    package comes from ``--model-package`` else the release's ``certified_for`` (the two must agree:
    the block's certification states it); the policyengine
    version (the bundle carrier the block is meant for) only from ``--policyengine-version``.
    """
    from dvc_pedata.releases.certify import (
        parse_certified_for,  # lazy: cryptography; only signed refs and signing pay for it
    )

    cf = c.release.body.get("certified_for") or None
    pkg: PackagePin | None = None
    if model_package is not None:
        try:
            parsed = parse_certified_for(model_package)
        except UsageError:
            raise UsageError(f"--model-package {model_package!r}: expected PACKAGE==VERSION, like policyengine-us==2.2.1") from None
        assert parsed is not None
        pkg = PackagePin(parsed["package"], parsed["version"])
        if cf and (cf["package"], cf["version"]) != (pkg.name, pkg.version):
            # the block's certification would claim a compatibility nobody certified
            raise UsageError(f"release {c.ns}@{c.version} is certified for {cf['package']}=={cf['version']};"
                             f" --model-package {model_package} disagrees (leave it out, or certify a new release"
                             " with --certified-for)")
    elif cf:
        pkg = PackagePin(cf["package"], cf["version"])
    missing = []
    if not policyengine_version:
        missing.append("--policyengine-version VERSION (the policyengine release whose bundle carries this block,"
                       " e.g. 6.11.1)")
    if pkg is None:
        missing.append(f"--model-package PACKAGE==VERSION (release {c.ns}@{c.version} was certified without"
                       " --certified-for)")
    if missing:
        raise UsageError("PolicyEngine requires policyengine_version and model_package; give "
                         + " and ".join(missing))
    assert policyengine_version is not None and pkg is not None
    return policyengine_version, pkg


def _dataset_entry(c: Cited, name: str, pin: dict[str, Any], repo_id: str, url: str | None) -> dict[str, Any]:
    """One ``datasets`` entry (PolicyEngine's ``ArtifactPathReference``).

    Bytes that live on Hugging Face (an imported pin) keep their repository coordinates, so
    PolicyEngine can still download them; anything else names the registry as a ``dataset``
    repository (``repo_type`` is ``model`` or ``dataset`` in PolicyEngine's model) at the release
    tag. pedata's own coordinates go in keys the model ignores (``pedata_uri``) and, when the
    bytes are served over https, in a ``preservation_mirrors`` entry of kind ``pedata``.
    """
    m = c.manifests[name]
    loc = pin.get("location") or m.location or {}
    if loc.get("type") == "hf":
        entry = {"path": loc["path"], "repo_id": loc["repo_id"], "revision": loc["revision"],
                 "sha256": pin["sha256"], "repo_type": loc.get("repo_type") or "model"}
    else:
        entry = {"path": m.body.get("path") or name, "repo_id": repo_id, "revision": c.tag.name,
                 "sha256": pin["sha256"], "repo_type": "dataset"}
    entry["pedata_uri"] = c.uri(name)
    if url:
        entry["preservation_mirrors"] = [{"kind": "pedata", "url": url, "sha256": pin["sha256"]}]
    return entry


def policyengine_block(c: Cited, *, policyengine_version: str, model_package: PackagePin, dataset: str | None = None,
                       base_url: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """(``data_releases.<ns>`` block, https locations by TRO key) for a release."""
    r = c.release
    name = default_dataset(c, dataset)
    cf = r.body["certified_for"] or {}
    build_id = f"pedata-{c.ns}-{c.version}-{r.digest[:8]}"
    certified_by = "pedata certify (certifier keys " + ", ".join(s["keyid"][:12] for s in r.signatures) + ")"
    certification = {
        "built_with_model_version": cf.get("version"),
        "certified_by": certified_by,
        "certified_for_model_version": model_package.version,
        "compatibility_basis": f"pedata_release_{r.body['compat_mode']}",
        "data_build_id": build_id,
        "release_status": r.status,
    }
    package = {"name": c.settings.get("package") or f"pedata-{c.ns}", "version": c.version}
    repo_id = c.swhids.origin or str(c.reg.root.name)
    datasets = {}
    locations: dict[str, str] = {}
    for n, pin in sorted(r.pins.items()):
        url = https_location(c.reg, c.manifests[n], pin, base_url)
        datasets[n] = _dataset_entry(c, n, pin, repo_id, url)
        if url:
            locations[f"data/{''.join(ch if ch.isalnum() else '_' for ch in n).strip('_').lower()}"] = url
    block: dict[str, Any] = {
        "build_id": build_id,
        "bundle_id": f"{c.ns}-{c.version}",
        "certification": certification,
        "certified_data_artifact": {"build_id": build_id, "data_package": package, "dataset": name,
                                    "sha256": r.pins[name]["sha256"], "uri": c.uri(name)},
        "country_id": c.ns,
        "data_package": {**package, "release_manifest_path": c.release_path,
                         "release_manifest_revision": c.tag.name, "repo_id": repo_id, "repo_type": "dataset"},
        "data_producer": "pedata",
        "datasets": datasets,
        "default_dataset": name,
        "default_dataset_uri": c.uri(name),
        "model_package": {"name": model_package.name, "version": model_package.version},
        "policyengine_version": policyengine_version,
        "release_status": r.status,
        "schema_version": 1,
        "version": c.version,
    }
    return block, locations


def policyengine_export(c: Cited, *, policyengine_version: str | None = None, model_package: str | None = None,
                        bundle_version: str | None = None, dataset: str | None = None, base_url: str | None = None,
                        manifest_location: str = "manifest.json") -> tuple[bytes, dict[str, Any]]:
    """(bytes of a bundle manifest ``{"bundle_version", "policyengine_version", "data_releases": {ns: block}, "pedata"}``,
    its TRO sidecar, whose location for the manifest is ``manifest_location``, relative to the TRO).

    The top level is what PolicyEngine's bundle loader needs (``bundle_version`` or
    ``policyengine_version``); ``pedata`` (a key it ignores) names the registry, tag and release digest.
    """
    import hashlib


    pe_version, pkg = policyengine_requirements(c, policyengine_version, model_package)
    block, locations = policyengine_block(c, policyengine_version=pe_version, model_package=pkg,
                                          dataset=dataset, base_url=base_url)
    doc = {
        "bundle_version": bundle_version or pe_version,
        "data_releases": {c.ns: block},
        "pedata": {"registry": c.swhids.origin, "release": f"{c.ns}@{c.version}", "tag": c.tag.name,
                   "release_path": c.release_path, "release_digest": f"sha256:{c.release.digest}"},
        "policyengine_version": pe_version,
        "schema_version": 2,
    }
    data = pretty_bytes(doc)
    tro = policyengine_tro(c, locations, hashlib.sha256(data).hexdigest(), block["certification"],
                           manifest_location=manifest_location)
    return data, tro




def policyengine_cite(ref: str, output: str | None = None, registry: str | None = None, *,
                      policyengine_version: str | None = None, model_package: str | None = None,
                      bundle_version: str | None = None, dataset: str | None = None, base_url: str | None = None,
                      sign: list[str] | None = None) -> Output:
    """``pedata cite --format policyengine``: the bundle manifest of release ``ref``, for stdout;
    with ``output`` (a file) it, the TRO next to it (``<ns>.trace.tro.jsonld``), and with ``sign``
    (certifier keys) the TRO's DSSE envelope (``<ns>.trace.tro.dsse.json``), to write.

    Keys are loaded and every check made before anything is written.
    """
    check_output_file(output)
    c = cited(ref, registry)
    out = Path(output) if output else None
    # PolicyEngine's TRO schema admits relative locations of the form [a-z_]+.json only.
    if out is not None and not re.fullmatch(r"[a-z_]+\.json", out.name):
        raise UsageError(f"-o {output}: PolicyEngine's TRO schema admits a relative manifest location only as"
                         " [a-z_]+.json; name the file like manifest.json")
    if sign and out is None:
        raise UsageError("--sign writes the signed TRO next to the bundle manifest: give -o FILE")
    data, tro = policyengine_export(c, policyengine_version=policyengine_version, model_package=model_package,
                                    bundle_version=bundle_version, dataset=dataset, base_url=base_url,
                                    manifest_location=out.name if out else "manifest.json")
    if out is None:
        return Output(stdout=data)
    tro_bytes = json_bytes(tro)
    files = [(out, data), (out.parent / f"{c.ns}.trace.tro.jsonld", tro_bytes)]
    if sign:
        files.append((out.parent / f"{c.ns}.trace.tro.dsse.json", dsse_envelope(c.reg, c.ns, tro_bytes, sign, c.release, c.release_path)))
    return Output(files=files)


# -- import ---------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    namespace: str
    channel: str
    version: int | None
    commit: str | None
    pins: dict[str, str] = field(default_factory=dict)
    manifests: list[str] = field(default_factory=list)
    overlays: list[str] = field(default_factory=list)  # pins from dataset_overlays (not certified by the bundle)
    signed: bool = False
    warnings: list[str] = field(default_factory=list)  # for the user; not part of to_json()

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "channel": self.channel, "version": self.version,
                "commit": self.commit, "pins": self.pins, "manifests": self.manifests, "overlays": self.overlays,
                "signed": self.signed}


def _entry_docs(ns: str, name: str, entry: Any, default_repo_type: str | None,
                producer: dict[str, Any]) -> tuple[Manifest, dict[str, Any]]:
    """(manifest, pin) for one dataset entry; its location is checked here, before anything is written.

    ``bundle_entry`` loads :mod:`external` (the HTTP client), so only import pays for it, not export.
    """
    from dvc_pedata.external.bundle_entry import (  # lazy: ssl/urllib; only external (hf://, https://) fetches pay for them
        entry_location,
    )

    check_name(name, "dataset name")
    sha = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise DocumentError("no valid sha256")
    loc, file_path = entry_location(entry, default_repo_type)
    fmt, media = filekind.by_name(file_path)
    body = new_body("manifest", namespace=ns, name=name, path=file_path, size=_entry_size(entry), format=fmt,
                    media_type=media, digest={"sha256": sha, "md5": None},
                    schema={"external": True, "note": "schema not stated by the source bundle"},
                    inputs={"deps": [], "params": {}, "locks": {}, "composite_digest": None},
                    producer=producer, licence=None, location=loc)
    m = Manifest(body)
    m.validate()
    return m, pin_of(sha, m.digest, m.size, loc)  # type: ignore[arg-type]


def _entry_size(entry: dict[str, Any]) -> int | None:
    """The size an entry states (``size_bytes``, as PolicyEngine's release artifacts name it, or ``size``)."""
    for key in ("size_bytes", "size"):
        value = entry.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DocumentError(f"{key} must be a whole number of bytes, not {value!r}")
        return value
    return None


def _country_block(bundle: Any, ns: str, country: str | None) -> tuple[str, dict[str, Any]]:
    if not isinstance(bundle, dict) or not isinstance(bundle.get("data_releases"), dict):
        raise DocumentError("not a PolicyEngine bundle manifest (no data_releases)")
    releases = bundle["data_releases"]
    key = country or (ns if ns in releases else (next(iter(releases)) if len(releases) == 1 else None))
    if key is None:
        raise UsageError(f"the bundle has data releases for {', '.join(sorted(releases))}: choose one with --country")
    if key not in releases:
        raise NotFoundError(f"the bundle has no data release for {key!r} (it has: {', '.join(sorted(releases))})")
    return key, releases[key]


def import_bundle(
    manifest_path: Path | str,
    namespace: str,
    *,
    country: str | None = None,
    channel: str | None = None,
    sign: list[str] | None = None,
    commit: bool = True,
    root: Path | str = ".",
) -> ImportResult:
    """Record a bundle's datasets and dataset overlays as external pins: a manifest each, and a channel.

    With ``sign`` (promoter keys) the pins become channel ``channel`` (default ``bundle``), exactly
    the bundle's entries, signed, so it can be certified from directly. Without keys they are
    merged into ``latest`` (default), the one channel that is written unsigned (as ``publish``
    writes it), so ``verify`` and ``get @latest`` accept the result; promoting or certifying from
    it is the signed next step. ``dataset_overlays.<country>`` entries (PolicyEngine's uncertified,
    hand-curated additions) become pins of their own, their manifests marked
    ``producer.bundle_section: dataset_overlays``. Everything is parsed and checked before
    anything is written; an entry whose sha256 this registry has revoked refuses the import.
    """
    from dvc_pedata.trust.keys import (  # lazy: cryptography; only signed refs and signing pay for it
        load_signer,
    )

    path = Path(manifest_path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    bundle = loads_strict(raw, source=str(path))
    reg = Registry.find(root)
    ns = reg.namespace(namespace)
    channel = channel or ("bundle" if sign else LATEST)
    check_name(channel, "channel")
    key, block = _country_block(bundle, ns, country)
    datasets = block.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise DocumentError(f"{path}: data_releases.{key} has no datasets")
    overlays = (bundle.get("dataset_overlays") or {})
    overlays = overlays.get(key) if isinstance(overlays, dict) else None
    if overlays is not None and not isinstance(overlays, dict):
        raise DocumentError(f"{path}: dataset_overlays.{key} is not an object")
    overlays = overlays or {}
    shadowed = sorted(set(overlays) & set(datasets))
    if shadowed:  # PolicyEngine refuses such a bundle too: overlays are strictly additive
        raise DocumentError(f"{path}: dataset_overlays.{key} shadows certified datasets: {', '.join(shadowed)}")
    default_repo_type = (block.get("data_package") or {}).get("repo_type")
    producer = {"stage": None, "source": "policyengine bundle", "bundle_version": bundle.get("bundle_version"),
                "bundle_id": block.get("bundle_id"), "build_id": block.get("build_id"),
                "data_producer": block.get("data_producer"), "certification": block.get("certification"),
                "data_package": block.get("data_package")}
    overlay_producer = {**producer, "bundle_section": "dataset_overlays", "certification": None}
    signers = [load_signer(s) for s in (sign or [])]
    docs: dict[str, tuple[Manifest, dict[str, Any]]] = {}
    for section, entries, prod in (("dataset", datasets, producer), ("dataset overlay", overlays, overlay_producer)):
        for name, entry in sorted(entries.items()):
            try:
                docs[name] = _entry_docs(ns, name, entry, default_repo_type, prod)
            except PedataError as exc:  # every per-entry error names the bundle and the dataset
                raise DocumentError(f"{path}: {section} {name!r}: {exc.message}") from None
    tombstones = RevokedIndex(reg)  # revoked bytes never become a pin again, signed or not
    for name, (m, _) in docs.items():
        refuse_upload(tombstones, f"{path}: dataset {name!r}", sha256=m.sha256, action="pin",
                      hint="nothing was written; remove it from the bundle")
    with registry_lock(reg.state_dir, wait=False):
        written = []
        for name, (m, _) in docs.items():
            p = reg.manifest_path(ns, name, m.sha256)
            if p.is_file() and Manifest.load(p).digest != m.digest:
                raise PedataError(f"{reg.rel(p)} already exists with different content; manifests are immutable")
        # latest gains the pins (publish's way); a signed channel is exactly the bundle's entries
        doc = advance(reg, ns, channel, {n: pin for n, (_, pin) in docs.items()}, replace=channel != LATEST)
        for name, (m, _) in docs.items():
            p = reg.manifest_path(ns, name, m.sha256)
            if m.save(p):
                written.append(reg.rel(p))
        if doc is not None:
            for s in signers:
                sign_doc(doc, s)
            doc.save(reg.channel_path(ns, channel))
            written.append(reg.rel(reg.channel_path(ns, channel)))
        sha = None
        if written:
            gitio.add(reg.root, written)
            if commit:
                gitio.git(reg.root, "commit", "-q", "-m",
                          f"Import PolicyEngine bundle {bundle.get('bundle_version')} ({key}) into {ns}/{channel}",
                          "--", *written)
                sha = gitio.git(reg.root, "rev-parse", "HEAD")
    ch = reg.load_channel(ns, channel)
    warnings = []
    if not sign and channel != LATEST and sha and reg.root_versions():  # verify demands the promoter threshold
        rel = layout.channel(ns, channel)
        warnings.append(f"{rel} is unsigned, and this registry has a trust root: pedata verify fails and the channel"
                        f" does not resolve until promoters sign it (pedata sign {rel} --sign KEY, then commit)")
    return ImportResult(ns, channel, ch.version if ch else None, sha,
                        {n: m.sha256 for n, (m, _) in docs.items()},
                        [reg.rel(reg.manifest_path(ns, n, m.sha256)) for n, (m, _) in docs.items()],
                        sorted(overlays), bool(ch and ch.signatures), warnings)

