"""``--registry`` for the commands that only read a registry (schema, diff, releases, show, cite,
export, lineage): a checkout path or a git URL, default ``$PEDATA_REGISTRY``, else the registry
containing the current folder. A URL is read from a work tree of the resolver's cached clone
(:func:`dvc_pedata.registry.checkout.registry_root`, which the domain functions call with the flag's value)."""

from __future__ import annotations

import argparse


def add_registry_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", metavar="PATH|URL",
                   help="registry checkout or git URL to read (default: $PEDATA_REGISTRY, else the registry containing the current folder)")

