"""``pedata init``."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="make the current git repository a registry")
    p.add_argument("--remote", help="DVC remote URL (s3://, gs://, or a folder); default: a local folder outside the work tree")
    p.add_argument("--namespace", "-n", action="append", default=[], help="namespace to declare (repeatable)")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.registry.init import init

    res = init(".", remote=args.remote, namespaces=args.namespace)
    data = {"root": str(res.root), "dvc_initialised": res.dvc_initialised, "remote": res.remote_name,
            "remote_url": res.remote_url, "namespaces": res.namespaces}
    data["remote_local"] = res.remote_local
    text = (
        f"Initialised pedata registry in {res.root}\n"
        f"  DVC remote '{res.remote_name}': {res.remote_url}\n"
        f"  namespaces: {', '.join(res.namespaces) or '(none yet: pedata init --namespace NS)'}"
    )
    if res.remote_local:
        text += (
            "\n  this folder is on this machine only, so its path is in .dvc/config.local (not committed);"
            "\n  for a remote others can use: pedata init --remote s3://BUCKET/PREFIX (or gs://...), then commit .dvc/config"
        )
    emit(args, data, text)
    return 0
