"""``pedata site``: the registry as a static catalogue (HTML + one stylesheet + one tiny script).

People choose a dataset by looking, so every registry gets pages it can publish anywhere (GitHub
Pages, a file share, ``file://``) with no server and no CDN. Everything on them comes from the
git-tracked documents — manifests, channels, releases, tombstones, ``dvc.yaml``/``dvc.lock`` and
git tags — so building the site never reads, let alone downloads, a payload.

Every string that comes from a document (names, notices, reasons, descriptions, licences) passes
through :func:`e` (``html.escape`` with quotes) on its way into HTML, attribute values included; a
Content-Security-Policy forbids inline script as a second line of defence. The only script copies
``textContent`` to the clipboard.

Citations and the lineage graph are built here from the same documents, kept deliberately small:
when ``pedata cite`` (releases branch) and ``pedata lineage`` (lineage branch) are in main, the
functions :func:`citation_for` and :func:`lineage_graph` should delegate to them.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from . import gitio
from .documents import Channel, Manifest, Release, Tombstone
from .errors import PedataError, UsageError
from .registry import Registry
from .schema_diff import diff_manifests, is_empty
from .semver import Version

STATUSES = ("provisional", "certified", "retired", "unreproducible", "revoked")
MARKER = ".pedata-site"


def e(value: Any) -> str:
    """HTML-escape anything for text *and* attribute contexts (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def badge(status: str) -> str:
    """A status badge; the CSS class comes from a fixed list, never from document text."""
    cls = status if status in STATUSES else "unknown"
    return f'<span class="badge badge-{cls}" data-status="{e(status)}">{e(status)}</span>'


def git_blob_sha1(data: bytes) -> str:
    """Git's blob id of ``data`` (what ``git hash-object`` prints): the ``swh:1:cnt`` identifier."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# -- gathering ----------------------------------------------------------------------------------
@dataclass
class ReleaseView:
    """A release document plus where git says it lives (tag object, commit)."""

    release: Release
    path: str
    tag: str
    tag_object: str | None = None  # annotated tag object id (swh:1:rel), None if absent or lightweight
    commit: str | None = None

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


@dataclass
class SiteData:
    """The whole registry as the site sees it, plus documents that could not be read."""

    reg: Registry
    artifacts: dict[str, dict[str, ArtifactView]]
    tombstones: dict[str, Tombstone]
    stages: dict[str, dict[str, Any]]
    head: str | None
    remote_url: str | None
    problems: list[str] = field(default_factory=list)


def _load(problems: list[str], cls: type, path: Path, reg: Registry) -> Any:
    try:
        return cls.load(path, reg.rel(path))
    except PedataError as exc:
        problems.append(exc.message if hasattr(exc, "message") else str(exc))
        return None


def _tag_info(reg: Registry, tag: str, rel_path: str) -> tuple[str | None, str | None]:
    """(annotated tag object, commit) for a release: the tag if it exists, else the adding commit."""
    obj = gitio.git(reg.root, "rev-parse", "--verify", "-q", f"refs/tags/{tag}", check=False) or None
    if obj:
        commit = gitio.git(reg.root, "rev-parse", f"{obj}^{{commit}}", check=False) or None
        kind = gitio.git(reg.root, "cat-file", "-t", obj, check=False)
        return (obj if kind == "tag" else None), commit
    added = gitio.git(reg.root, "log", "--diff-filter=A", "--format=%H", "--", rel_path, check=False)
    return None, (added.splitlines()[-1] if added else None)


def _descriptions(reg: Registry) -> dict[str, str]:
    """``desc`` of each artifact in dvc.yaml's ``artifacts:`` section, by name."""
    stages, arts = _read_dvc_yaml(reg.root)
    return {n: str(a.get("desc")) for n, a in arts.items() if isinstance(a, dict) and a.get("desc")}


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
        tag = f"{rel.namespace}/v{rel.version}"
        obj, commit = _tag_info(reg, tag, reg.rel(p))
        releases.append(ReleaseView(rel, reg.rel(p), tag, obj, commit))
    releases.sort(key=lambda r: (r.release.namespace, Version(r.version)))
    for rv in releases:
        for name, pin in sorted(rv.release.pins.items()):
            view(rv.release.namespace, name).releases.append((rv, pin))
    tombstones: dict[str, Tombstone] = {}
    for p in reg.iter_tombstone_paths():
        t = _load(problems, Tombstone, p, reg)
        if t is not None:
            tombstones[t.artifact_sha256] = t
    descs = _descriptions(reg)
    for per_ns in arts.values():
        for a in per_ns.values():
            a.description = descs.get(a.name)
    remote = gitio.git(reg.root, "remote", "get-url", "origin", check=False) or None
    return SiteData(reg, arts, tombstones, _read_stages(reg.root), gitio.head(reg.root), remote, problems)


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


# -- lineage (small, from dvc.lock/dvc.yaml; replace by the lineage module when it lands) ---------
def _read_dvc_yaml(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from ruamel.yaml import YAML

    path = root / "dvc.yaml"
    if not path.is_file():
        return {}, {}
    try:
        doc = YAML(typ="safe", pure=True).load(path.read_text()) or {}
    except Exception:  # noqa: BLE001 - a broken dvc.yaml only costs the graph, not the site
        return {}, {}
    return dict(doc.get("stages") or {}), dict(doc.get("artifacts") or {})


def _read_stages(root: Path) -> dict[str, dict[str, Any]]:
    """stage -> {cmd, deps, outs, params}; dvc.lock (resolved, what was built) wins over dvc.yaml."""
    from ruamel.yaml import YAML

    out: dict[str, dict[str, Any]] = {}
    lock = root / "dvc.lock"
    if lock.is_file():
        try:
            doc = YAML(typ="safe", pure=True).load(lock.read_text()) or {}
        except Exception:  # noqa: BLE001
            doc = {}
        for name, st in (doc.get("stages") or {}).items():
            out[str(name)] = {
                "cmd": st.get("cmd"),
                "deps": [str(d["path"]) for d in st.get("deps") or [] if isinstance(d, dict) and "path" in d],
                "outs": [str(o["path"]) for o in st.get("outs") or [] if isinstance(o, dict) and "path" in o],
                "params": [f"{f}: {', '.join(sorted(v))}" for f, v in (st.get("params") or {}).items()],
            }
    stages, _ = _read_dvc_yaml(root)
    for name, st in stages.items():
        if name in out or not isinstance(st, dict) or "foreach" in st or "matrix" in st:
            continue

        def paths(items: Any) -> list[str]:
            return [str(next(iter(i))) if isinstance(i, dict) else str(i) for i in items or []]

        out[str(name)] = {"cmd": st.get("cmd"), "deps": paths(st.get("deps")), "outs": paths(st.get("outs")),
                          "params": [str(p) if not isinstance(p, dict) else ", ".join(map(str, p)) for p in st.get("params") or []]}
    return out


@dataclass
class Graph:
    """Nodes ``(id, kind, label)`` with ``kind`` in file/stage/params, and edges ``(src, dst)``."""

    nodes: dict[str, tuple[str, str]]
    edges: list[tuple[str, str]]


def lineage_graph(stages: dict[str, dict[str, Any]], path: str) -> Graph | None:
    """The upstream graph of the file ``path``: producing stages, their inputs, params and outputs."""
    producer = {o: s for s, st in stages.items() for o in st["outs"]}
    if path not in producer:
        return None
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str]] = []
    todo, seen = [producer[path]], set()
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        st = stages[s]
        sid = f"stage:{s}"
        nodes[sid] = ("stage", s)
        for d in st["deps"]:
            nodes.setdefault(f"file:{d}", ("file", d))
            edges.append((f"file:{d}", sid))
            if d in producer:
                todo.append(producer[d])
        for p in st["params"]:
            nodes.setdefault(f"params:{p}", ("params", p))
            edges.append((f"params:{p}", sid))
        for o in st["outs"]:
            nodes.setdefault(f"file:{o}", ("file", o))
            edges.append((sid, f"file:{o}"))
    return Graph(nodes, sorted(set(edges)))


def render_svg(graph: Graph, highlight: str, links: dict[str, str]) -> str:
    """A left-to-right layered drawing; labels escaped; registered artifacts link to their pages."""
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for s, d in graph.edges:
        preds[d].append(s)
    layer: dict[str, int] = {}

    def depth(n: str, stack: frozenset[str] = frozenset()) -> int:
        if n not in layer:
            layer[n] = 0 if n in stack else 1 + max((depth(p, stack | {n}) for p in preds[n]), default=-1)
        return layer[n]

    for n in graph.nodes:
        depth(n)
    cols: dict[int, list[str]] = {}
    for n in sorted(graph.nodes, key=lambda n: (graph.nodes[n][0] != "params", graph.nodes[n][1])):
        cols.setdefault(layer[n], []).append(n)
    char_w, node_h, gap_x, gap_y, pad = 7.3, 28, 60, 14, 12
    width = {n: int(len(graph.nodes[n][1]) * char_w + 2 * pad) for n in graph.nodes}
    pos: dict[str, tuple[float, float]] = {}
    x = 10.0
    height = 0.0
    for c in sorted(cols):
        colw = max(width[n] for n in cols[c])
        for i, n in enumerate(cols[c]):
            pos[n] = (x, 10 + i * (node_h + gap_y))
        height = max(height, 10 + len(cols[c]) * (node_h + gap_y))
        x += colw + gap_x
    total_w = int(x - gap_x + 10)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="lineage graph" '
             f'width="{total_w}" height="{int(height)}" viewBox="0 0 {total_w} {int(height)}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#7a8594"/></marker></defs>']
    for s, d in graph.edges:
        x1, y1 = pos[s][0] + width[s], pos[s][1] + node_h / 2
        x2, y2 = pos[d][0], pos[d][1] + node_h / 2
        mx = (x1 + x2) / 2
        parts.append(f'<path d="M {x1:.1f} {y1:.1f} C {mx:.1f} {y1:.1f}, {mx:.1f} {y2:.1f}, {x2 - 2:.1f} {y2:.1f}" '
                     'fill="none" stroke="#7a8594" stroke-width="1.3" marker-end="url(#arrow)"/>')
    style = {"stage": ("#1d2430", "#ffffff", 4), "file": ("#f5f7fa", "#1d2430", 2), "params": ("#fff8e6", "#5b4300", 2)}
    for n, (kind, label) in graph.nodes.items():
        fill, color, rx = style[kind]
        stroke = "#0b5cad" if n == highlight else "#b8c0cc"
        sw = 2.5 if n == highlight else 1
        px, py = pos[n]
        node = (f'<g class="node node-{kind}" data-node="{e(label)}"><title>{e(kind)}: {e(label)}</title>'
                f'<rect x="{px:.1f}" y="{py:.1f}" width="{width[n]}" height="{node_h}" rx="{rx}" fill="{fill}" '
                f'stroke="{stroke}" stroke-width="{sw}"/>'
                f'<text x="{px + pad:.1f}" y="{py + 18:.1f}" fill="{color}">{e(label)}</text></g>')
        if n in links:
            node = f'<a href="{e(links[n])}">{node}</a>'
        parts.append(node)
    parts.append("</svg>")
    return "".join(parts)


# -- citations (small; delegate to `pedata cite` once it is in main) -----------------------------
def _authors(reg: Registry, ns: str) -> list[str]:
    cfg = reg.config.get("citation") if isinstance(reg.config.get("citation"), dict) else {}
    names = [str(a.get("name") if isinstance(a, dict) else a) for a in (cfg or {}).get("authors", [])]
    return names or [f"{ns} data registry maintainers"]


def swhids(reg: Registry, a: ArtifactView, sha: str, rv: ReleaseView | None) -> list[tuple[str, str]]:
    """Software Heritage ids computed from git itself: they match once the repository is archived."""
    out: list[tuple[str, str]] = []
    if rv is not None and rv.tag_object:
        out.append((f"swh:1:rel:{rv.tag_object}", f"release tag {rv.tag}"))
    if rv is not None and rv.commit:
        out.append((f"swh:1:rev:{rv.commit}", "commit that certified the release"))
        tree = gitio.git(reg.root, "rev-parse", f"{rv.commit}:manifests/{a.ns}/{a.name}", check=False)
        if tree:
            out.append((f"swh:1:dir:{tree}", f"manifests/{a.ns}/{a.name} at that commit"))
    mpath = reg.manifest_path(a.ns, a.name, sha)
    if mpath.is_file():
        out.append((f"swh:1:cnt:{git_blob_sha1(mpath.read_bytes())}", f"manifest {reg.rel(mpath)}"))
    if rv is not None:
        rpath = reg.root / rv.path
        if rpath.is_file():
            out.append((f"swh:1:cnt:{git_blob_sha1(rpath.read_bytes())}", f"release document {rv.path}"))
    return out


def _bib(text: str) -> str:
    """BibTeX-safe text: no braces or backslashes from documents, specials escaped."""
    text = text.replace("\\", "").replace("{", "").replace("}", "")
    for ch in "&%$#_":
        text = text.replace(ch, "\\" + ch)
    return text


def citation_for(data: SiteData, a: ArtifactView) -> dict[str, Any]:
    """CITATION.cff (1.2.0, ``type: dataset``), BibTeX and SWHIDs for the version a reader should cite."""
    ref, pin, rv = cited(a)
    sha = pin["sha256"]
    m = a.manifests.get(sha)
    ids = swhids(data.reg, a, sha, rv)
    version = rv.version if rv else ref
    date = str(rv.release.body.get("notice", {}).get("date", ""))[:10] if rv else None
    uri = f"pedata://{a.ns}/{a.name}@{ref}"
    q = json.dumps  # double-quoted YAML scalars: JSON escaping is valid YAML
    cff = ["cff-version: 1.2.0", 'message: "If you use this dataset, please cite it as below."', "type: dataset",
           f"title: {q(f'{a.ns}/{a.name}')}", f"version: {q(version)}"]
    if date:
        cff.append(f"date-released: {q(date)}")
    cff.append("authors:")
    cff += [f"  - name: {q(n)}" for n in _authors(data.reg, a.ns)]
    if a.description:
        cff.append(f"abstract: {q(a.description)}")
    if m is not None and m.licence:
        cff.append(f"license: {q(m.licence)}")
    if data.remote_url:
        cff.append(f"repository: {q(data.remote_url)}")
    cff.append("identifiers:")
    cff += [f"  - type: swh\n    value: {q(v)}\n    description: {q(d)}" for v, d in ids]
    cff.append(f"  - type: other\n    value: {q('sha256:' + sha)}\n    description: \"sha256 of the artifact's bytes\"")
    cff.append(f"  - type: other\n    value: {q(uri)}\n    description: \"pedata URI\"")
    key = "".join(c if c.isalnum() else "_" for c in f"{a.ns}_{a.name}_{version}")
    year = date[:4] if date else None
    bib = [f"@misc{{{key},", f"  title = {{{{{_bib(a.ns + '/' + a.name)}}}, version {_bib(version)}}},",
           f"  author = {{{' and '.join('{' + _bib(n) + '}' for n in _authors(data.reg, a.ns))}}},"]
    if year:
        bib.append(f"  year = {{{year}}},")
    bib.append(f"  version = {{{_bib(version)}}},")
    bib.append(f"  howpublished = {{\\url{{{_bib(uri)}}}}},")
    note = [f"sha256:{sha}"] + [v for v, _ in ids if v.startswith(("swh:1:rel", "swh:1:cnt"))][:1]
    bib.append(f"  note = {{{_bib('; '.join(note))}}},")
    bib.append("}")
    return {"ref": ref, "uri": uri, "sha256": sha, "release": rv, "cff": "\n".join(cff) + "\n",
            "bibtex": "\n".join(bib) + "\n", "swhids": ids}


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
    tpl = Template(resources.files("dvc_pedata.site_assets").joinpath("page.html").read_text())
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


def _schema_html(m: Manifest) -> str:
    s = m.schema
    out = [f'<dl class="facts"><dt>sha256</dt><dd><code>{e(m.sha256)}</code></dd>'
           f'<dt>format</dt><dd>{e(m.format)} <span class="muted">({e(m.body.get("media_type"))})</span></dd>'
           f'<dt>size</dt><dd>{e(m.size)} bytes</dd><dt>licence</dt><dd>{e(m.licence or "unspecified")}</dd>']
    if s.get("rows") is not None:
        out.append(f'<dt>rows</dt><dd class="rows">{e(s["rows"])}</dd>')
    if s.get("weight_column"):
        out.append(f'<dt>weight column</dt><dd class="weight-column"><code>{e(s["weight_column"])}</code></dd>')
    if s.get("fingerprint"):
        out.append(f'<dt>schema fingerprint</dt><dd><code>{e(s["fingerprint"])}</code></dd>')
    out.append("</dl>")
    ents = s.get("entities") or {}
    if ents:
        out.append('<h3>Entities</h3><table class="entities"><thead><tr><th>entity</th><th>key</th>'
                   '<th class="num">rows</th><th>weight</th></tr></thead><tbody>')
        for ent, info in sorted(ents.items()):
            info = info if isinstance(info, dict) else {}
            out.append(f'<tr><td>{e(ent)}</td><td><code>{e(info.get("key") or "")}</code></td>'
                       f'<td class="num">{e(info.get("rows") if info.get("rows") is not None else "")}</td>'
                       f'<td>{"<code>" + e(info["weight"]) + "</code>" if info.get("weight") else ""}</td></tr>')
        out.append("</tbody></table>")
    fields = s.get("fields") or []
    if fields:
        out.append('<h3>Columns</h3><table class="schema"><thead><tr><th class="num">#</th><th>column</th><th>type</th>'
                   '<th>entity</th><th>role</th><th>references</th><th>nullable</th></tr></thead><tbody>')
        for i, f in enumerate(fields, 1):
            role = f.get("role")
            cls = ' class="weight"' if role == "weight" else ""
            out.append(f'<tr{cls}><td class="num">{i}</td><td><code>{e(f.get("name"))}</code></td><td>{e(f.get("type"))}</td>'
                       f'<td>{e(f.get("entity") or "")}</td><td>{badge_role(role)}</td>'
                       f'<td>{e(f.get("references") or "")}</td><td>{"yes" if f.get("nullable") else "no"}</td></tr>')
        out.append("</tbody></table>")
        if s.get("fields_truncated"):
            out.append(f'<p class="muted">{e(s.get("field_count", 0) - len(fields))} more columns are summarised by the '
                       'fingerprint only.</p>')
    return "\n".join(out)


def badge_role(role: Any) -> str:
    return f'<span class="badge badge-role">{e(role)}</span>' if role else ""


def _diff_html(d: dict[str, Any]) -> str:
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


def render_artifact(data: SiteData, a: ArtifactView) -> str:
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
    # fetch
    parts.append('<h2 id="get">Get it</h2>')
    tomb = data.tombstones.get(sha)
    if tomb is not None:
        parts.append(f'<div class="revoked-box">These bytes were revoked on {e(tomb.date)} by {e(tomb.authority)}: '
                     f'<span class="reason">{e(tomb.reason)}</span>. The URI resolves to the manifest and the tombstone, '
                     'never to bytes. See <a href="../revocations.html">revocations</a>.</div>')
    shell, python = fetch_lines(data, a, ref)
    parts.append(snippet(ids, "Shell", shell, "get-shell"))
    parts.append(snippet(ids, "Python", python, "get-python"))
    # channels and releases
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
                     '<th>git tag</th><th>sha256</th></tr></thead><tbody>')
        for r, rpin in reversed(a.releases):
            notice = r.release.body.get("notice") or {}
            parts.append(f'<tr data-version="{e(r.version)}"><td>{e(r.version)}</td><td>{badge(r.release.status)}'
                         f'{_revoked(data, rpin["sha256"])}</td>'
                         f'<td class="notice"><strong>{e(notice.get("type"))}</strong>: {e(notice.get("summary"))}</td>'
                         f'<td>{e(str(notice.get("date", ""))[:10])}</td>'
                         f'<td><code>{e(r.tag)}</code>{"" if r.commit else " <span class=muted>(untagged)</span>"}</td>'
                         f'<td>{short(rpin["sha256"])}</td></tr>')
        parts.append("</tbody></table>")
    else:
        parts.append('<p class="muted">Not released yet: channels are operational pointers; cite a release once one is certified.</p>')
    # schema
    parts.append('<h2 id="schema">Schema</h2>')
    if m is not None:
        parts.append(f'<p class="muted">From the manifest of <code>@{e(ref)}</code>; read from file metadata, not the payload.</p>')
        parts.append(_schema_html(m))
    else:
        parts.append(f'<p class="warning">No manifest for sha256 {short(sha)} in this registry.</p>')
    # schema changes between consecutive releases
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
            parts.append(_diff_html(diff_manifests(m1, m2)))
    # lineage
    parts.append('<h2 id="lineage">Lineage</h2>')
    graph = lineage_graph(data.stages, str(m.body.get("path"))) if m is not None else None
    if graph is None:
        parts.append('<p class="muted">No pipeline stage in dvc.lock or dvc.yaml produces this artifact.</p>')
    else:
        links = {}
        for other in (x for per in data.artifacts.values() for x in per.values()):
            for om in other.manifests.values():
                if om.body.get("path"):
                    links[f"file:{om.body['path']}"] = f"../{other.href}"
        parts.append(f'<div class="lineage">{render_svg(graph, "file:" + str(m.body.get("path")), links)}</div>')
        stage = m.producer.get("stage") if isinstance(m.producer, dict) else None
        if stage and stage in data.stages:
            parts.append(f'<p class="muted">Stage <code>{e(stage)}</code>: <code>{e(data.stages[stage].get("cmd"))}</code>; '
                         'rebuild with <code>dvc repro</code>.</p>')
    # cite
    cit = citation_for(data, a)
    parts.append('<h2 id="cite">Cite</h2>')
    if rv is None:
        parts.append('<p class="warning">No release pins this artifact yet: this citation names a channel, which moves. '
                     'Cite a certified release when there is one.</p>')
    parts.append(snippet(ids, "CITATION.cff", cit["cff"], "cite-cff"))
    parts.append(snippet(ids, "BibTeX", cit["bibtex"], "cite-bibtex"))
    parts.append(snippet(ids, "SWHIDs", "\n".join(v for v, _ in cit["swhids"]) or "(none: not committed yet)", "cite-swhid"))
    if cit["swhids"]:
        parts.append('<ul class="swhids muted">' + "".join(f"<li><code>{e(v)}</code>: {e(d)}</li>" for v, d in cit["swhids"]) + "</ul>")
    # every version
    parts.append('<h2 id="versions">All versions</h2><table class="versions"><thead><tr><th>sha256</th>'
                 '<th class="num">size</th><th class="num">rows</th><th>built at commit</th></tr></thead><tbody>')
    for vsha, vm in sorted(a.manifests.items()):
        prod = vm.producer if isinstance(vm.producer, dict) else {}
        parts.append(f'<tr><td><code>{e(vsha)}</code>{_revoked(data, vsha)}</td><td class="num">{e(vm.size)}</td>'
                     f'<td class="num">{e(vm.schema.get("rows", ""))}</td><td>{short(prod.get("git_commit"))}</td></tr>')
    parts.append("</tbody></table>")
    return _page("artifact", f"{a.ns}/{a.name}", "\n".join(parts), "../", data)


def render_revocations(data: SiteData) -> str:
    parts = ['<h1>Revocations</h1>',
             '<p class="lede">Artifacts whose bytes were withdrawn. Their manifests and history stay; '
             'their URIs resolve to the manifest and the tombstone, never to bytes.</p>']
    if not data.tombstones:
        parts.append('<p class="muted">Nothing has been revoked.</p>')
    else:
        parts.append('<table class="revocations"><thead><tr><th>artifact</th><th>sha256</th><th>reason</th>'
                     '<th>authority</th><th>date</th><th>releases affected</th></tr></thead><tbody>')
        for sha, t in sorted(data.tombstones.items(), key=lambda kv: (str(kv[1].date), kv[0])):
            names = [a for per in data.artifacts.values() for a in per.values() if sha in a.manifests]
            links = ", ".join(f'<a href="{e(a.href)}">{e(a.ns)}/{e(a.name)}</a>' for a in names) or '<span class="muted">unknown</span>'
            rels = [f"{e(a.ns)}@{e(r.version)} {badge(r.release.status)}" for a in names for r, p in a.releases if p["sha256"] == sha]
            parts.append(f'<tr data-sha256="{e(sha)}"><td>{links} {badge("revoked")}</td><td><code>{e(sha)}</code></td>'
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
        assets = resources.files("dvc_pedata.site_assets")
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
