"""``pedata update [PATH...]``: move channel-following imports to the channel's current pin."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("update", help="move files made by pedata import that follow a channel to its current pin (checked)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="imported files or their .dvc files (default: every pedata import in this DVC project)")
    p.add_argument("--trusted-root", metavar="DIGEST", help="accept only a trust chain starting at this root-1 digest")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.resolver.dvcupdate import update

    done = update(args.paths, trusted_root=args.trusted_root)
    text = "\n".join(u.line() for u in done) or "no pedata imports in this DVC project"
    emit(args, [u.to_json() for u in done], text)
    return 0
