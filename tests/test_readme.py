"""The README, run as written, from a fresh temporary folder.

- The quick start: every fenced ``bash`` block of its section, in order, as one script; the
  pipeline files it tells the reader to write are its own fenced blocks whose first line is
  ``# <path>`` (written where the README shows them). It must end with a certified release that
  ``pedata replay --policy strict`` rebuilds and ``pedata lineage --lint`` accepts.
- The install lines (slow: a fresh virtual environment and every dependency from the index).

``pedata``, ``dvc`` and ``python`` resolve to this interpreter's environment (conftest puts it first
on PATH, and this checkout first on PYTHONPATH), so the commands run the code next to this test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.commands import ROOT, run

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def script_of(title: str) -> str:
    """The section's bash blocks verbatim, with its ``# <path>`` blocks written as files in between."""
    parts = ["set -euo pipefail"]
    for lang, body in FENCE.findall(section(title)):
        if lang == "bash":
            parts.append(body)
            continue
        named = re.fullmatch(r"# ([\w./-]+)", body.partition("\n")[0])
        if named:
            path = named.group(1)
            parts.append(f"mkdir -p {shlex.quote(os.path.dirname(path) or '.')}\n"
                         f"cat > {shlex.quote(path)} <<'PEDATA_README_EOF'\n{body}PEDATA_README_EOF\n")
    return "\n".join(parts)


def test_quick_start_runs_verbatim_to_a_replayable_certified_release(tmp_path):
    script = script_of("Quick start")
    assert "pedata publish" in script and "pedata certify us 1.0.0" in script and "cat > dvc.yaml" in script
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg-data")}  # init's default remote lives there
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    repo = tmp_path / "my-registry"
    # publish ran after the recipe was committed: no warning, and the manifest names that commit
    assert "pedata: warning" not in proc.stderr, proc.stderr
    built = run(["git", "log", "--format=%H", "--grep=pipeline, built"], cwd=repo).stdout.split()
    latest = json.loads((repo / "channels/us/latest.json").read_text())["signed"]["artifacts"]["people"]
    manifest = json.loads((repo / f"manifests/us/people/{latest['sha256']}.json").read_text())
    assert [manifest["producer"]["git_commit"]] == built
    assert run(["git", "show", f"{built[0]}:params.yaml"], cwd=repo).stdout == "# params.yaml\nbuild:\n  rows: 1000\n"
    assert all(manifest["inputs"]["locks"].values()), manifest["inputs"]["locks"]
    # the certified release, tagged; promote said where it left the reader
    release = json.loads((repo / "releases/us/1.0.0.json").read_text())["signed"]
    assert release["status"] == "certified" and release["pins"] == {"people": latest}
    assert run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=repo).stdout.strip() == run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    assert "pedata: now on branch promote/us-next-v1" in proc.stderr and "'git checkout main' returns" in proc.stderr
    # replay --policy strict rebuilt it (identical sha256), and lint accepted the registry
    report = json.loads((repo / "reports/replay.result.json").read_text())
    assert report["policy"] == "strict" and report["ok"] is True, report
    assert "pedata lineage --lint: OK" in proc.stdout
    # the default remote's folder is machine-local: never committed
    assert str(tmp_path / "xdg-data") not in run(["git", "show", "HEAD:.dvc/config"], cwd=repo).stdout
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo).stdout == ""


@pytest.mark.slow
def test_install_lines_work_from_a_clone(tmp_path):
    """The README's install block, verbatim, next to a clone of this repository's committed state."""
    run(["git", "clone", "-q", str(ROOT), "dvc-pedata"], cwd=tmp_path)
    script = script_of("Install")
    assert "pip install ./dvc-pedata" in script
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    # a PATH without this test's virtual environment: `python3` is the system's, as for a new user
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "usage: pedata" in proc.stdout
    pedata = tmp_path / ".venv/bin/pedata"
    out = subprocess.run([str(pedata), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "verify" in out.stdout
    # the installed copy, not this checkout: its schemas and site assets came along in the package
    where = subprocess.run([str(tmp_path / ".venv/bin/python"), "-c",
                            "import dvc_pedata, pathlib; p = pathlib.Path(dvc_pedata.__file__).parent;"
                            " print(p); print(sorted(x.name for x in (p / 'model' / 'schemas').iterdir())[0])"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.returncode == 0 and ".venv" in where.stdout and where.stdout.split()[1].endswith(".schema.json"), where
