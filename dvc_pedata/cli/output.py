"""Shared output helpers: ``--json`` everywhere, and progress only on a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_list_flag(parser: argparse.ArgumentParser, flag: str, *, metavar: str, help: str, required: bool = False) -> None:
    """A flag taking several values after one use, and repeatable: ``--sign A B --sign C`` -> [A, B, C]."""
    parser.add_argument(flag, action="extend", nargs="+", metavar=metavar, required=required, help=help)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def emit(args: argparse.Namespace, data: Any, text: str | None) -> None:
    """Print ``data`` as JSON with ``--json``, otherwise ``text`` (if any)."""
    if getattr(args, "json", False):
        print_json(data)
    elif text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def warn(message: str) -> None:
    print(f"pedata: warning: {message}", file=sys.stderr)


def branch_note(branch: str, previous: str | None) -> None:
    """Tell the user (on stderr, so stdout stays the pull-request body) where a command left them."""
    back = f"'git checkout {previous}'" if previous else "'git checkout -' (the previous commit)"
    print(f"pedata: now on branch {branch}: push it ('git push -u origin {branch}') and open a pull request "
          f"with the text above; {back} returns to where you were", file=sys.stderr)
