"""The GitHub Action (`action.yml`) and the workflow example that uses it.

GitHub's runner is not available here, so the action's own `run:` scripts are executed the way
the runner executes a composite action's bash steps (`bash --noprofile --norc -eo pipefail`,
`GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files, each `${{ }}` of `env:` and `if:` evaluated from
the event), against a real registry with a real `origin` and a pull-request branch. The
`uses:` steps (actions/setup-python) and the install step are the runner's and pip's business:
the install step is checked to install from the action's checkout (`github.action_path`), which
tests/test_readme.py::test_install_lines_work_from_a_clone proves works.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from support.commands import ROOT, dvc_cmd, run, run_pedata
from test_revocation_lifecycle import registry  # noqa: F401  (fixture)

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def _load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


def _value(expr: str, ctx: dict[str, str]) -> str:
    expr = expr.strip()
    if expr.startswith("'") and expr.endswith("'"):
        return expr[1:-1]
    return ctx.get(expr, "")


def _condition(text: str, ctx: dict[str, str]) -> bool:
    """The `a == 'b' && c == 'd'` subset of GitHub's expression language the action uses."""
    m = EXPR.fullmatch(text.strip())
    expr = m.group(1) if m else text
    ok = True
    for part in expr.split("&&"):
        left, op, right = part.partition("==")
        assert op, f"unsupported condition {text!r}"
        ok = ok and _value(left, ctx) == _value(right, ctx)
    return ok


def run_action(repo: Path, tmp: Path, event: dict[str, str], inputs: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run action.yml's bash steps in ``repo``; returns (exit code, job summary, output of the steps)."""
    action = _load(ROOT / "action.yml")
    ctx = {f"inputs.{k}": str(v.get("default", "")) for k, v in action["inputs"].items()}
    ctx.update({f"inputs.{k}": v for k, v in (inputs or {}).items()})
    ctx.update({"github.action_path": str(ROOT), **{f"github.{k}": v for k, v in event.items()}})
    summary, output = tmp / "summary.md", tmp / "output"
    summary.write_text("")
    log = []
    for step in action["runs"]["steps"]:
        if "uses" in step or step.get("name") == "install pedata from the action's checkout":
            continue
        if "if" in step and not _condition(step["if"], ctx):
            continue
        output.write_text("")
        env = {**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
        env.update({k: EXPR.sub(lambda m: _value(m.group(1), ctx), str(v)) for k, v in (step.get("env") or {}).items()})
        assert step["shell"] == "bash" and "${{" not in step["run"], step
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=repo, env=env,
                              capture_output=True, text=True)
        log.append(f"## {step.get('name', step.get('id'))}\n{proc.stdout}{proc.stderr}")
        for line in output.read_text().splitlines():
            key, _, value = line.partition("=")
            ctx[f"steps.{step['id']}.outputs.{key}"] = value
        if proc.returncode != 0:
            return proc.returncode, summary.read_text(), "\n".join(log)
    return 0, summary.read_text(), "\n".join(log)


def test_action_is_composite_and_installs_from_its_own_checkout():
    action = _load(ROOT / "action.yml")
    assert action["runs"]["using"] == "composite"
    install = next(s for s in action["runs"]["steps"] if s.get("name") == "install pedata from the action's checkout")
    assert install["env"]["PEDATA_SRC"] == "${{ github.action_path }}"
    assert 'python -m pip install --disable-pip-version-check -q "$spec"' in install["run"]
    assert "dvc-pedata" not in install["run"]  # never the (unpublished) PyPI name
    # the workflow example is a checkout and the action, nothing inline
    workflow = _load(ROOT / "examples/github-workflow.yml")
    steps = workflow["jobs"]["verify"]["steps"]
    assert steps[0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    assert [s["uses"].split("@")[0] for s in steps[1:]] == ["OWNER/dvc-pedata"] and all("run" not in s for s in steps)
    body = [line for line in (ROOT / "examples/github-workflow.yml").read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(body) <= 15, body


@pytest.fixture
def pull_request(registry, tmp_path):  # noqa: F811
    """The registry pushed to a bare `origin`; on branch `pr`, new bytes published and promoted."""
    repo = registry[0]
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], cwd=tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], cwd=repo)
    run(["git", "push", "-q", "origin", "main"], cwd=repo)
    run(["git", "fetch", "-q", "origin"], cwd=repo)
    run(["git", "checkout", "-q", "-b", "pr"], cwd=repo)
    (repo / "params.yaml").write_text("build:\n  rows: 80\n")
    run([*dvc_cmd(), "repro", "-q"], cwd=repo)
    run(["git", "commit", "-qam", "80 rows"], cwd=repo)
    assert run_pedata("publish", cwd=repo).ok
    assert run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=repo).ok
    run(["git", "commit", "-qm", "publish and promote 80 rows"], cwd=repo)
    return repo


PR_EVENT = {"event_name": "pull_request", "base_ref": "main", "event.before": ""}


def test_action_on_a_pull_request_summarises_and_verifies(pull_request, tmp_path):
    repo = pull_request
    rc, summary, log = run_action(repo, tmp_path, PR_EVENT)
    assert rc == 0, log
    base = run(["git", "rev-parse", "origin/main"], cwd=repo).stdout.strip()
    assert summary == run_pedata("review", "--base", "origin/main", cwd=repo).stdout
    assert summary.startswith(f"## pedata review: `origin/main` ({base[:10]}) → this change\n")
    assert "#### `us/latest`: version 1 → 2" in summary and "#### `us/next`: new, version 1" in summary
    assert "| rows | person | 60 → 80 |" in summary
    # a push to main compares with the commit before the push; summary off
    rc, summary, log = run_action(repo, tmp_path, {"event_name": "push", "base_ref": "", "event.before": base})
    assert rc == 0 and summary == "", log


def test_action_fails_a_pull_request_with_a_forged_pin_and_still_summarises(pull_request, tmp_path):
    repo = pull_request
    # the attacker edits the promoted channel by hand: another sha256 under the promoter's signature
    path = repo / "channels/us/next.json"
    doc = json.loads(path.read_text())
    doc["signed"]["artifacts"]["people"]["sha256"] = "0" * 64
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    run(["git", "commit", "-qam", "tweak next"], cwd=repo)
    rc, summary, log = run_action(repo, tmp_path, PR_EVENT)
    assert rc != 0 and "channels/us/next.json" in log, log
    assert "#### `us/next`: new, version 1" in summary and f"`{'0' * 12}`" in summary
    # a base the checkout lacks (a shallow clone) is one clear line
    rc, _summary, log = run_action(repo, tmp_path, PR_EVENT, {"base": "origin/gone"})
    assert rc == 1 and "pedata: error: base origin/gone is not in this checkout: use actions/checkout with fetch-depth: 0" in log
