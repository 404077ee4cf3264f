"""``pedata replay``."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="rebuild a release from its tagged recipe and compare with its pins")
    p.add_argument("ref", metavar="NS@VERSION|URI", help="a release (us@1.0.0, us/v1.0.0) or pedata://ns/name@vX.Y.Z")
    p.add_argument("--policy", choices=("strict", "lenient"), default="strict",
                   help="strict: identical sha256; lenient: same schema, rows, and numbers within --tolerance")
    p.add_argument("--tolerance", type=float, metavar="REL", help="--policy lenient only: largest relative drift allowed (default 1e-9)")
    p.add_argument("--remote", "-r", help="DVC remote to restore inputs from (default: the registry's)")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.lineage.replay import replay, summary

    report = replay(args.ref, args.policy, args.tolerance, ".", remote=args.remote)
    emit(args, report.to_json(), summary(report))
    return 0 if report.ok else 1
