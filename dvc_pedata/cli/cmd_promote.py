"""``pedata promote``."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("promote", help="move pins between channels as a signed commit on a new branch")
    p.add_argument("namespace", metavar="NS")
    p.add_argument("--from", dest="source", default="latest", help="source channel (default: latest)")
    p.add_argument("--to", dest="target", default="next", help="target channel (default: next)")
    add_list_flag(p, "--only", metavar="NAME", help="promote only these artifacts (several after one flag, or repeated)")
    add_list_flag(p, "--sign", metavar="KEY", required=True, help="promoter key names or paths (several after one flag, or repeated)")
    p.add_argument("--branch", help="branch to commit on (default: promote/<ns>-<channel>-v<version>)")
    p.add_argument("--expires", metavar="DURATION", help="channel expiry, e.g. 30d")
    p.add_argument("--no-commit", action="store_true", help="write and stage the channel, do not branch or commit")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.cli.output import branch_note
    from dvc_pedata.publish.promote import pr_body, promote

    res = promote(args.namespace, args.source, args.target, sign=args.sign, only=args.only,
                  branch=args.branch, expires=args.expires, commit=not args.no_commit)
    emit(args, res.to_json(), pr_body(res))
    if res.branch and res.branch != res.previous_branch:
        branch_note(res.branch, res.previous_branch)
    return 0
