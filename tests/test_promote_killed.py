"""A ``pedata promote`` SIGKILLed while git holds ``.git/index.lock``: the rerun finishes the work.

Git itself is what gets killed mid-write here: a ``pre-commit`` hook (git runs it while it holds
the index lock of a ``git commit -- paths``) signals that the lock is taken and waits, and the
whole process group (pedata and its git) gets SIGKILL. Real git, real keys, the real CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from support.commands import run, run_pedata
from support.resolve import build_registry

PROMOTE = ["promote", "us", "--sign", "alice"]
BRANCH = "promote/us-next-v1"


def test_promote_killed_inside_git_commit_leaves_no_lock_that_blocks_the_rerun(tmp_path):
    published = build_registry(tmp_path / "pub", big_size=4096)
    repo = published.clone(tmp_path / "repo")
    env = {**os.environ, "PEDATA_KEYS_DIR": str(tmp_path / "keys")}
    for args in (("key", "generate", "alice"), ("trust", "init", "--root", "alice", "--expires", "never")):
        assert run_pedata(*args, cwd=repo, env=env).ok
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "trust"], cwd=repo)

    holding = tmp_path / "git-holds-the-index-lock"
    hook = repo / ".git/hooks/pre-commit"
    hook.write_text(f'#!/bin/sh\ntouch "{holding}"\nexec sleep 120\n')
    hook.chmod(0o755)
    proc = subprocess.Popen([sys.executable, "-m", "dvc_pedata", *PROMOTE], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while not holding.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "git never reached its pre-commit hook"
        time.sleep(0.05)
    assert (repo / ".git/index.lock").exists()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    hook.unlink()
    assert (repo / ".git/index.lock").exists()  # what a kill at this moment leaves

    res = run_pedata(*PROMOTE, cwd=repo, env=env)
    assert res.ok, res
    assert "pedata: note: removed .git/index.lock, left by a pedata run that was killed during a git write" in res.stderr
    assert not (repo / ".git/index.lock").exists()
    log = run(["git", "log", "--format=%s", BRANCH], cwd=repo).stdout
    assert log.count("Promote us") == 1, log
    assert run(["git", "status", "--porcelain", "channels"], cwd=repo).stdout == ""
    assert run_pedata("verify", cwd=repo, env=env).ok

    # a lock pedata did not leave (the user's own git, running now) is never removed
    run(["git", "checkout", "-q", "main"], cwd=repo)
    (repo / ".git/index.lock").write_text("")
    res = run_pedata("promote", "us", "--to", "beta", "--sign", "alice", cwd=repo, env=env)
    assert not res.ok and "index.lock" in res.stderr and "Traceback" not in res.stderr, res
    assert (repo / ".git/index.lock").exists()
