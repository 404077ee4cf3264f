"""``pedata policyengine seed``: place a PolicyEngine bundle's datasets where its loader reuses them."""

from __future__ import annotations

import argparse
from pathlib import Path

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policyengine", help="PolicyEngine helpers (seed a data folder from the registry)")
    psub = p.add_subparsers(dest="pe_command", metavar="COMMAND", required=True)
    s = psub.add_parser("seed", help="place each certified dataset of a PolicyEngine bundle at DIR/<path>,"
                                     " sha256-verified, so materialize_dataset reuses it with no download")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--bundle", metavar="FILE", help="a bundle manifest (policyengine's data/bundle/manifest.json format)")
    which.add_argument("--installed", action="store_true",
                       help="the bundle of the installed policyengine package (the default)")
    s.add_argument("--data-dir", metavar="DIR", default="data",
                   help="PolicyEngine's data_dir (default: ./data, as materialize_dataset's default)")
    s.add_argument("--registry", help="registry checkout or git URL (default: the registry containing the current folder)")
    s.add_argument("--rev", help="git branch, tag or commit of the registry to read")
    s.add_argument("--country", action="append", metavar="ID", help="only this data release (repeatable; default: all)")
    s.add_argument("--link", choices=["auto", "reflink", "hardlink", "copy"], default="auto",
                   help="how to place the bytes (default: auto: reflink, else read-only hardlink, else copy)")
    s.add_argument("--force", action="store_true", help="replace files at DIR/<path> that hold other bytes")
    s.add_argument("--offline", action="store_true", help="never touch the network; only cached bytes are placed")
    add_json_flag(s)
    s.set_defaults(func=_seed)


def _seed(args: argparse.Namespace) -> int:
    from dvc_pedata.external.policyengine_seed import report_text, seed

    res = seed(Path(args.bundle) if args.bundle else None, Path(args.data_dir), registry=args.registry, rev=args.rev,
               countries=args.country, link=args.link, force=args.force, offline=args.offline)
    emit(args, res.to_json(), report_text(res))
    return 0 if res.ok else 1
