"""``pedata trust init|add-key|remove-key|set-threshold|show``: the rotating trust root.

Commands write ``trust/root/<N>.json`` atomically and ``git add`` it; committing (and review in
a pull request) is left to the user.
"""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit, warn
from dvc_pedata.model.names import ROLES

ROLE_CHOICES = ROLES


def _keys_arg(p: argparse.ArgumentParser, flag: str, help: str, required: bool = False) -> None:
    p.add_argument(flag, dest=flag.lstrip("-").replace("-", "_"), action="extend", nargs="+", default=[],
                   required=required, metavar="KEY", help=help)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trust", help="create, rotate and show the trust root")
    tsub = p.add_subparsers(dest="trust_command", metavar="SUBCOMMAND", parser_class=type(p))
    tsub.required = True

    i = tsub.add_parser("init", help="write trust/root/1.json, signed by the root keys")
    _keys_arg(i, "--root", "root key names or .pub paths (repeatable); their private keys sign", required=True)
    _keys_arg(i, "--promoter", "promoter keys (default: the root keys)")
    _keys_arg(i, "--certifier", "certifier keys (default: the root keys)")
    _keys_arg(i, "--revoker", "revoker keys (default: the root keys)")
    i.add_argument("--threshold", action="append", default=[], metavar="ROLE=N", help="signatures a role needs (default 1)")
    i.add_argument("--scope", action="append", default=[], metavar="ROLE=NS,NS", help="namespaces a role may sign for")
    i.add_argument("--expires", default="365d", metavar="DURATION", help="like 365d, 12h, 2w, or 'never' (default 365d)")
    add_json_flag(i)
    i.set_defaults(func=_init)

    for name, helptext in (("add-key", "add KEY to ROLE"), ("remove-key", "remove KEY from ROLE")):
        c = tsub.add_parser(name, help=f"{helptext} in a new root version")
        c.add_argument("role", choices=ROLE_CHOICES)
        c.add_argument("key", help="key name, .pub path, or keyid in the current root")
        if name == "remove-key":
            c.add_argument("--compromised", action="store_true",
                           help="also distrust the key: none of its signatures counts any more, not even on "
                                "releases and tombstones committed while it was trusted (re-sign them)")
        _rotation_args(c)
        c.set_defaults(func=_rotate, change=name)
    s = tsub.add_parser("set-threshold", help="change how many signatures ROLE needs, in a new root version")
    s.add_argument("role", choices=ROLE_CHOICES)
    s.add_argument("n", type=int, metavar="N")
    _rotation_args(s)
    s.set_defaults(func=_rotate, change="set-threshold")

    sh = tsub.add_parser("show", help="show the newest verified trust root")
    sh.add_argument("--trusted-root", metavar="DIGEST", help="refuse unless root 1 has this sha256 digest")
    add_json_flag(sh)
    sh.set_defaults(func=_show)

    from dvc_pedata.cli.trust_state import register_under  # the consumer's side: pedata trust state

    register_under(tsub)


def _rotation_args(p: argparse.ArgumentParser) -> None:
    _keys_arg(p, "--sign", "private keys of the old and new root role that approve (repeatable)", required=True)
    p.add_argument("--expires", metavar="DURATION", help="also renew the expiry (like 365d); default: keep it")
    add_json_flag(p)


def _report(args: argparse.Namespace, res) -> None:  # noqa: ANN001 - WriteResult
    from dvc_pedata.trust.keys import short

    signed = ", ".join(short(k) for k in res.signed_by)
    emit(args, res.to_json(), f"wrote {res.path} (trust root version {res.version}, sha256:{res.digest}); "
         f"signed by {signed}; staged with git add, not committed")


def _init(args: argparse.Namespace) -> int:
    from dvc_pedata.base.timeutil import expires_in
    from dvc_pedata.trust.root import init_root, open_registry, parse_scopes, parse_thresholds

    expires_in(args.expires)  # a bad duration is a usage error before any key is read
    res = init_root(
        open_registry(),
        args.root,
        {"promoter": args.promoter, "certifier": args.certifier, "revoker": args.revoker},
        parse_thresholds(args.threshold),
        parse_scopes(args.scope),
        args.expires,
    )
    _report(args, res)
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from dvc_pedata.base.timeutil import expires_in
    from dvc_pedata.trust.root import open_registry, rotate

    if args.expires is not None:
        expires_in(args.expires)
    res = rotate(
        open_registry(),
        args.change,
        args.sign,
        role=args.role,
        key=getattr(args, "key", None),
        threshold=getattr(args, "n", None),
        expires=args.expires,
        compromised=getattr(args, "compromised", False),
    )
    _report(args, res)
    return 0


def _show(args: argparse.Namespace) -> int:
    from dvc_pedata.trust.root import describe, describe_text, load_root_chain, open_registry

    root = load_root_chain(open_registry(), args.trusted_root, check_expiry=False)
    info = describe(root)
    emit(args, info, describe_text(info))
    if info["expired"]:
        warn(f"trust root {info['version']} expired at {info['expires']}; rotate it with --expires")
    return 0
