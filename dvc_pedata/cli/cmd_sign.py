"""``pedata sign FILE --sign KEY...``: add signatures to a document without changing it."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sign", help="add signatures to a signed document (channel, release, tombstone, root)")
    p.add_argument("file", help="the document to sign")
    add_list_flag(p, "--sign", metavar="KEY", required=True,
                  help="private key names or paths (several after one flag, or repeated)")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.trust.signing import sign_file

    res = sign_file(args.file, args.sign)
    text = "\n".join(f"{res.path}: signed by {label}" for label in res.labels)
    emit(args, res.to_json(), text)
    return 0
