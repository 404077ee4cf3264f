"""The ``pedata`` command: a thin argparse layer over the Python API.

Each ``cmd_*.py`` module in this package defines ``register(subparsers)`` and is discovered
automatically. Command modules must not import DVC at module level (a resolver cache hit must
not pay for it); import heavy things inside the handler.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from ..errors import PedataError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every usage error
        self.exit(2, f"pedata: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pedata", description="A git + DVC data registry for citable microdata.")
    parser.add_argument("-C", dest="chdir", metavar="DIR", help="run as if started in DIR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


class _NotFast(Exception):
    """The arguments need the full command (or its error message): leave them to it."""


class _QuietParser(_Parser):
    def error(self, message: str) -> None:
        raise _NotFast(message)


def _warm_get(argv: Sequence[str]) -> int | None:
    """``pedata get URI`` answered from the warm-cache memo (warm.py), parsed by ``get``'s own parser.

    Only the plain form (a path on stdout) qualifies; ``--json``, ``-o``, ``--rev`` and anything the
    parser rejects go through :func:`main`'s full path, which also imports every command.
    """
    if "-h" in argv or "--help" in argv:
        return None
    from .. import warm
    from . import cmd_get

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
    sys.stdout.write(hit + "\n")
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
        print(f"pedata: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
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
