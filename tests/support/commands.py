"""Running things in tests: the real ``pedata`` CLI in a subprocess, any other command, git.

Subprocesses run ``python -m dvc_pedata`` with this checkout first on PYTHONPATH (set by
``tests/conftest.py``), so a test always exercises the code next to it, never another copy.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


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


def commit(repo: Path, msg: str) -> str:
    """``git add -A`` and commit everything in ``repo``; the new commit's id."""
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", msg], cwd=repo)
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def sha256(data: bytes | Path) -> str:
    """sha256 hex of bytes, or of a file's bytes."""
    return hashlib.sha256(data.read_bytes() if isinstance(data, Path) else data).hexdigest()
