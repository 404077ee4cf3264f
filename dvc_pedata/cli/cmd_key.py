"""``pedata key generate NAME`` and ``pedata key list``."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("key", help="make and list Ed25519 signing keys")
    ksub = p.add_subparsers(dest="key_command", metavar="SUBCOMMAND", parser_class=type(p))
    ksub.required = True
    g = ksub.add_parser("generate", help="make a new key pair in the keys folder (never in a work tree)")
    g.add_argument("name", help="key name (lowercase letters, digits, '_', '.', '-')")
    add_json_flag(g)
    g.set_defaults(func=_generate)
    ls = ksub.add_parser("list", help="list the keys in the keys folder")
    add_json_flag(ls)
    ls.set_defaults(func=_list)


def _generate(args: argparse.Namespace) -> int:
    from dvc_pedata.trust.keys import generate

    info = generate(args.name)
    # The keyid alone on stdout, so scripts can capture it; where the files went on stderr-free text.
    emit(args, info.to_json(), info.keyid)
    return 0


def _list(args: argparse.Namespace) -> int:
    from dvc_pedata.trust.keys import keys_dir, list_keys

    infos = list_keys()
    lines = [
        f"{i.keyid}  {i.name}{'' if i.private_path else '  (public only)'}" for i in infos
    ] or [f"no keys in {keys_dir()} (make one with 'pedata key generate NAME')"]
    emit(args, {"keys_dir": str(keys_dir()), "keys": [i.to_json() for i in infos]}, "\n".join(lines))
    return 0
