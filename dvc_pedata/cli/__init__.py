"""The ``pedata`` command: a thin argparse layer over the Python API.

Each ``cmd_*.py`` module in this package defines ``register(subparsers)`` and is listed in
:data:`COMMANDS` (explicit, in help order). Command modules must not import DVC at module level
(a resolver cache hit must not pay for it); import heavy things inside the handler.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from dvc_pedata.errors import PedataError

# The command modules, in help order. Imported by name when the full parser is built, so the
# warm `pedata get` path (which imports only cmd_get) never pays for the others.
COMMANDS = (
    "cmd_adopt",
    "cmd_certify",
    "cmd_channel",
    "cmd_cite",
    "cmd_get",
    "cmd_init",
    "cmd_key",
    "cmd_lineage",
    "cmd_lock",
    "cmd_policyengine",
    "cmd_promote",
    "cmd_publish",
    "cmd_releases",
    "cmd_replay",
    "cmd_review",
    "cmd_revoke",
    "cmd_schema",
    "cmd_sign",
    "cmd_site",
    "cmd_store",
    "cmd_trust",
    "cmd_update",
    "cmd_verify",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, like every usage error
        self.exit(2, f"pedata: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pedata", description="A git + DVC data registry for citable microdata.")
    parser.add_argument("-C", dest="chdir", metavar="DIR", help="run as if started in DIR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


class _NotFast(Exception):
    """The arguments need the full command (or its error message): leave them to it."""


class _QuietParser(_Parser):
    def error(self, message: str) -> NoReturn:
        raise _NotFast(message)


def _warm_get(argv: Sequence[str]) -> int | None:
    """``pedata get URI`` answered from the warm-cache memo (warm.py), parsed by ``get``'s own parser.

    Only the plain form (a path on stdout) qualifies; ``--json``, ``-o``, ``--rev`` and anything the
    parser rejects go through :func:`main`'s full path, which also imports every command.
    """
    if "-h" in argv or "--help" in argv:
        return None
    from dvc_pedata.cli import cmd_get
    from dvc_pedata.resolver import warm

    parser = _QuietParser(prog="pedata")
    cmd_get.register(parser.add_subparsers(dest="command", parser_class=_QuietParser))
    try:
        args = parser.parse_args(argv)
    except _NotFast:
        return None
    if args.command != "get" or args.out or args.json or args.rev or args.require_signed:
        return None  # --require-signed: a memo written without it may hold an unsigned channel
    if os.environ.get("PEDATA_REQUIRE_SIGNED", "") not in ("", "0"):
        return None
    hit = warm.lookup(args.uri, args.registry, None, args.trusted_root)
    if hit is None:
        return None
    path, warnings = hit
    for w in warnings:
        print(f"pedata: warning: {w}", file=sys.stderr)
    sys.stdout.write(path + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["get"]:
        try:
            rc = _warm_get(argv)
        except BrokenPipeError:
            return 0
        if rc is not None:
            return rc
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.chdir:
            os.chdir(args.chdir)
        rc = args.func(args)
    except PedataError as exc:
        from dvc_pedata.dvcio.extras import hint

        print(f"pedata: error: {hint(exc.message) or exc.message}", file=sys.stderr)
        return exc.exit_code
    except ImportError as exc:  # a remote whose DVC plugin (extra) is missing; anything else is a bug
        from dvc_pedata.dvcio.extras import hint

        if (line := hint(str(exc))) is None:
            raise
        print(f"pedata: error: {line}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pedata: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a full disk, a read-only folder: one line, never a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"pedata: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    return int(rc or 0)


def run() -> None:
    sys.exit(main())
