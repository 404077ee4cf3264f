"""``pedata review --base REF``: the pull-request summary of what changed in the registry."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="markdown summary of registry changes since --base (for a pull request)")
    p.add_argument("--base", required=True, metavar="REF", help="the commit to compare with (e.g. origin/main)")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.verify.review import render_markdown, review

    res = review(args.base)
    emit(args, res.to_json(), render_markdown(res))
    return 0
