"""``pedata adopt``: copy an external (hf:// or https://) artifact's verified bytes into DVC."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("adopt", help="copy an external artifact's verified bytes into the registry's DVC remote")
    p.add_argument("ref", metavar="REF", help="pedata://<namespace>/<name>@<ref> naming an external pin (default ref: latest)")
    p.add_argument("--remote", metavar="NAME", help="DVC remote to push to (default: pedata.json 'remote', else DVC's default)")
    p.add_argument("--no-push", action="store_true", help="dvc add only; push later with 'dvc push'")
    add_list_flag(p, "--sign", metavar="KEY",
                  help="promoter keys (several after one flag, or repeated): also give signed channels that pin these"
                       " bytes (e.g. 'bundle') a new signed version with the DVC location")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.external.adopt import adopt

    res = adopt(args.ref, ".", remote=args.remote, push=not args.no_push, sign=args.sign)
    if res.created:
        text = (f"adopted {res.uri} (sha256 {res.sha256}) -> {res.dvcfile} (md5 {res.md5}, "
                f"{'pushed to remote ' + (res.remote or 'default') if not args.no_push else 'not pushed'}); record {res.record}")
    else:
        text = f"{res.uri} (sha256 {res.sha256}) is already adopted: {res.record}"
    if res.channels:
        text += "; " + ", ".join(f"channel {ch} version {v}" for ch, v in sorted(res.channels.items()))
    for ch, why in sorted(res.kept.items()):
        text += f"\nchannel {ch} still records the origin location ({why}); it resolves from DVC through the record"
    emit(args, res.to_json(), text)
    return 0
