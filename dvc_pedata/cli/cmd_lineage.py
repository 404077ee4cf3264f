"""``pedata lineage``."""

from __future__ import annotations

import argparse
import json
import sys

from dvc_pedata.cli.readonly import add_registry_flag


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
    from dvc_pedata.errors import UsageError
    from dvc_pedata.lineage import graph as lineage
    from dvc_pedata.lineage import view

    if args.svg and args.lint:
        raise UsageError("--svg renders the graph; --lint only checks it: use one or the other")
    if args.lint and args.format is not None:
        raise UsageError(f"--lint only checks the graph and prints findings: drop --format {args.format}")
    if args.svg and args.format not in (None, "dot"):
        raise UsageError(f"--svg renders the DOT graph: it cannot be combined with --format {args.format}")
    args.format = args.format or ("dot" if args.svg else "json")
    if args.lint:
        rep = view.lint_lineage(args.ref, args.registry)
        for line in rep.problems:
            print(line)
        if rep.problems:
            print(f"pedata lineage --lint: {len(rep.problems)} violation(s) in {rep.nodes} node(s)", file=sys.stderr)
            return 1
        print(f"pedata lineage --lint: OK ({rep.nodes} nodes, {rep.edges} edges)")
        return 0
    lin = view.load(args.ref, args.registry)
    if args.format == "json":
        sys.stdout.write(json.dumps(lin.graph.to_json(), indent=2, sort_keys=True) + "\n")
    elif args.format == "prov":
        sys.stdout.write(json.dumps(lineage.to_prov(lin.graph), indent=2, sort_keys=True) + "\n")
    elif args.format == "openlineage":
        for event in view.openlineage_events(lin):
            sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
    else:
        text = lineage.to_dot(lin.graph)
        sys.stdout.write(text)
        if args.svg:
            view.write_svg(text, args.svg)
    return 0
