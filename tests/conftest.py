"""Shared fixtures: real git, real DVC, the real ``pedata`` CLI in a subprocess.

Subprocesses run ``python -m dvc_pedata`` with this checkout first on PYTHONPATH, so a test always
exercises the code next to it (also in a git worktree), never another installed copy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["remotes"]

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


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_pedata(*args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 300) -> Result:
    """Run the real CLI; never raises on a non-zero exit (tests assert on it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc_pedata", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run any command (git, dvc, sha256sum) and fail the test with its output if it fails."""
    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_for_next_second(since: float) -> None:
    """Sleep until the wall clock is in a later whole second than ``since`` (an epoch time).

    HDF5 object timestamps have 1 s resolution: a rebuild in the same second as the build can
    give identical bytes. Waiting for the second to change (not a fixed 1 s) costs nothing when
    the test already took that long.
    """
    deadline = int(since) + 1
    while (now := time.time()) < deadline:
        time.sleep(deadline - now + 0.005)


def dvc_cmd() -> list[str]:
    """The ``dvc`` CLI of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("dvc"))]


def assert_one_line_error(res: Result, *fragments: str) -> None:
    """An expected mistake: non-zero exit, exactly one stderr line starting 'pedata: error:', no traceback."""
    assert res.returncode != 0, res
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pedata: error: "), res.stderr
    assert "Traceback" not in res.stderr
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])


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
