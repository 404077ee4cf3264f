"""``pedata channel drop``: take artifacts out of a channel (``latest`` included) by a signed commit."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("channel", help="change a channel by a signed commit (drop artifacts)")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    d = verbs.add_parser("drop", help="remove artifacts from a channel as a signed commit on a new branch")
    d.add_argument("namespace", metavar="NS")
    d.add_argument("channel", metavar="CHANNEL", help="the channel to change (latest, next, ...)")
    d.add_argument("names", nargs="+", metavar="NAME", help="artifacts to drop")
    add_list_flag(d, "--sign", metavar="KEY", required=True, help="promoter key names or paths (several after one flag, or repeated)")
    d.add_argument("--reason", help="why (goes into the commit message and the pull-request body)")
    d.add_argument("--branch", help="branch to commit on (default: drop/<ns>-<channel>-v<version>)")
    d.add_argument("--expires", metavar="DURATION", help="new channel expiry, e.g. 30d (default: keep the current one)")
    d.add_argument("--no-commit", action="store_true", help="write and stage the channel, do not branch or commit")
    add_json_flag(d)
    d.set_defaults(func=_drop)


def _drop(args: argparse.Namespace) -> int:
    from dvc_pedata.cli.output import branch_note
    from dvc_pedata.publish.drop import drop, pr_body

    res = drop(args.namespace, args.channel, args.names, sign=args.sign, reason=args.reason, branch=args.branch,
               expires=args.expires, commit=not args.no_commit)
    emit(args, res.to_json(), pr_body(res))
    if res.branch:
        branch_note(res.branch, res.previous_branch)
    return 0
