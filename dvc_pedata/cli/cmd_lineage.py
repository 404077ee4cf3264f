"""``pedata lineage``."""

from __future__ import annotations

import argparse
import json
import sys

from dvc_pedata.cli.readonly import add_registry_flag, registry_root


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lineage", help="the pipeline as a provenance graph (JSON, DOT, PROV-JSON, OpenLineage)")
    p.add_argument("ref", nargs="?", metavar="NS@VERSION|URI", help="a release (us@1.0.0) or a pedata:// URI (default: the whole pipeline)")
    p.add_argument("--format", "-f", choices=("json", "dot", "prov", "openlineage"),
                   help="output format (default: json, or dot with --svg)")
    p.add_argument("--svg", metavar="FILE", help="print DOT and also render it to FILE with Graphviz (implies --format dot)")
    p.add_argument("--lint", action="store_true", help="check the lineage rules; exit 1 on any violation")
    add_registry_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.base import gitio
    from dvc_pedata.errors import PedataError, UsageError
    from dvc_pedata.lineage import graph as lineage
    from dvc_pedata.registry.repo import Registry

    if args.svg and args.lint:
        raise UsageError("--svg renders the graph; --lint only checks it: use one or the other")
    if args.lint and args.format is not None:
        raise UsageError(f"--lint only checks the graph and prints findings: drop --format {args.format}")
    if args.svg and args.format not in (None, "dot"):
        raise UsageError(f"--svg renders the DOT graph: it cannot be combined with --format {args.format}")
    args.format = args.format or ("dot" if args.svg else "json")
    reg = Registry.find(registry_root(args))
    graph = lineage.lineage(args.ref, reg.root)
    if args.lint:
        problems = lineage.lint(graph, reg, None if args.ref is None else graph.commit)
        for line in problems:
            print(line)
        n = len(graph.nodes)
        if problems:
            print(f"pedata lineage --lint: {len(problems)} violation(s) in {n} node(s)", file=sys.stderr)
            return 1
        print(f"pedata lineage --lint: OK ({n} nodes, {len(graph.edges)} edges)")
        return 0
    if args.format == "json":
        sys.stdout.write(json.dumps(graph.to_json(), indent=2, sort_keys=True) + "\n")
    elif args.format == "prov":
        sys.stdout.write(json.dumps(lineage.to_prov(graph), indent=2, sort_keys=True) + "\n")
    elif args.format == "openlineage":
        when = gitio.git(reg.root, "show", "-s", "--format=%cI", graph.commit) if graph.commit else "1970-01-01T00:00:00Z"
        ns = (graph.scope or {}).get("namespace") or reg.default_namespace or "default"
        for event in lineage.to_openlineage(graph, ns, when):
            sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    else:
        text = lineage.to_dot(graph)
        sys.stdout.write(text)
        if args.svg:
            svg = lineage.render_svg(text)
            if svg is None:
                raise PedataError("--svg needs Graphviz ('dot' is not on PATH); the DOT text was printed")
            from pathlib import Path

            from dvc_pedata.base.atomic import write_bytes

            write_bytes(Path(args.svg), svg)  # temp file, fsync, rename: never half an SVG
    return 0
