"""What a paper cites: CITATION.cff 1.2.0, BibTeX and SWHIDs for one release.

A citation names the release three ways that all lead to the same bytes: the human name
(``<ns>@<version>``), the git tag (``<ns>/v<version>``, a ``swh:1:rel`` once archived by Software
Heritage) and the sha256 of every pinned artifact. Optional citation metadata (title, authors,
abstract, url) comes from ``pedata.json``'s ``citation`` block; without it the tagger is the
author and the title is generated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Manifest, Release
from dvc_pedata.model.fields import complete_schema
from dvc_pedata.model.uri import tag_name
from dvc_pedata.registry.refs import manifest_for_pin
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.tags import TagInfo, read_tag
from dvc_pedata.releases.swhid import ReleaseSWHIDs, release_swhids

LOCK_FILES = ("dvc.yaml", "dvc.lock", "params.yaml", layout.INPUTS_LOCK, layout.DEPS_LOCK)


@dataclass
class Cited:
    """A release with everything citation formats need, read once."""

    reg: Registry
    release: Release
    release_path: str
    manifests: dict[str, Manifest]
    manifest_paths: dict[str, str]
    tag: TagInfo
    swhids: ReleaseSWHIDs

    @property
    def ns(self) -> str:
        return self.release.namespace

    def schema(self, name: str) -> dict[str, Any]:
        """The complete schema of pinned artifact ``name`` (a wide table's field list read and checked)."""
        return complete_schema(self.manifests[name], registry_reader(self.reg.root))

    @property
    def version(self) -> str:
        return self.release.version

    @property
    def date(self) -> str:
        """The release date: when the tag was made (UTC day)."""
        return (self.tag.tagger_date or self.release.body["notice"]["date"])[:10]

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.reg.config.get("citation") or {})

    @property
    def title(self) -> str:
        base = self.settings.get("title") or f"{self.ns} microdata"
        return f"{base}, release {self.version}"

    def uri(self, name: str) -> str:
        return f"pedata://{self.ns}/{name}@sha256:{self.release.pins[name]['sha256']}"

    def release_uri(self, name: str) -> str:
        return f"pedata://{self.ns}/{name}@v{self.version}"

    def lock_files(self) -> dict[str, bytes]:
        """The build recipe and locks as they were at the release commit (those that exist)."""
        out = {}
        for p in LOCK_FILES:
            data = gitio.show(self.reg.root, self.tag.commit, p)
            if data is not None:
                out[p] = data
        return out

    def licence(self) -> str | None:
        lic = {m.licence for m in self.manifests.values() if m.licence}
        return lic.pop() if len(lic) == 1 else None

    def authors(self) -> list[dict[str, str]]:
        given = self.settings.get("authors")
        if given:
            return [dict(a) if isinstance(a, dict) else {"name": str(a)} for a in given]  # "Name" is short for {"name": "Name"}

        name = gitio.git(self.reg.root, "for-each-ref", "--format=%(taggername)", f"refs/tags/{self.tag.name}")
        return [{"name": name or "unknown"}]


def gather(reg: Registry, ns: str, version: str) -> Cited:
    """Load a release, its manifests (checked against the pins), its tag and SWHIDs."""
    ns = reg.namespace(ns)
    rel = reg.load_release(ns, version)
    tag = read_tag(reg.root, tag_name(ns, rel.version))
    if tag is None or not tag.annotated:
        raise PedataError(f"release {ns}@{rel.version} has no annotated tag {tag_name(ns, rel.version)}: "
                          "it cannot be cited (was it made with 'pedata certify'?)")
    manifests, mpaths = {}, {}
    for name, pin in sorted(rel.pins.items()):
        manifests[name] = manifest_for_pin(reg, ns, name, pin)
        mpaths[name] = reg.rel(reg.manifest_path(ns, name, pin["sha256"]))
    rpath = reg.rel(reg.release_path(ns, rel.version))
    swh = release_swhids(reg.root, tag.name, [rpath, *mpaths.values()])
    return Cited(reg, rel, rpath, manifests, mpaths, tag, swh)


# -- CITATION.cff ---------------------------------------------------------------------------------
def _yaml_scalar(value: Any) -> str:
    # JSON strings and numbers are valid YAML scalars with the same meaning.
    return json.dumps(value, ensure_ascii=False)


def _yaml(obj: Any, indent: int = 0) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines += _yaml(v, indent + 2)
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            sub = _yaml(item, indent + 2)
            lines.append(f"{pad}- {sub[0].lstrip()}")
            lines += sub[1:]
    else:
        lines.append(pad + _yaml_scalar(obj))
    return lines


def fetch_command(c: Cited) -> str:
    """The ``pedata get`` line a reader runs: the one artifact's URI (or ``<name>``), and the
    registry's public git URL when it has one, so the line works as printed on a fresh machine."""
    names = sorted(c.release.pins)
    name = names[0] if len(names) == 1 else "<name>"
    reg = f" --registry {c.swhids.origin}" if c.swhids.origin and c.swhids.origin.startswith(("https://", "http://")) else ""
    which = "" if len(names) == 1 else f" (<name>: {', '.join(names)})"
    return f"pedata get pedata://{c.ns}/{name}@v{c.version}{reg}{which}"


def cff_data(c: Cited) -> dict[str, Any]:
    """The CITATION.cff 1.2.0 content as a dict (``type: dataset``, swh identifiers)."""
    r = c.release
    data: dict[str, Any] = {
        "cff-version": "1.2.0",
        "message": f"If you use this data, please cite release {c.ns}@{c.version} as below. "
                   f"Fetch the same bytes with: {fetch_command(c)}",
        "type": "dataset",
        "title": c.title,
        "version": c.version,
        "date-released": c.date,
        "authors": c.authors(),
        "identifiers": [
            {"type": "swh", "value": f"swh:1:rel:{c.swhids.rel}",
             "description": f"annotated git tag {c.tag.name} (the release)"},
            {"type": "swh", "value": f"swh:1:dir:{c.swhids.dir}",
             "description": f"registry tree at {c.tag.name}: release file, manifests, pipeline and locks"},
            {"type": "swh", "value": f"swh:1:rev:{c.swhids.rev}", "description": f"commit of {c.tag.name}"},
        ],
        "keywords": ["microdata", c.ns],
    }
    if c.swhids.origin and c.swhids.origin.startswith(("https://", "http://")):
        data["repository"] = c.swhids.origin
    url = c.settings.get("url")
    if url:
        data["url"] = url
    lic = c.licence()
    if lic:
        data["license"] = lic
    data["commit"] = c.tag.commit
    notice = r.body["notice"]["summary"].strip()
    if notice and notice[-1] not in ".!?":
        notice += "."
    lead = (c.settings.get("abstract") or "").strip()
    data["abstract"] = ((lead + "\n\n") if lead else "") + (
        f"Release {c.ns}@{c.version} (release digest sha256:{r.digest}; status {r.status}). {notice} "
        "Artifacts: " + "; ".join(f"{n} sha256:{p['sha256']}" for n, p in sorted(r.pins.items())) + ".")
    return data


def to_cff(c: Cited) -> str:
    return "\n".join(_yaml(cff_data(c))) + "\n"


# -- BibTeX ---------------------------------------------------------------------------------------
def _bib_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "{}&%$#_" else ch for ch in text)


def to_bibtex(c: Cited) -> str:
    """A ``@misc`` entry (BibTeX has no dataset type; biblatex reads ``version`` and ``swhid`` too)."""
    key = f"{c.ns}_{c.version}".replace(".", "_").replace("-", "_").replace("+", "_")
    authors = " and ".join(
        a.get("name") or f"{a.get('family-names', '')}, {a.get('given-names', '')}".strip(", ") for a in c.authors()
    )
    fields = [
        ("title", "{" + _bib_escape(c.title) + "}"),
        ("author", "{" + _bib_escape(authors) + "}"),
        ("year", c.date[:4]),
        ("month", str(int(c.date[5:7]))),
        ("version", "{" + c.version + "}"),
        ("howpublished", "{git tag \\texttt{" + _bib_escape(c.tag.name) + "}"
         + (" of \\url{" + c.swhids.origin + "}" if c.swhids.origin else "") + "}"),
        ("swhid", "{swh:1:rel:" + c.swhids.rel + "}"),
        ("note", "{Release digest sha256:" + c.release.digest + "; " + _bib_escape(c.swhids.lines()[0]) + "}"),
    ]
    if c.swhids.origin and c.swhids.origin.startswith("http"):
        fields.append(("url", "{" + c.swhids.origin + "}"))
    body = ",\n".join(f"  {k} = {v}" for k, v in fields)
    return f"@misc{{{key},\n{body}\n}}\n"


def to_swhid_text(c: Cited) -> str:
    """One SWHID per line, with the role of each, as ``pedata cite --format swhid`` prints them."""
    lines = c.swhids.lines()
    return "\n".join(lines) + "\n"
