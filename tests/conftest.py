"""Shared fixtures: real git, real DVC, the real ``pedata`` CLI in a subprocess.

Subprocesses run ``python -m dvc_pedata`` with this checkout first on PYTHONPATH, so a test always
exercises the code next to it (also in a git worktree), never another installed copy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["support.remotes"]

ROOT = Path(__file__).resolve().parents[1]

os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
os.environ["PEDATA_NO_PROGRESS"] = "1"
# Stage commands (`python ...`) and `dvc` resolve to this interpreter's environment.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ["GIT_AUTHOR_NAME"] = os.environ["GIT_COMMITTER_NAME"] = "pedata tests"
os.environ["GIT_AUTHOR_EMAIL"] = os.environ["GIT_COMMITTER_EMAIL"] = "tests@pedata.invalid"
os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from support.commands import run, run_pedata  # noqa: E402 - after the environment is set


@pytest.fixture
def pedata():
    return run_pedata


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keys and resolver caches go to a per-test folder, never the user's home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PEDATA_KEYS_DIR", str(home / "keys"))
    monkeypatch.setenv("PEDATA_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "xdg-cache"))
    return home


@pytest.fixture
def git_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    return repo
