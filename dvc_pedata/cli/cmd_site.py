"""``pedata site``: write the registry's static catalogue (no server, no payload downloads)."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit, warn


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("site", help="write a static HTML catalogue of the registry (works from file://)")
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (default: <registry>/site; add /site/ to .gitignore unless you commit it)")
    add_json_flag(p)
    p.set_defaults(func=_site)


def _site(args: argparse.Namespace) -> int:
    from dvc_pedata.registry.repo import Registry
    from dvc_pedata.site.render import build_site

    res = build_site(Registry.find(), args.out)
    for problem in res.problems:
        warn(problem)
    emit(args, res.to_json(), f"wrote {len(res.pages)} pages to {res.out} (open {res.out / 'index.html'})")
    return 0
