"""``pedata releases`` and ``pedata show``: read releases, their tags and what changed."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit
from dvc_pedata.cli.readonly import add_registry_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("releases", help="list releases with status, dates, artifacts and what changed since the previous release")
    p.add_argument("namespace", metavar="NS", nargs="?")
    add_registry_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_list)
    s = sub.add_parser("show", help="one release: pins, tags, lifecycle and changes since the previous release")
    s.add_argument("ref", metavar="NS@VERSION", help="a release: us@1.0.0, us@v1.0.0 or its tag us/v1.0.0")
    add_registry_flag(s)
    add_json_flag(s)
    s.set_defaults(func=_show)


def _list(args: argparse.Namespace) -> int:
    from dvc_pedata.releases.catalog import releases_in, render_list

    infos = releases_in(args.registry, args.namespace)
    emit(args, [ri.to_json() for ri in infos], render_list(infos))
    return 0


def _show(args: argparse.Namespace) -> int:
    from dvc_pedata.releases.catalog import render_show, show

    ri = show(args.ref, args.registry)
    emit(args, ri.to_json(), render_show(ri))
    return 0
