"""``--registry`` for the commands that only read a registry (schema, diff, releases, show, cite,
export, lineage): a checkout path or a git URL, default ``$PEDATA_REGISTRY``, else the registry
containing the current folder. A URL is read from a work tree of the resolver's cached clone
(:mod:`dvc_pedata.regcheckout`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_registry_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", metavar="PATH|URL",
                   help="registry checkout or git URL to read (default: $PEDATA_REGISTRY, else the registry containing the current folder)")


def registry_root(args: argparse.Namespace) -> Path:
    from dvc_pedata.registry.checkout import registry_root as root

    return root(args.registry)
