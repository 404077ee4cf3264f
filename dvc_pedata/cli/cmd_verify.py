"""``pedata verify``."""

from __future__ import annotations

import argparse
import sys

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check every registry invariant over the tree and its history")
    p.add_argument("--base", metavar="REV", help="check what changed since REV, a verified commit (default: merge base with the "
                   "default branch; none on the default branch itself, which gets a full verify)")
    p.add_argument("--full", action="store_true", help="with a base: still read and check every document in the tree")
    p.add_argument("--remote", action="store_true", help="also check every pinned, unrevoked payload is in the remote")
    p.add_argument("--deep", action="store_true", help="with --remote: hash the remote bytes too")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.verify.core import verify

    report = verify(".", args.base, full=args.full, remote=args.remote, deep=args.deep)
    if args.json:
        emit(args, report.to_json(), None)
    else:
        for v in report.violations:
            print(str(v))
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report.counts.items()))
        summary = f"{len(report.violations)} violation(s)" if report.violations else "OK"
        print(f"pedata verify: {summary} ({counts or 'no documents'})", file=sys.stderr if report.violations else sys.stdout)
    return 1 if report.violations else 0
