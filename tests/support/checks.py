"""Assertions several test files share: the resolver cache is sound, verify passes."""

from __future__ import annotations

import json
from pathlib import Path

from dvc_pedata.base.atomic import TMP_PREFIX
from support.commands import run_pedata
from support.resolve import sha256_of


def assert_cache_objects_right(cache: Path) -> None:
    """Every object in the resolver cache hashes to its sha256 name (temp files are not objects)."""
    root = cache / "sha256"
    for p in root.rglob("*") if root.exists() else []:
        if p.is_file() and not p.name.startswith(TMP_PREFIX):
            assert sha256_of(p) == p.parent.name + p.name, p


def verify_ok(repo: Path) -> dict:
    res = run_pedata("verify", "--json", cwd=repo)
    data = json.loads(res.stdout)
    assert res.ok and data["ok"], (res.stdout, res.stderr)
    return data
