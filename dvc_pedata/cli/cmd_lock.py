"""``pedata lock``."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lock", help="write locks/inputs.manifest.json and locks/deps.lock.yaml")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.publish.locks import lock

    res = lock(".")
    lines = [f"{i['path']}  sha256:{i['sha256']}  {i['size']} bytes  ({i['source']})" for i in res.inputs]
    lines.append(f"{len(res.inputs)} raw input(s), {res.packages} package(s); "
                 + (f"wrote {', '.join(res.written)}" if res.written else "locks unchanged"))
    emit(args, res.to_json(), "\n".join(lines))
    return 0
