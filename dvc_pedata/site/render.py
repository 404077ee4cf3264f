"""``pedata site``: the registry as a static catalogue (HTML + one stylesheet + one tiny script).

People choose a dataset by looking, so every registry gets pages it can publish anywhere (GitHub
Pages, a file share, ``file://``) with no server and no CDN. Everything on them comes from the
git-tracked documents — manifests, channels, releases, tombstones, ``dvc.yaml``/``dvc.lock`` and
git tags — so building the site never reads, let alone downloads, a payload. The pipeline graph is
read through DVC (:mod:`.lineage`), which only parses the stage files; it never touches the DVC
cache or a remote, so a checkout with neither still builds the whole site.

Every string that comes from a document (names, notices, reasons, descriptions, licences) passes
through :func:`e` (``html.escape`` with quotes) on its way into HTML, attribute values included; a
Content-Security-Policy forbids inline script as a second line of defence. The only script copies
``textContent`` to the clipboard.

Citations come from :mod:`.citation` and the graph from :mod:`.lineage`, the modules behind
``pedata cite`` and ``pedata lineage``, so a page and the CLI never disagree about what to cite.
Graphviz's SVG embeds stage and artifact names; it is re-serialised through an allowlist of SVG
elements and attributes (no script, no event handler, no style, no foreign link) before it is
inlined. Without Graphviz the graph is shown as an escaped list.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from dvc_pedata.base import gitio
from dvc_pedata.errors import PedataError, UsageError
from dvc_pedata.lineage import graph as lineage
from dvc_pedata.model import listing
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Channel, Document, Manifest, Release, Tombstone
from dvc_pedata.model.fields import complete_schema
from dvc_pedata.model.schema_diff import INCOMPLETE, diff_manifests, is_empty
from dvc_pedata.model.semver import Version
from dvc_pedata.model.uri import tag_name
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.tags import TagInfo, read_tag
from dvc_pedata.releases import citation
from dvc_pedata.site.schema import e, schema_html

STATUSES = ("provisional", "certified", "retired", "unreproducible", "revoked")
MARKER = ".pedata-site"


def badge(status: str) -> str:
    """A status badge; the CSS class comes from a fixed list, never from document text."""
    cls = status if status in STATUSES else "unknown"
    return f'<span class="badge badge-{cls}" data-status="{e(status)}">{e(status)}</span>'


# -- gathering ----------------------------------------------------------------------------------
@dataclass
class ReleaseView:
    """A release document plus its citation tag as :func:`releases.read_tag` reads it."""

    release: Release
    path: str
    tag_name: str
    tag: TagInfo | None = None  # None: the release was never tagged, so it cannot be cited

    @property
    def version(self) -> str:
        return str(self.release.version)


@dataclass
class ArtifactView:
    """Everything the registry says about one ``<ns>/<name>``."""

    ns: str
    name: str
    manifests: dict[str, Manifest] = field(default_factory=dict)
    channels: list[tuple[Channel, dict[str, Any]]] = field(default_factory=list)
    releases: list[tuple[ReleaseView, dict[str, Any]]] = field(default_factory=list)
    description: str | None = None

    @property
    def href(self) -> str:
        return f"{quote(self.ns)}/{quote(self.name)}.html"


@dataclass(frozen=True)
class RevokedFile:
    """A tombstoned file inside one version of a directory artifact (from its verified listing)."""

    ns: str
    name: str
    directory_sha256: str
    path: str

    @property
    def uri(self) -> str:
        return f"pedata://{self.ns}/{self.name}@sha256:{self.directory_sha256};path={self.path}"


@dataclass
class SiteData:
    """The whole registry as the site sees it, plus documents that could not be read."""

    reg: Registry
    artifacts: dict[str, dict[str, ArtifactView]]
    tombstones: dict[str, Tombstone]
    pipeline: lineage.Graph | None
    head: str | None
    remote_url: str | None
    problems: list[str] = field(default_factory=list)
    citations: dict[tuple[str, str], citation.Cited | str] = field(default_factory=dict)
    # tombstone sha256 -> the folders (and paths in them) holding those bytes
    revoked_files: dict[str, list[RevokedFile]] = field(default_factory=dict)

    def revoked_in(self, directory_sha256: str) -> list[tuple[RevokedFile, Tombstone]]:
        """The revoked files of one directory version, with their tombstones."""
        return sorted(((f, self.tombstones[sha]) for sha, fs in self.revoked_files.items() for f in fs
                       if f.directory_sha256 == directory_sha256), key=lambda ft: ft[0].path)


def _load(problems: list[str], cls: type[Document], path: Path, reg: Registry) -> Any:
    try:
        return cls.load(path, reg.rel(path))
    except PedataError as exc:
        problems.append(exc.message if hasattr(exc, "message") else str(exc))
        return None


def _revoked_files(reg: Registry, arts: dict[str, dict[str, ArtifactView]], tombstones: dict[str, Tombstone],
                   problems: list[str]) -> dict[str, list[RevokedFile]]:
    """Tombstones that name one file of a folder: matched against each directory manifest's listing.

    ``pedata revoke URI;path=FILE`` tombstones the file's own sha256, which no manifest pins whole.
    The listing is the verified one (:func:`listing.load_listing` checks it against the
    directory digest); a listing that fails the check is a problem, not a match.
    """
    out: dict[str, list[RevokedFile]] = {}
    if not tombstones:
        return out
    read = registry_reader(reg.root)
    for view in (v for per in arts.values() for v in per.values()):
        for sha, m in sorted(view.manifests.items()):
            if not listing.is_directory(m):
                continue
            try:
                entries = listing.load_listing(m, read)
            except PedataError as exc:
                problems.append(str(exc))
                continue
            for entry in entries:
                if entry.sha256 in tombstones:
                    out.setdefault(entry.sha256, []).append(RevokedFile(view.ns, view.name, sha, entry.path))
    return out


def _dvc_project(reg: Registry) -> bool:
    """Whether there is a DVC project to read at all (a registry may have no pipeline)."""
    return (reg.root / ".dvc").is_dir() and any((reg.root / f).is_file() for f in ("dvc.yaml", "dvc.lock"))


def _pipeline(reg: Registry, problems: list[str]) -> tuple[lineage.Graph | None, dict[str, str]]:
    """The work tree's stage graph and ``desc`` of each ``artifacts:`` entry, both read through DVC.

    DVC only parses ``dvc.yaml``/``dvc.lock`` here (no cache, no remote). A pipeline DVC cannot
    read costs the graph and the descriptions, shown as a problem, not the site.
    """
    if not _dvc_project(reg):
        return None, {}
    from dvc_pedata.dvcio import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        repo as dvcio,
    )

    try:
        graph = lineage.build_graph(reg)
        with dvcio.DvcRepo(reg.root) as dr:
            arts = dr.artifacts()
    except PedataError as exc:
        problems.append(f"pipeline: {exc}")
        return None, {}
    return graph, {n: str(a["desc"]) for n, a in arts.items() if a.get("desc")}


def collect(reg: Registry) -> SiteData:
    """Read every document once; unreadable ones become problems shown on the index, not crashes."""
    problems: list[str] = []
    arts: dict[str, dict[str, ArtifactView]] = {}

    def view(ns: str, name: str) -> ArtifactView:
        return arts.setdefault(ns, {}).setdefault(name, ArtifactView(ns, name))

    for ns in reg.namespaces:
        arts.setdefault(ns, {})
    for p in reg.iter_manifest_paths():
        m = _load(problems, Manifest, p, reg)
        if m is not None:
            view(m.namespace, m.name).manifests[m.sha256] = m
    for p in reg.iter_channel_paths():
        ch = _load(problems, Channel, p, reg)
        if ch is not None:
            for name, pin in sorted(ch.artifacts.items()):
                view(ch.namespace, name).channels.append((ch, pin))
    releases: list[ReleaseView] = []
    for p in reg.iter_release_paths():
        rel = _load(problems, Release, p, reg)
        if rel is None:
            continue
        tag = tag_name(rel.namespace, rel.version)
        releases.append(ReleaseView(rel, reg.rel(p), tag, read_tag(reg.root, tag)))
    releases.sort(key=lambda r: (r.release.namespace, Version(r.version)))
    for rv in releases:
        for name, pin in sorted(rv.release.pins.items()):
            view(rv.release.namespace, name).releases.append((rv, pin))
    tombstones: dict[str, Tombstone] = {}
    for p in reg.iter_tombstone_paths():
        t = _load(problems, Tombstone, p, reg)
        if t is not None:
            tombstones[t.artifact_sha256] = t
    pipeline, descs = _pipeline(reg, problems)
    for per_ns in arts.values():
        for a in per_ns.values():
            a.description = descs.get(a.name)
    # As configured, not swhid.origin_url's https form: `pedata get --registry` clones with it.
    remote = gitio.git(reg.root, "remote", "get-url", "origin", check=False) or None
    data = SiteData(reg, arts, tombstones, pipeline, gitio.head(reg.root), remote, problems)
    data.revoked_files = _revoked_files(reg, arts, tombstones, problems)
    return data


# -- which version a page shows -----------------------------------------------------------------
def cited(a: ArtifactView) -> tuple[str, dict[str, Any], ReleaseView | None]:
    """The ref a reader should use: newest certified release, else newest release, else a channel.

    Returns (ref as in a URI, pin, release or None).
    """
    for wanted in ("certified", None):
        for rv, pin in reversed(a.releases):
            if wanted is None or rv.release.status == wanted:
                return f"v{rv.version}", pin, rv
    chans = {ch.channel: (ch, pin) for ch, pin in a.channels}
    for name in ("next", "latest", *sorted(chans)):
        if name in chans:
            return name, chans[name][1], None
    sha = sorted(a.manifests)[0]
    return f"sha256:{sha}", {"sha256": sha}, None


# -- lineage: lineage.build_graph -> lineage.to_dot -> Graphviz -> allowlisted SVG ---------------
SVG_NS = "http://www.w3.org/2000/svg"
# Everything Graphviz draws a graph with; anything else (script, foreignObject, style, image, use,
# animate...) is dropped with its subtree.
SVG_ELEMENTS = frozenset({"svg", "g", "title", "path", "polygon", "polyline", "ellipse", "circle", "rect",
                          "line", "text", "tspan", "defs", "marker"})
# Geometry and presentation only: no id (collisions), no style (CSP), no href (links are ours),
# no on* handler; values are escaped again on the way out.
SVG_ATTRIBUTES = frozenset({"width", "height", "viewBox", "preserveAspectRatio", "transform", "class", "d", "points",
                            "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fill", "fill-opacity",
                            "stroke", "stroke-width", "stroke-opacity", "stroke-dasharray", "text-anchor",
                            "font-family", "font-size", "font-weight", "font-style"})


def _local(tag: Any) -> str:
    """An element or attribute name without its ``{namespace}`` (Graphviz writes SVG and xlink)."""
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _node_label(node: dict[str, Any]) -> str:
    """What a reader calls a node: a stage's name, an artifact's path."""
    return str(node["name"] if node["type"] == "stage" else node["path"])


def upstream_graph(data: SiteData, path: str) -> lineage.Graph | None:
    """The part of the pipeline that produced the file ``path``; None if no stage generates it.

    :meth:`lineage.Graph.upstream_of` plus every other output of those stages: siblings made by
    the same command are how a reader walks from one artifact's page to the next.
    """
    g = data.pipeline
    nid = f"artifact:{path}"
    if g is None or not any(edge["to"] == nid and edge["type"] == "generated" for edge in g.edges):
        return None
    sub = g.upstream_of([nid])
    siblings = [edge for edge in g.edges if edge["type"] == "generated" and edge["from"] in sub.nodes
                and edge["to"] not in sub.nodes]
    for edge in siblings:
        sub.nodes[edge["to"]] = g.nodes[edge["to"]]
    sub.edges += siblings
    return sub


def _svg_element(el: ET.Element, graph: lineage.Graph, highlight: str, links: dict[str, str]) -> str:
    """One allowlisted element, re-serialised with every attribute value and text escaped."""
    name = _local(el.tag)
    if name not in SVG_ELEMENTS:
        return ""
    attrs = {_local(k): v for k, v in el.attrib.items() if _local(k) in SVG_ATTRIBUTES and not _local(k).startswith("on")}
    node_id = None
    if name == "g" and attrs.get("class") == "node":
        title = el.find(f"{{{SVG_NS}}}title")
        node_id = title.text if title is not None else None
        if node_id in graph.nodes:
            node = graph.nodes[node_id]
            attrs["class"] = f"node node-{'stage' if node['type'] == 'stage' else 'artifact'}" + (
                " highlight" if node_id == highlight else "")
            attrs["data-node"] = _node_label(node)
    if name == "svg":
        attrs = {"xmlns": SVG_NS, "role": "img", "aria-label": "lineage graph", **attrs}
    head = name + "".join(f' {k}="{e(v)}"' for k, v in attrs.items())
    inner = e(el.text or "") + "".join(_svg_element(c, graph, highlight, links) + e(c.tail or "") for c in el)
    out = f"<{head}>{inner}</{name}>"
    if node_id is not None and node_id in links:
        out = f'<a href="{e(links[node_id])}">{out}</a>'
    return out


def safe_svg(svg: bytes, graph: lineage.Graph, highlight: str, links: dict[str, str]) -> str:
    """Graphviz's SVG rebuilt from an allowlist, with ``data-node`` names and links to artifact pages.

    Graphviz escapes labels itself, but its output carries stage and artifact names from documents
    into the page, so nothing of it is inlined verbatim: comments, the DOCTYPE, scripts, event
    handlers, styles and foreign links cannot survive the rebuild.
    """
    root = ET.fromstring(svg)  # expat: no external entities are fetched
    return _svg_element(root, graph, highlight, links)


def lineage_list(graph: lineage.Graph, highlight: str, links: dict[str, str]) -> str:
    """The graph without Graphviz: each stage with what it used and generated, escaped, linked."""
    used: dict[str, list[str]] = {}
    made: dict[str, list[str]] = {}
    for edge in graph.edges:
        if edge["type"] == "used":
            used.setdefault(edge["to"], []).append(edge["from"])
        else:
            made.setdefault(edge["from"], []).append(edge["to"])

    def art(nid: str) -> str:
        cls = "node node-artifact" + (" highlight" if nid == highlight else "")
        text = f'<code class="{cls}" data-node="{e(_node_label(graph.nodes[nid]))}">{e(_node_label(graph.nodes[nid]))}</code>'
        return f'<a href="{e(links[nid])}">{text}</a>' if nid in links else text

    items = []
    for sid, node in sorted(graph.nodes.items()):
        if node["type"] != "stage":
            continue
        cmd = f" <code>{e(node['cmd'])}</code>" if node.get("cmd") else ' <span class="muted">(data source)</span>'
        items.append(f'<li class="node node-stage" data-node="{e(node["name"])}"><strong>{e(node["name"])}</strong>{cmd}'
                     f'<div>uses: {", ".join(art(n) for n in sorted(used.get(sid, []))) or "nothing"}</div>'
                     f'<div>generates: {", ".join(art(n) for n in sorted(made.get(sid, []))) or "nothing"}</div></li>')
    return ('<p class="muted">Graphviz (<code>dot</code>) is not installed, so the graph is listed stage by stage.</p>'
            f'<ul class="lineage-list">{"".join(items)}</ul>')


def lineage_html(graph: lineage.Graph, highlight: str, links: dict[str, str]) -> str:
    """The graph as safe inline SVG when Graphviz is there, else as a readable list."""
    try:
        svg = lineage.render_svg(lineage.to_dot(graph))
    except PedataError:
        svg = None  # a dot that fails must not fail the site: the list says the same
    if svg is not None:
        try:
            return safe_svg(svg, graph, highlight, links)
        except ET.ParseError:
            pass
    return lineage_list(graph, highlight, links)


# -- citations: exactly what `pedata cite` prints ------------------------------------------------
def cited_release(data: SiteData, rv: ReleaseView) -> citation.Cited | str:
    """:func:`citation.gather` for a release, once per build; a string says why it cannot be cited."""
    key = (rv.release.namespace, rv.version)
    if key not in data.citations:
        try:
            data.citations[key] = citation.gather(data.reg, *key)
        except PedataError as exc:
            data.citations[key] = str(exc)
    return data.citations[key]

# -- HTML -----------------------------------------------------------------------------------------
class _Ids:
    """Unique element ids for copy buttons (ids are generated, never taken from documents)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"snip-{self.n}"


def snippet(ids: _Ids, title: str, text: str, cls: str = "") -> str:
    sid = ids()
    return (f'<div class="snippet {e(cls)}"><div class="bar"><span>{e(title)}</span>'
            f'<button type="button" class="copy" data-copy="{sid}">Copy</button></div>'
            f'<pre id="{sid}">{e(text)}</pre></div>')


def short(sha: str | None) -> str:
    return f'<code title="{e(sha)}">{e((sha or "")[:12])}</code>'


def _revoked(data: SiteData, sha: str) -> str:
    return " " + badge("revoked") if sha in data.tombstones else ""


def _page(kind: str, title: str, body: str, root: str, data: SiteData) -> str:
    tpl = Template(resources.files("dvc_pedata.site").joinpath("assets").joinpath("page.html").read_text())
    brand = data.reg.config.get("title") or f"{data.reg.root.name} data registry"
    footer = ("Built by <code>pedata site</code> from the registry's git-tracked documents"
              + (f" at commit {short(data.head)}" if data.head else "") + ". No payload was read to build it.")
    return tpl.substitute(kind=e(kind), title=e(title), root=root, body=body, brand=e(brand), footer=footer)


def render_index(data: SiteData) -> str:
    parts = ['<h1>Catalogue</h1>',
             f'<p class="lede">{sum(len(v) for v in data.artifacts.values())} artifacts in '
             f'{len(data.artifacts)} namespace(s); {len(data.tombstones)} revocation(s). '
             'Pick an artifact for its schema, releases, lineage and citation.</p>']
    if data.problems:
        parts.append('<div class="warning"><strong>Documents that could not be read</strong> (run '
                     '<code>pedata verify</code>):<ul>' + "".join(f"<li>{e(p)}</li>" for p in data.problems) + "</ul></div>")
    for ns in sorted(data.artifacts):
        parts.append(f'<h2 id="ns-{e(ns)}">Namespace <code>{e(ns)}</code></h2>')
        if not data.artifacts[ns]:
            parts.append('<p class="muted">No artifacts yet.</p>')
            continue
        parts.append('<table class="artifacts"><thead><tr><th>artifact</th><th>format</th><th class="num">rows</th>'
                     '<th>newest release</th><th>channels</th><th>cite as</th></tr></thead><tbody>')
        for name in sorted(data.artifacts[ns]):
            a = data.artifacts[ns][name]
            ref, pin, rv = cited(a)
            m = a.manifests.get(pin["sha256"])
            rel = (f"{e(a.releases[-1][0].version)} {badge(a.releases[-1][0].release.status)}" if a.releases
                   else '<span class="muted">none</span>')
            chans = " ".join(f'<span class="badge badge-channel">{e(ch.channel)} v{e(ch.version)}</span>' for ch, _ in a.channels)
            rows = m.schema.get("rows") if m is not None else None
            desc = f'<div class="muted">{e(a.description)}</div>' if a.description else ""
            parts.append(f'<tr data-artifact="{e(ns)}/{e(name)}"><td><a href="{e(a.href)}">{e(name)}</a>{desc}</td>'
                         f'<td>{e(m.format if m else "")}</td><td class="num">{e(rows if rows is not None else "")}</td>'
                         f'<td>{rel}</td><td>{chans}</td><td class="cite"><code>@{e(ref if not ref.startswith("sha256:") else ref[:19])}</code>'
                         f'{" " + badge(rv.release.status) if rv else ""}{_revoked(data, pin["sha256"])}</td></tr>')
        parts.append("</tbody></table>")
    return _page("index", "Catalogue", "\n".join(parts), "", data)


def _diff_html(d: dict[str, Any]) -> str:
    if not d["columns"].get("complete", True):
        return f'<p class="muted">{e(INCOMPLETE)}.</p>' + _diff_html({**d, "columns": {**d["columns"], "complete": True}})
    if is_empty(d):
        return '<p class="diff-same">No schema, row-count or input changes' + (" (same bytes)." if d["same_bytes"] else ".") + "</p>"
    rows: list[tuple[str, str, str]] = []
    c = d["columns"]
    rows += [("column added", n, "") for n in c["added"]]
    rows += [("column removed", n, "") for n in c["removed"]]
    rows += [("column retyped", r["name"], f"{r['from']} → {r['to']}") for r in c["retyped"]]
    rows += [("column renamed", r["from"], f"→ {r['to']}") for r in c["renamed"]]
    rows += [("rows", ent, f"{v['from']} → {v['to']}") for ent, v in d["rows"].items()]
    rows += [("input", i["path"], f"{str(i['from'])[:8]} → {str(i['to'])[:8]}") for i in d["inputs"]]
    rows += [("param", f"{p['file']}:{p['key']}", f"{p['from']} → {p['to']}") for p in d["params"]]
    body = "".join(f"<tr><td>{e(a)}</td><td><code>{e(b)}</code></td><td>{e(c_)}</td></tr>" for a, b, c_ in rows)
    return f'<table class="diff"><thead><tr><th>change</th><th>what</th><th>detail</th></tr></thead><tbody>{body}</tbody></table>'


def fetch_lines(data: SiteData, a: ArtifactView, ref: str) -> tuple[str, str]:
    """The exact shell and Python lines that fetch this artifact (verified bytes, cached by sha256)."""
    uri = f"pedata://{a.ns}/{a.name}@{ref}"
    reg_arg = f" --registry {data.remote_url}" if data.remote_url else ""
    shell = f"pedata get {uri}{reg_arg}"
    py_reg = f", registry={data.remote_url!r}" if data.remote_url else ""
    python = f"import dvc_pedata\npath = dvc_pedata.get_path({uri!r}{py_reg})"
    return shell, python


def _history(rel: Release) -> str:
    """``status_history`` (status changes after certification), oldest first; empty when absent."""
    hist = rel.body.get("status_history") or []
    items = "".join(f'<li><span class="history-status">{e(h.get("status"))}</span> {e(str(h.get("date", ""))[:10])}'
                    + (f': <span class="reason">{e(h["reason"])}</span>' if h.get("reason") else "") + "</li>"
                    for h in hist if isinstance(h, dict))
    return f'<ul class="status-history">{items}</ul>' if items else ""


@dataclass
class _Page:
    """What every section of an artifact page shares: the cited reference and its manifest."""

    ids: _Ids
    ref: str
    pin: dict[str, Any]
    rv: Any
    sha: str
    m: Manifest | None


def render_artifact(data: SiteData, a: ArtifactView) -> str:
    """One artifact's page: a header, then each section in reading order (each a pure function)."""
    ids = _Ids()
    ref, pin, rv = cited(a)
    sha = pin["sha256"]
    m = a.manifests.get(sha)
    parts = [f'<p class="muted"><a href="../index.html#ns-{e(a.ns)}">{e(a.ns)}</a> /</p>',
             f'<h1>{e(a.name)}</h1>']
    if a.description:
        parts.append(f'<p class="lede">{e(a.description)}</p>')
    state = badge(rv.release.status) if rv else f'<span class="badge badge-channel">channel {e(ref)}</span>'
    parts.append(f'<p>Cite as <code>@{e(ref)}</code> {state}{_revoked(data, sha)}</p>')
    pg = _Page(ids, ref, pin, rv, sha, m)
    for section in (_get_section, _channels_section, _schema_section, _changes_section, _lineage_section,
                    _cite_section, _versions_section):
        parts.extend(section(data, a, pg))
    return _page("artifact", f"{a.ns}/{a.name}", "\n".join(parts), "../", data)


def _get_section(data: SiteData, a: ArtifactView, pg: _Page) -> list[str]:
    """How to fetch the bytes, and what revocation withholds."""
    ids, ref, sha = pg.ids, pg.ref, pg.sha
    parts: list[str] = []
    parts.append('<h2 id="get">Get it</h2>')
    tomb = data.tombstones.get(sha)
    if tomb is not None:
        parts.append(f'<div class="revoked-box">These bytes were revoked on {e(tomb.date)} by {e(tomb.authority)}: '
                     f'<span class="reason">{e(tomb.reason)}</span>. The URI resolves to the manifest and the tombstone, '
                     'never to bytes. See <a href="../revocations.html">revocations</a>.</div>')
    inside = data.revoked_in(sha)
    if inside:
        said = "".join(f"The file <code>{e(f.path)}</code> in this folder was revoked on {e(t.date)} by {e(t.authority)}: "
                       f'<span class="reason">{e(t.reason)}</span>. ' for f, t in inside)
        by_path = "pedata get 'pedata://" + f"{a.ns}/{a.name}@{ref};path=<file>'"
        parts.append(f'<div class="revoked-box">{said}A get of the whole folder is refused; every other file still '
                     f'resolves by path: <code>{e(by_path)}</code>. See <a href="../revocations.html">revocations</a>.</div>')
    shell, python = fetch_lines(data, a, ref)
    parts.append(snippet(ids, "Shell", shell, "get-shell"))
    parts.append(snippet(ids, "Python", python, "get-python"))
    return parts


def _channels_section(data: SiteData, a: ArtifactView, pg: _Page) -> list[str]:
    """The channels and releases that point at the artifact."""
    parts: list[str] = []
    parts.append('<h2 id="channels">Channels</h2>')
    if a.channels:
        parts.append('<table class="channels"><thead><tr><th>channel</th><th class="num">version</th><th>signatures</th>'
                     '<th>sha256</th><th>expires</th></tr></thead><tbody>')
        for ch, cpin in a.channels:
            parts.append(f'<tr><td>{e(ch.channel)}</td><td class="num">{e(ch.version)}</td><td>{len(ch.signatures) or "unsigned"}</td>'
                         f'<td>{short(cpin["sha256"])}{_revoked(data, cpin["sha256"])}</td><td>{e(ch.expires or "never")}</td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="muted">No channel points at this artifact.</p>')
    parts.append('<h2 id="releases">Releases</h2>')
    if a.releases:
        parts.append('<table class="releases"><thead><tr><th>version</th><th>status</th><th>notice</th><th>date</th>'
                     '<th>certified</th><th>git tag</th><th>sha256</th></tr></thead><tbody>')
        for r, rpin in reversed(a.releases):
            notice = r.release.body.get("notice") or {}
            at = r.release.body.get("certified_at")
            cert = f'<time datetime="{e(at)}" title="{e(at)}">{e(str(at)[:10])}</time>' if at else ""
            tagged = "" if r.tag is not None else " <span class=muted>(untagged)</span>"
            parts.append(f'<tr data-version="{e(r.version)}"><td>{e(r.version)}</td><td>{badge(r.release.status)}'
                         f'{_revoked(data, rpin["sha256"])}{_history(r.release)}</td>'
                         f'<td class="notice"><strong>{e(notice.get("type"))}</strong>: {e(notice.get("summary"))}</td>'
                         f'<td>{e(str(notice.get("date", ""))[:10])}</td>'
                         f'<td class="certified-at">{cert}</td>'
                         f'<td><code>{e(r.tag_name)}</code>{tagged}</td>'
                         f'<td>{short(rpin["sha256"])}</td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="muted">Not released yet: channels are operational pointers; cite a release once one is certified.</p>')
    return parts


def _schema_section(data: SiteData, a: ArtifactView, pg: _Page) -> list[str]:
    """The schema from the cited version's manifest."""
    ref, sha, m = pg.ref, pg.sha, pg.m
    parts: list[str] = []
    parts.append('<h2 id="schema">Schema</h2>')
    if m is not None:
        parts.append(f'<p class="muted">From the manifest of <code>@{e(ref)}</code>; read from file metadata, not the payload.</p>')
        try:
            schema = complete_schema(m, registry_reader(data.reg.root))  # a wide table's every column
        except PedataError as exc:
            schema = None
            parts.append(f'<p class="warning">{e(exc.message)}; only the columns listed in the manifest are shown.</p>')
        parts.append(schema_html(m, schema))
    else:
        parts.append(f'<p class="warning">No manifest for sha256 {short(sha)} in this registry.</p>')
    return parts


def _changes_section(data: SiteData, a: ArtifactView, pg: _Page) -> list[str]:
    """Schema changes between consecutive releases."""
    parts: list[str] = []
    parts.append('<h2 id="changes">Changes between releases</h2>')
    pairs = list(zip(a.releases, a.releases[1:], strict=False))
    if not pairs:
        parts.append('<p class="muted">Fewer than two releases pin this artifact.</p>')
    for (r1, p1), (r2, p2) in reversed(pairs):
        parts.append(f'<h3>{e(r1.version)} → {e(r2.version)}</h3>')
        m1, m2 = a.manifests.get(p1["sha256"]), a.manifests.get(p2["sha256"])
        if m1 is None or m2 is None:
            parts.append('<p class="warning">A manifest is missing; no diff.</p>')
        else:
            try:
                parts.append(_diff_html(diff_manifests(m1, m2, registry_reader(data.reg.root))))
            except PedataError as exc:
                parts.append(f'<p class="warning">No diff: {e(exc.message)}</p>')
    return parts


def _lineage_section(data: SiteData, a: ArtifactView, pg: _Page) -> list[str]:
    """The pipeline stages upstream of the artifact."""
    m = pg.m
    parts: list[str] = []
    parts.append('<h2 id="lineage">Lineage</h2>')
    path = str(m.body.get("path")) if m is not None else ""
    graph = upstream_graph(data, path) if m is not None else None
    if graph is None:
        parts.append('<p class="muted">No pipeline stage in dvc.yaml produces this artifact.</p>')
    else:
        links = {}
        for other in (x for per in data.artifacts.values() for x in per.values()):
            for om in other.manifests.values():
                if om.body.get("path"):
                    links[f"artifact:{om.body['path']}"] = f"../{other.href}"
        parts.append(f'<div class="lineage">{lineage_html(graph, "artifact:" + path, links)}</div>')
        stage = m.producer.get("stage") if isinstance(m.producer, dict) else None
        node = next((n for n in graph.nodes.values() if n["type"] == "stage" and n["name"] == stage), None)
        if node is not None:
            parts.append(f'<p class="muted">Stage <code>{e(stage)}</code>: <code>{e(node.get("cmd"))}</code>; '
                         'rebuild with <code>dvc repro</code>.</p>')
    return parts


def _cite_section(data: SiteData, a: ArtifactView, pg: _Page) -> list[str]:
    """The release's citation, byte for byte what `pedata cite` prints."""
    ids, rv, sha = pg.ids, pg.rv, pg.sha
    parts: list[str] = []
    parts.append('<h2 id="cite">Cite</h2>')
    c = cited_release(data, rv) if rv is not None else None
    if rv is None:
        parts.append('<p class="warning">No release pins this artifact yet, so there is nothing to cite: a channel moves. '
                     f'Until a release is certified, refer to the bytes as <code>pedata://{e(a.ns)}/{e(a.name)}@sha256:{e(sha)}</code>.</p>')
    elif isinstance(c, str):
        parts.append(f'<p class="warning">Release {e(rv.release.namespace)}@{e(rv.version)} cannot be cited: {e(c)}</p>')
    elif c is not None:
        parts.append(f'<p>Cite release <code>{e(c.ns)}@{e(c.version)}</code>, which pins this artifact as '
                     f'<code>{e(c.release_uri(a.name))}</code>. The same text comes from '
                     f'<code>pedata cite {e(c.ns)}@{e(c.version)} --format cff|bibtex|swhid</code>.</p>')
        parts.append(snippet(ids, "CITATION.cff", citation.to_cff(c), "cite-cff"))
        parts.append(snippet(ids, "BibTeX", citation.to_bibtex(c), "cite-bibtex"))
        parts.append(snippet(ids, "SWHIDs", citation.to_swhid_text(c), "cite-swhid"))
    return parts


def _versions_section(data: SiteData, a: ArtifactView, pg: _Page) -> list[str]:
    """Every version the registry holds."""
    parts: list[str] = []
    parts.append('<h2 id="versions">All versions</h2><table class="versions"><thead><tr><th>sha256</th>'
                 '<th class="num">size</th><th class="num">rows</th><th>built at commit</th></tr></thead><tbody>')
    for vsha, vm in sorted(a.manifests.items()):
        prod = vm.producer if isinstance(vm.producer, dict) else {}
        parts.append(f'<tr><td><code>{e(vsha)}</code>{_revoked(data, vsha)}</td><td class="num">{e(vm.size)}</td>'
                     f'<td class="num">{e(vm.schema.get("rows", ""))}</td><td>{short(prod.get("git_commit"))}</td></tr>')
    parts.append("</tbody></table>")
    return parts

def _revocation_cells(data: SiteData, sha: str) -> tuple[str, list[str]]:
    """The artifact cell and the affected releases of one tombstone.

    Its bytes are a whole artifact version (a manifest with that sha256), or one file inside
    directory versions (:attr:`SiteData.revoked_files`), or both: bytes are revoked wherever they occur.
    """
    views = [a for per in data.artifacts.values() for a in per.values()]
    files = data.revoked_files.get(sha, [])
    cells: list[str] = []
    rels: list[str] = []
    for a in views:
        inside = [f for f in files if (f.ns, f.name) == (a.ns, a.name)]
        if sha not in a.manifests and not inside:
            continue
        whole = f' {badge("revoked")}' if sha in a.manifests else ""
        paths = "".join(f'<div class="revoked-path">{badge("revoked")} file <code>{e(f.uri)}</code></div>' for f in inside)
        cells.append(f'<a href="{e(a.href)}">{e(a.ns)}/{e(a.name)}</a>{whole}{paths}')
        for r, p in a.releases:
            held = sorted({f.path for f in inside if f.directory_sha256 == p["sha256"]})
            if p["sha256"] == sha or held:
                where = f' (holds {", ".join(f"<code>{e(x)}</code>" for x in held)})' if held else ""
                rels.append(f"{e(a.ns)}@{e(r.version)} {badge(r.release.status)}{where}")
    return "<br>".join(cells) or f'<span class="muted">unknown</span> {badge("revoked")}', rels


def render_revocations(data: SiteData) -> str:
    parts = ['<h1>Revocations</h1>',
             '<p class="lede">Artifacts, or files inside directory artifacts, whose bytes were withdrawn. Their '
             'manifests and history stay; their URIs resolve to the manifest and the tombstone, never to bytes.</p>']
    if not data.tombstones:
        parts.append('<p class="muted">Nothing has been revoked.</p>')
    else:
        parts.append('<table class="revocations"><thead><tr><th>artifact</th><th>sha256</th><th>reason</th>'
                     '<th>authority</th><th>date</th><th>releases affected</th></tr></thead><tbody>')
        for sha, t in sorted(data.tombstones.items(), key=lambda kv: (str(kv[1].date), kv[0])):
            links, rels = _revocation_cells(data, sha)
            parts.append(f'<tr data-sha256="{e(sha)}"><td>{links}</td><td><code>{e(sha)}</code></td>'
                         f'<td class="reason">{e(t.reason)}</td><td>{e(t.authority)}</td><td>{e(t.date)}</td>'
                         f'<td>{"<br>".join(rels) or "none"}</td></tr>')
        parts.append("</tbody></table>")
    return _page("revocations", "Revocations", "\n".join(parts), "", data)


# -- writing ------------------------------------------------------------------------------------
@dataclass
class SiteResult:
    out: Path
    pages: list[str]
    problems: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "pages": self.pages, "problems": self.problems}


def _prepare_out(out: Path) -> None:
    """Refuse to clobber a folder this command did not write (a typo must not delete a thesis)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise UsageError(f"{out} exists and was not written by 'pedata site'; choose another folder or empty it")


def build_site(reg: Registry, out: Path | str | None = None) -> SiteResult:
    """Write the whole site to ``out`` (default ``<registry>/site``), replacing a previous build.

    Pages are rendered into a temporary sibling folder and swapped in at the end, so a failed build
    leaves the previous site intact.
    """
    out = Path(out) if out is not None else reg.root / "site"
    out = out.resolve()
    _prepare_out(out)
    data = collect(reg)
    pages: dict[str, str] = {"index.html": render_index(data), "revocations.html": render_revocations(data)}
    for ns in sorted(data.artifacts):
        for name in sorted(data.artifacts[ns]):
            a = data.artifacts[ns][name]
            if a.manifests or a.releases or a.channels:
                pages[f"{ns}/{name}.html"] = render_artifact(data, a)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, text in pages.items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        (tmp / "assets").mkdir()
        assets = resources.files("dvc_pedata.site").joinpath("assets")
        for asset in ("style.css", "copy.js"):
            (tmp / "assets" / asset).write_bytes(assets.joinpath(asset).read_bytes())
        (tmp / MARKER).write_text("written by pedata site; the whole folder is replaced on the next build\n")
        os.chmod(tmp, 0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SiteResult(out, sorted(pages), data.problems)
