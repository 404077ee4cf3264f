"""Shared fixtures of the attack tests: the example registry certified with the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.commands import run, run_pedata
from support.example import make_example


@pytest.fixture(scope="module")
def certified_template(tmp_path_factory):
    """The example registry, certified with the real CLI: key, trust root, promote, certify."""
    base = tmp_path_factory.mktemp("certified")
    keys = base / "keys"
    env = {"PEDATA_KEYS_DIR": str(keys)}
    repo = make_example(base)
    for args in (("key", "generate", "alice"), ("trust", "init", "--root", "alice")):
        assert run_pedata(*args, cwd=repo, env=env).ok
    run(["git", "commit", "-qm", "trust root"], cwd=repo)
    for args in (("promote", "us", "--sign", "alice"), ("certify", "us", "1.0.0", "--sign", "alice")):
        res = run_pedata(*args, cwd=repo, env=env)
        assert res.ok, res
    return repo


@pytest.fixture
def certified(certified_template, tmp_path) -> Path:
    # the DVC remote is an absolute path outside the copy: both copies read the same storage
    repo = tmp_path / "registry"
    shutil.copytree(certified_template, repo, symlinks=True)
    shutil.copytree(certified_template.parent / "keys", tmp_path / "keys")
    return repo
