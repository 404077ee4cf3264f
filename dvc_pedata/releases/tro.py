"""Transparent Research Objects (TRACE TROV) for a release.

A TRO says: these exact artifacts (by sha256) were assembled by this system in this arrangement,
and this performance — here, the certification — accessed them. Two dialects are written:

* :func:`trov_tro` follows the TROV 0.1 draft (``trov:hash {hashAlgorithm, hashValue}``,
  ``trov:artifact``, ``trov:path``, a composition fingerprint over the concatenated sorted
  hashes);
* :func:`policyengine_tro` uses the pre-release names that ``policyengine`` 6.11 emits and that its
  ``trace_tro.schema.json`` requires (``trov:sha256``, ``trov:hasArtifact``, ``trov:hasLocation``
  as an https URL, ``pe:emittedIn``), with its fingerprint ``sha256("\\n".join(sorted(hashes)))``.

Both cover the release document and every pinned artifact and manifest; the TROV one also the
lock files (build recipe, params, inputs and environment locks) as they were at the tag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.version import __version__ as PEDATA_VERSION
from dvc_pedata.releases.citation import Cited

TROV_NS = "https://w3id.org/trace/trov/0.1#"
PE_NS = "https://policyengine.org/trace/0.1#"
MEDIA_TYPES = {"parquet": "application/x-parquet", "hdf5": "application/x-hdf5", "csv": "text/csv",
               "directory": "application/x-directory", "binary": "application/octet-stream",
               "json": "application/json"}


@dataclass
class TroArtifact:
    key: str
    name: str
    sha256: str
    mime: str
    path: str  # location inside the registry (or pedata URI for data)


def fingerprint_trov(hashes: list[str]) -> str:
    """TROV 0.1 draft: sha256 over the sorted hashes concatenated with no separator."""
    return hashlib.sha256("".join(sorted(hashes)).encode()).hexdigest()


def fingerprint_policyengine(hashes: list[str]) -> str:
    """policyengine 6.11: sha256 over the sorted hashes joined by newlines."""
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def _key(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()


def release_artifacts(c: Cited, *, locks: bool = True) -> list[TroArtifact]:
    """The release file (bytes at the tag), each pinned artifact, each manifest, and the locks."""
    out = []
    rel_bytes = gitio.show(c.reg.root, c.tag.commit, c.release_path) or b""
    out.append(TroArtifact("release", f"release document {c.ns}@{c.version}", hashlib.sha256(rel_bytes).hexdigest(),
                           "application/json", c.release_path))
    for name, pin in sorted(c.release.pins.items()):
        m = c.manifests[name]
        out.append(TroArtifact(f"data/{_key(name)}", name, pin["sha256"], MEDIA_TYPES.get(m.format, "application/octet-stream"),
                               c.uri(name)))
        mbytes = (c.reg.root / c.manifest_paths[name]).read_bytes()
        out.append(TroArtifact(f"manifest/{_key(name)}", f"manifest of {name}", hashlib.sha256(mbytes).hexdigest(),
                               "application/json", c.manifest_paths[name]))
    if locks:
        for path, data in c.lock_files().items():
            mime = "application/json" if path.endswith(".json") else "application/yaml"
            out.append(TroArtifact(f"lock/{_key(path)}", path, hashlib.sha256(data).hexdigest(), mime, path))
    return out


def _system(c: Cited) -> dict[str, Any]:
    return {
        "@id": "trs",
        "@type": "trov:TransparentResearchSystem",
        "schema:name": "pedata registry (git + DVC pipeline)",
        "rdfs:comment": (f"Artifacts built by the DVC pipeline (dvc.yaml / dvc.lock) at commit {c.tag.commit} "
                         f"(swh:1:rev:{c.swhids.rev}), registered and certified with pedata {PEDATA_VERSION}."),
    }


def trov_tro(c: Cited) -> dict[str, Any]:
    """The release as a TROV 0.1 JSON-LD TRO."""
    arts = release_artifacts(c)
    r = c.release
    signers = ", ".join(s["keyid"][:12] for s in r.signatures)
    return {
        "@context": [{"trov": TROV_NS, "schema": "https://schema.org/",
                      "rdfs": "http://www.w3.org/2000/01/rdf-schema#"}],
        "@graph": [{
            "@id": "tro",
            "@type": ["trov:TransparentResearchObject", "schema:CreativeWork"],
            "trov:vocabularyVersion": "0.1",
            "schema:name": f"{c.title} (TRO)",
            "schema:description": f"Certified release {c.ns}@{c.version}, git tag {c.tag.name}, "
                                  f"release digest sha256:{r.digest}.",
            "schema:dateCreated": c.tag.tagger_date or c.date,
            "schema:identifier": f"swh:1:rel:{c.swhids.rel}",
            "trov:wasAssembledBy": _system(c),
            "trov:hasComposition": {
                "@id": "composition/1",
                "@type": "trov:ArtifactComposition",
                "trov:hasFingerprint": {
                    "@id": "composition/1/fingerprint",
                    "@type": "trov:CompositionFingerprint",
                    "trov:hash": {"trov:hashAlgorithm": "sha256",
                                  "trov:hashValue": fingerprint_trov([a.sha256 for a in arts])},
                },
                "trov:hasArtifact": [
                    {"@id": f"composition/1/artifact/{a.key}", "@type": "trov:ResearchArtifact",
                     "schema:name": a.name, "trov:mimeType": a.mime,
                     "trov:hash": {"trov:hashAlgorithm": "sha256", "trov:hashValue": a.sha256}}
                    for a in arts
                ],
            },
            "trov:hasArrangement": [{
                "@id": "arrangement/1",
                "@type": "trov:ArtifactArrangement",
                "rdfs:comment": f"The registry at tag {c.tag.name}; data by content address.",
                "trov:hasArtifactLocation": [
                    {"@id": f"arrangement/1/location/{a.key}", "@type": "trov:ArtifactLocation",
                     "trov:artifact": {"@id": f"composition/1/artifact/{a.key}"}, "trov:path": a.path}
                    for a in arts
                ],
            }],
            "trov:hasPerformance": [{
                "@id": "trp/1",
                "@type": "trov:TransparentResearchPerformance",
                "rdfs:comment": (f"Certification of channel {(r.source_channel or {}).get('name')} version "
                                 f"{(r.source_channel or {}).get('version')} as release {c.version} "
                                 f"({r.status}, compat {r.body['compat_mode']}), signed by certifier keys {signers}."),
                "trov:wasConductedBy": {"@id": "trs"},
                "trov:accessedArrangement": {"@id": "arrangement/1"},
                "trov:endedAtTime": c.tag.tagger_date or c.date,
            }],
        }],
    }


def policyengine_tro(c: Cited, locations: dict[str, str], bundle_manifest_sha256: str,
                     certification: dict[str, Any], *, manifest_location: str = "manifest.json") -> dict[str, Any]:
    """The TRO sidecar of a PolicyEngine bundle block, valid against policyengine's trace_tro schema.

    ``locations`` maps artifact keys (``data/<name>``) to https URLs; artifacts without one are
    in the composition but not the arrangement (``policyengine trace-tro-verify`` fetches only
    ``https://`` and paths relative to the TRO). The bundle manifest is at ``manifest_location``,
    relative to the TRO's folder (``pedata cite`` writes the two side by side).
    """
    arts = [a for a in release_artifacts(c, locks=False)]
    arts.insert(0, TroArtifact("bundle_manifest", f"pedata bundle manifest block for {c.ns}",
                               bundle_manifest_sha256, "application/json", "data/bundle/manifest.json"))
    placed = [(a, manifest_location if a.key == "bundle_manifest" else locations.get(a.key)) for a in arts]
    return {
        "@context": [{"pe": PE_NS, "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
                      "rdfs": "http://www.w3.org/2000/01/rdf-schema#", "schema": "https://schema.org/",
                      "trov": TROV_NS}],
        "@graph": [{
            "@id": "tro",
            "@type": "trov:TransparentResearchObject",
            "schema:creator": {"@type": "schema:Organization",
                               "schema:name": c.settings.get("publisher") or "pedata registry"},
            "schema:name": f"pedata {c.ns} certified release {c.version} TRO",
            "schema:description": f"TRACE TRO for release {c.ns}@{c.version} (tag {c.tag.name}, release digest "
                                  f"sha256:{c.release.digest}) covering the bundle block, the release document, "
                                  "every pinned dataset and its manifest.",
            "schema:dateCreated": c.tag.tagger_date or c.date,
            "trov:createdWith": {"@type": "schema:SoftwareApplication", "schema:name": "dvc-pedata",
                                 "schema:softwareVersion": PEDATA_VERSION},
            "trov:wasAssembledBy": _system(c),
            "trov:hasComposition": {
                "@id": "composition/1",
                "@type": "trov:ArtifactComposition",
                "trov:hasFingerprint": {"@id": "composition/1/fingerprint", "@type": "trov:CompositionFingerprint",
                                        "trov:sha256": fingerprint_policyengine([a.sha256 for a in arts])},
                "trov:hasArtifact": [
                    {"@id": f"composition/1/artifact/{a.key}", "@type": "trov:ResearchArtifact",
                     "schema:name": a.name, "trov:mimeType": a.mime, "trov:sha256": a.sha256}
                    for a in arts
                ],
            },
            "trov:hasArrangement": [{
                "@id": "arrangement/1",
                "@type": "trov:ArtifactArrangement",
                "rdfs:comment": f"Certified arrangement for release {c.ns}@{c.version}.",
                "trov:hasArtifactLocation": [
                    {"@id": f"arrangement/1/location/{a.key}", "@type": "trov:ArtifactLocation",
                     "trov:hasArtifact": {"@id": f"composition/1/artifact/{a.key}"}, "trov:hasLocation": loc}
                    for a, loc in placed if loc
                ],
            }],
            "trov:hasPerformance": {
                "@id": "trp/1",
                "@type": "trov:TransparentResearchPerformance",
                "pe:certifiedBy": certification.get("certified_by"),
                "pe:certifiedForModelVersion": certification.get("certified_for_model_version"),
                "pe:compatibilityBasis": certification.get("compatibility_basis"),
                "pe:dataBuildId": certification.get("data_build_id"),
                "pe:emittedIn": "local",
                "trov:wasConductedBy": {"@id": "trs"},
                "trov:accessedArrangement": {"@id": "arrangement/1"},
            },
        }],
    }
