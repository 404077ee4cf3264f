"""``pedata lineage``: the graph of a registry (or of one release or URI), its lint, its
OpenLineage events and its SVG rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.atomic import write_bytes
from dvc_pedata.errors import PedataError
from dvc_pedata.lineage.graph import Graph, lineage, lint, render_svg, to_openlineage
from dvc_pedata.registry.checkout import registry_root
from dvc_pedata.registry.repo import Registry


@dataclass
class Lineage:
    """The lineage graph of ``ref`` (a release, a URI, or None: the whole pipeline) in ``reg``."""

    reg: Registry
    graph: Graph
    ref: str | None = None


@dataclass
class LintReport:
    """The lineage rules' violations (one line each; empty: clean) and the size of the graph checked."""

    problems: list[str] = field(default_factory=list)
    nodes: int = 0
    edges: int = 0


def load(ref: str | None = None, registry: str | None = None) -> Lineage:
    """``ref``'s lineage in ``registry`` (a checkout or git URL; default ``$PEDATA_REGISTRY``, else the current one)."""
    reg = Registry.find(registry_root(registry))
    return Lineage(reg, lineage(ref, reg.root), ref)


def lint_lineage(ref: str | None = None, registry: str | None = None) -> LintReport:
    """Check the lineage rules on ``ref``'s graph (at its release commit; the work tree without ``ref``)."""
    lin = load(ref, registry)
    problems = lint(lin.graph, lin.reg, None if ref is None else lin.graph.commit)
    return LintReport(problems, len(lin.graph.nodes), len(lin.graph.edges))


def openlineage_events(lin: Lineage) -> list[dict[str, Any]]:
    """One OpenLineage event per stage, timed at the graph's commit, in the release's namespace
    (else the registry's default namespace, else ``default``)."""
    graph = lin.graph
    when = gitio.git(lin.reg.root, "show", "-s", "--format=%cI", graph.commit) if graph.commit else "1970-01-01T00:00:00Z"
    ns = (graph.scope or {}).get("namespace") or lin.reg.default_namespace or "default"
    return to_openlineage(graph, ns, when)


def write_svg(dot_text: str, path: Path | str) -> None:
    """Render ``dot_text`` with Graphviz into ``path`` (temp file, fsync, rename: never half an SVG)."""
    svg = render_svg(dot_text)
    if svg is None:
        raise PedataError("--svg needs Graphviz ('dot' is not on PATH); the DOT text was printed")
    write_bytes(Path(path), svg)
