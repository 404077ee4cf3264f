"""``pedata lineage``: ``dvc.yaml``/``dvc.lock`` as a provenance graph, and its lint rules.

Nodes are stages (name, command digest, params, frozen) and artifacts (path, sha256, md5). Edges
run artifact -> stage (``used``) and stage -> artifact (``generated``). A sha256 comes from the
manifests (published outputs, matched by path and DVC md5) or from the inputs lock (raw inputs,
matched by md5): lineage never hashes payloads, so it works on a checkout without the data.

For a release the graph is read at the release's tag (``<ns>/v<version>``), not at HEAD, and cut
down to what its pins were built from.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import NotFoundError, PedataError, UsageError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import loads_strict
from dvc_pedata.model.companion import is_companion
from dvc_pedata.model.documents import Manifest, Release
from dvc_pedata.model.locks import load_inputs_lock
from dvc_pedata.model.names import LATEST
from dvc_pedata.model.semver import SEMVER_RE, check_semver
from dvc_pedata.model.uri import RELEASE_REF_HELP, is_uri, parse, parse_release_ref, tag_name
from dvc_pedata.publish.locks import INPUTS_LOCK
from dvc_pedata.registry.refs import pin_for
from dvc_pedata.registry.repo import Registry

FORMATS = ("json", "dot", "prov", "openlineage")


@dataclass
class Graph:
    """Nodes by id (``stage:<target>`` / ``artifact:<path>``) and typed edges."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, str]] = field(default_factory=list)
    commit: str | None = None
    scope: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "lineage",
            "schema_version": 1,
            "commit": self.commit,
            "scope": self.scope,
            "nodes": [self.nodes[k] for k in sorted(self.nodes)],
            "edges": sorted(self.edges, key=lambda e: (e["from"], e["to"])),
        }

    def upstream_of(self, node_ids: list[str]) -> Graph:
        """The subgraph of ``node_ids`` and everything they were built from."""
        into: dict[str, list[str]] = {}
        for e in self.edges:
            into.setdefault(e["to"], []).append(e["from"])
        keep, todo = set(), list(node_ids)
        while todo:
            n = todo.pop()
            if n in keep:
                continue
            keep.add(n)
            todo.extend(into.get(n, []))
        return Graph(
            {k: v for k, v in self.nodes.items() if k in keep},
            [e for e in self.edges if e["from"] in keep and e["to"] in keep],
            self.commit,
            self.scope,
        )


# -- reading registry files at HEAD (work tree) or at a commit ------------------------------------
class _Files:
    def __init__(self, reg: Registry, rev: str | None) -> None:
        self.reg, self.rev = reg, rev

    def read(self, rel: str) -> bytes | None:
        if self.rev is None:
            p = self.reg.root / rel
            return p.read_bytes() if p.is_file() else None
        return gitio.show(self.reg.root, self.rev, rel)

    def manifests(self) -> list[dict[str, Any]]:
        if self.rev is None:
            items = [(self.reg.rel(p), p.read_bytes()) for p in self.reg.iter_manifest_paths()]
        else:
            paths = [p for p in gitio.ls_tree(self.reg.root, self.rev, layout.MANIFESTS) if p.endswith(".json") and not is_companion(p)]
            items = [(s.split(":", 1)[1], d) for s, d in gitio.batch_read(self.reg.root, [f"{self.rev}:{p}" for p in paths]) if d]
        out = []
        for rel, data in items:
            try:
                obj = loads_strict(data, source=rel)
            except PedataError:
                continue  # `pedata verify` reports broken manifests; lineage just lacks their sha256
            if isinstance(obj, dict):
                out.append(obj)
        return out


def _artifact_digests(files: _Files) -> tuple[dict[tuple[str, str | None], str], dict[str, dict[str, Any]] | None]:
    """(path, md5) -> sha256 from manifests and the inputs lock; plus the lock entries by path."""
    known: dict[tuple[str, str | None], str] = {}
    for m in files.manifests():
        dig = m.get("digest")
        # a malformed manifest (verify reports it) only leaves its artifact without a sha256
        if isinstance(dig, dict) and isinstance(m.get("path"), str) and isinstance(dig.get("sha256"), str):
            md5 = dig.get("md5")
            known[(m["path"], md5 if isinstance(md5, str) else None)] = dig["sha256"]
    data = files.read(INPUTS_LOCK)
    lock = None
    if data is not None:
        lock = {i["path"]: i for i in load_inputs_lock(data)["inputs"]}
        for path, entry in lock.items():
            known.setdefault((path, entry.get("md5")), entry["sha256"])
    return known, lock


def build_graph(reg: Registry, rev: str | None = None, stages: list[Any] | None = None) -> Graph:
    """The whole pipeline graph of the registry (work tree, or the commit ``rev``)."""
    if stages is None:
        from dvc_pedata.dvcio.pipeline import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
            pipeline_stages,
        )

        stages = pipeline_stages(reg.root, rev=rev)
    files = _Files(reg, rev)
    known, lock = _artifact_digests(files)
    g = Graph(commit=rev or gitio.head(reg.root))

    def artifact(entry: dict[str, Any]) -> str:
        nid = f"artifact:{entry['path']}"
        node = g.nodes.setdefault(nid, {"id": nid, "type": "artifact", "path": entry["path"], "md5": None, "sha256": None, "size": None})
        if entry.get("md5"):
            node["md5"] = entry["md5"]
            node["size"] = entry.get("size")
        if node["sha256"] is None:
            node["sha256"] = known.get((entry["path"], node["md5"]))
        if lock is not None and entry["path"] in lock and node["sha256"] is None and node["md5"] is None:
            node["sha256"] = lock[entry["path"]]["sha256"]  # a git-tracked input DVC has no md5 for yet
        return nid

    for st in stages:
        sid = f"stage:{st.target}"
        g.nodes[sid] = {
            "id": sid,
            "type": "stage",
            "name": st.name,
            "dvcfile": st.dvcfile,
            "cmd": st.cmd,
            "cmd_digest": hashlib.sha256(st.cmd.encode()).hexdigest() if st.cmd else None,
            "params": st.params,
            "frozen": st.frozen,
            "data_source": st.data_source,
        }
        for dep in st.deps:
            g.edges.append({"from": artifact(dep), "to": sid, "type": "used"})
        for out in st.outs:
            g.edges.append({"from": sid, "to": artifact(out), "type": "generated"})
    return g


# -- scopes ---------------------------------------------------------------------------------------
def release_at_tag(reg: Registry, ns: str, version: str) -> tuple[str, Release]:
    """The commit a release tag names and the release document as committed there."""
    version = check_semver(version)
    ns = reg.namespace(ns)
    tag = tag_name(ns, version)
    commit = gitio.git(reg.root, "rev-parse", "--verify", "-q", f"refs/tags/{tag}^{{commit}}", check=False)
    if not commit:
        raise NotFoundError(f"no release tag {tag} (a release is tagged when it is certified)")
    rel = layout.release(ns, version)
    data = gitio.show(reg.root, commit, rel)
    if data is None:
        raise NotFoundError(f"tag {tag} names commit {commit[:12]}, which has no {rel}")
    return commit, Release.from_bytes(data, f"{rel} at {tag}")


@dataclass
class Scope:
    """What a REF names: a commit (None = work tree), the pins, and a description."""

    commit: str | None
    pins: dict[str, dict[str, Any]]
    namespace: str | None
    label: str
    release: str | None = None


def parse_ref(reg: Registry, ref: str | None) -> Scope:
    """``NS@VERSION``, ``NS/vVERSION`` (a tag), or a ``pedata://`` URI; None = the whole work tree."""
    if ref is None:
        return Scope(None, {}, None, "work tree")
    if is_uri(ref):
        uri = parse(ref, default_ref=LATEST)

        if uri.ref_kind == "release":
            commit, rel = release_at_tag(reg, uri.namespace, uri.ref)
            if uri.name not in rel.pins:
                raise NotFoundError(f"release {uri.namespace}@{uri.ref} has no artifact {uri.name!r}")
            return Scope(commit, {uri.name: rel.pins[uri.name]}, uri.namespace, str(uri), rel.version)
        return Scope(None, {uri.name: pin_for(reg, uri)}, uri.namespace, str(uri))
    try:
        ns, version = parse_release_ref(ref)
    except UsageError:
        raise UsageError(f"bad reference {ref!r}: expected {RELEASE_REF_HELP}, or a pedata:// URI") from None
    commit, rel = release_at_tag(reg, ns, version)
    return Scope(commit, dict(rel.pins), rel.namespace, f"{rel.namespace}@{rel.version}", rel.version)


def pinned_paths(reg: Registry, scope: Scope) -> dict[str, dict[str, Any]]:
    """name -> {path, sha256, md5, manifest} for each pin, from the manifests at the scope's commit."""
    files = _Files(reg, scope.commit)
    out = {}
    for name, pin in sorted(scope.pins.items()):
        rel = layout.manifest(scope.namespace, name, pin["sha256"])
        data = files.read(rel)
        if data is None:
            raise NotFoundError(f"pin {name!r} names sha256 {pin['sha256'][:12]}…, but {rel} does not exist")
        m = Manifest.from_bytes(data, rel).body  # a malformed manifest is a one-line error naming it
        out[name] = {"path": m.get("path"), "sha256": pin["sha256"], "md5": (m.get("digest") or {}).get("md5"), "manifest": m}
    return out


def lineage(ref: str | None = None, root: Path | str = ".") -> Graph:
    """The lineage graph for ``ref`` (see :func:`parse_ref`); the whole pipeline without one."""
    reg = Registry.find(root)
    scope = parse_ref(reg, ref)
    graph = build_graph(reg, scope.commit)
    if not scope.pins:
        graph.scope = {"ref": None}
        return graph
    pins = pinned_paths(reg, scope)
    ids = []
    for name, p in pins.items():
        nid = f"artifact:{p['path']}"
        if nid not in graph.nodes:
            raise NotFoundError(f"pin {name!r} ({p['path']}) is not an output in the pipeline at {scope.label}")
        graph.nodes[nid]["sha256"] = p["sha256"]
        graph.nodes[nid].setdefault("pins", []).append(name)
        ids.append(nid)
    sub = graph.upstream_of(ids)
    sub.scope = {"ref": scope.label, "release": scope.release, "namespace": scope.namespace}
    return sub


# -- lint -----------------------------------------------------------------------------------------
def lint(graph: Graph, reg: Registry, rev: str | None = None) -> list[str]:
    """Every rule violation, one line each (empty list = clean)."""
    problems: list[str] = []
    linked: dict[str, set[str]] = {n: set() for n in graph.nodes}
    for e in graph.edges:
        for a, b in ((e["from"], e["to"]), (e["to"], e["from"])):
            if a not in graph.nodes:
                problems.append(f"edge {e['from']} -> {e['to']} names a node that does not exist: {a}")
            else:
                linked[a].add(b)
    for nid in sorted(graph.nodes):
        if not linked[nid]:
            problems.append(f"dangling node {nid}: nothing connects it to the pipeline")
    parts = _components(linked)
    if len(parts) > 1:
        desc = "; ".join(", ".join(sorted(n for n in p if n.startswith("stage:")) or sorted(p)[:1]) for p in parts)
        problems.append(f"lineage graph is not connected: {len(parts)} separate parts ({desc})")
    for _nid, node in sorted(graph.nodes.items()):
        if node["type"] == "artifact" and not node.get("sha256"):
            problems.append(f"artifact {node['path']} has no sha256 (publish it, or run 'pedata lock' if it is a raw input)")
    files = _Files(reg, rev)
    cfg_data = files.read("pedata.json")
    cfg = loads_strict(cfg_data, source="pedata.json") if cfg_data else {}
    replay = cfg.get("replay", {}) if isinstance(cfg, dict) else {}
    enabled = not (replay is False or (isinstance(replay, dict) and replay.get("enabled") is False))
    if enabled and files.read(INPUTS_LOCK) is None:
        problems.append(f"replay is enabled but {INPUTS_LOCK} is missing (run 'pedata lock', or set \"replay\": {{\"enabled\": false}} in pedata.json)")
    paths = gitio.ls_tree(reg.root, rev or "HEAD", layout.RELEASES) if rev else [reg.rel(p) for p in reg.iter_release_paths()]
    for rel in paths:
        stem = Path(rel).stem
        if rel.endswith(".json") and not SEMVER_RE.match(stem):
            problems.append(f"{rel}: release version {stem!r} is not semver")
    for tag in gitio.git(reg.root, "tag", "--list", "*/v*").splitlines():
        version = tag.rsplit("/v", 1)[-1]
        if not SEMVER_RE.match(version):
            problems.append(f"tag {tag}: version {version!r} is not semver")
    return problems


def _components(linked: dict[str, set[str]]) -> list[set[str]]:
    seen: set[str] = set()
    parts = []
    for start in sorted(linked):
        if start in seen or not linked[start]:
            continue
        part, todo = set(), [start]
        while todo:
            n = todo.pop()
            if n in part:
                continue
            part.add(n)
            todo.extend(linked[n] - part)
        seen |= part
        parts.append(part)
    return parts


# -- renderings -----------------------------------------------------------------------------------
def _label(node: dict[str, Any]) -> str:
    if node["type"] == "stage":
        return f"{node['name']}\\n{(node['cmd'] or 'data source')[:60]}"
    sha = node.get("sha256")
    return f"{node['path']}\\n{'sha256:' + sha[:12] if sha else 'no sha256'}"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def to_dot(graph: Graph) -> str:
    """Graphviz DOT: stages as boxes, artifacts as notes, data flowing left to right."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
    for nid, node in sorted(graph.nodes.items()):
        shape = "box" if node["type"] == "stage" else "note"
        style = ', style="dashed"' if node.get("frozen") else ""
        lines.append(f"  {_q(nid)} [shape={shape}, label={_q(_label(node))}{style}];")
    for e in sorted(graph.edges, key=lambda e: (e["from"], e["to"])):
        lines.append(f"  {_q(e['from'])} -> {_q(e['to'])};")
    lines.append("}")
    return "\n".join(lines) + "\n"


PROV_PREFIX = {"pedata": "https://pedata.dev/ns/lineage#", "stage": "https://pedata.dev/ns/stage/", "artifact": "https://pedata.dev/ns/artifact/"}


def _qname(nid: str) -> str:
    kind, _, rest = nid.partition(":")
    return f"{kind}:{rest.replace(':', '/')}"


def to_prov(graph: Graph) -> dict[str, Any]:
    """W3C PROV-JSON: artifacts are entities, stages activities, edges used / wasGeneratedBy."""
    doc: dict[str, Any] = {"prefix": dict(PROV_PREFIX), "entity": {}, "activity": {}, "used": {}, "wasGeneratedBy": {}}
    for nid, node in sorted(graph.nodes.items()):
        if node["type"] == "artifact":
            attrs = {"prov:label": node["path"], "prov:type": "pedata:Artifact"}
            for key in ("sha256", "md5", "size"):
                if node.get(key) is not None:
                    attrs[f"pedata:{key}"] = node[key]
            doc["entity"][_qname(nid)] = attrs
        else:
            attrs = {"prov:label": node["name"], "prov:type": "pedata:Stage", "pedata:frozen": bool(node["frozen"]),
                     "pedata:params": json.dumps(node["params"], sort_keys=True)}
            if node.get("cmd"):
                attrs["pedata:cmd"] = node["cmd"]
                attrs["pedata:cmd_digest"] = node["cmd_digest"]
            doc["activity"][_qname(nid)] = attrs
    for i, e in enumerate(sorted(graph.edges, key=lambda e: (e["from"], e["to"])), 1):
        if e["type"] == "used":
            doc["used"][f"_:u{i}"] = {"prov:activity": _qname(e["to"]), "prov:entity": _qname(e["from"])}
        else:
            doc["wasGeneratedBy"][f"_:g{i}"] = {"prov:entity": _qname(e["to"]), "prov:activity": _qname(e["from"])}
    return {k: v for k, v in doc.items() if v}


OPENLINEAGE_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
PRODUCER = "https://github.com/policyengine/dvc-pedata"


def to_openlineage(graph: Graph, namespace: str, event_time: str) -> list[dict[str, Any]]:
    """One OpenLineage ``COMPLETE`` RunEvent per stage (written as JSON Lines).

    ``runId`` is a UUID derived from the commit and stage, so the same commit gives the same
    events; ``eventTime`` is the commit's time (lineage describes a recorded build, not now).
    """
    inputs: dict[str, list[str]] = {}
    outputs: dict[str, list[str]] = {}
    for e in graph.edges:
        if e["type"] == "used":
            inputs.setdefault(e["to"], []).append(e["from"])
        else:
            outputs.setdefault(e["from"], []).append(e["to"])

    def dataset(nid: str) -> dict[str, Any]:
        node = graph.nodes[nid]
        ds: dict[str, Any] = {"namespace": f"pedata://{namespace}", "name": node["path"]}
        if node.get("sha256"):
            ds["facets"] = {"pedata_digest": {"_producer": PRODUCER, "_schemaURL": f"{PRODUCER}#digest", "sha256": node["sha256"], "md5": node.get("md5")}}
        return ds

    events = []
    for nid, node in sorted(graph.nodes.items()):
        if node["type"] != "stage":
            continue
        run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"pedata:{graph.commit}:{nid}")
        events.append({
            "eventType": "COMPLETE",
            "eventTime": event_time,
            "producer": PRODUCER,
            "schemaURL": OPENLINEAGE_SCHEMA,
            "run": {"runId": str(run_id)},
            "job": {"namespace": f"pedata://{namespace}", "name": node["name"]},
            "inputs": [dataset(i) for i in sorted(inputs.get(nid, []))],
            "outputs": [dataset(o) for o in sorted(outputs.get(nid, []))],
        })
    return events


def render_svg(dot_text: str) -> bytes | None:
    """SVG from Graphviz ``dot`` when it is installed, else None."""
    import shutil
    import subprocess

    exe = shutil.which("dot")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-Tsvg"], input=dot_text.encode(), capture_output=True, check=False)
    if proc.returncode != 0:
        raise PedataError(f"dot failed to render the graph: {proc.stderr.decode(errors='replace').strip()[:200]}")
    return proc.stdout
