"""The project's own example registry and shipped examples, used as a registry owner would.

- a clone of this checkout's example registry: trust init, ``pedata promote``, ``pedata verify``,
  ``pedata certify``, ``pedata verify`` again (all CLI; no payload needed);
- a promotion of new bytes: the printed pull-request body (the workflow example's summary is
  `pedata review`, run through the action in tests/test_action.py).
"""

from __future__ import annotations

import json

from support.commands import ROOT, run, run_pedata
from support.example import commit, make_example, set_params


def test_promote_and_certify_the_example_registry_then_verify(tmp_path):
    repo = tmp_path / "example"
    run(["git", "clone", "-q", str(ROOT), str(repo)], cwd=tmp_path)
    run(["git", "config", "user.email", "owner@example.org"], cwd=repo)
    run(["git", "config", "user.name", "Registry Owner"], cwd=repo)
    for args in (("key", "generate", "owner"), ("trust", "init", "--root", "owner", "--expires", "never")):
        res = run_pedata(*args, cwd=repo)
        assert res.ok, (args, res)
    commit(repo, "trust root")
    res = run_pedata("promote", "us", "--sign", "owner", "--json", cwd=repo)
    assert res.ok, res
    promoted = json.loads(res.stdout)
    assert promoted["branch"] == "promote/us-next-v1" and sorted(m["name"] for m in promoted["moves"]) == [
        "cps_households_2024", "enhanced_cps_2024", "us_microdata_2024"]
    res = run_pedata("verify", "--base", "main", cwd=repo)
    assert res.ok, res
    res = run_pedata("certify", "us", "1.0.0", "--sign", "owner", "--notice", "first release", cwd=repo)
    assert res.ok, res
    assert run(["git", "tag", "--list", "us/v1.0.0"], cwd=repo).stdout.strip() == "us/v1.0.0"
    res = run_pedata("verify", "--json", cwd=repo)
    assert res.ok and json.loads(res.stdout)["ok"] is True, res.stdout


def test_a_promotion_prints_the_pull_request_body_and_review_the_schema_diff(tmp_path):
    repo = make_example(tmp_path, households=120)
    for args in (("key", "generate", "owner"), ("trust", "init", "--root", "owner", "--expires", "never")):
        assert run_pedata(*args, cwd=repo).ok
    commit(repo, "trust root")
    assert run_pedata("promote", "us", "--sign", "owner", "--no-commit", cwd=repo).ok
    commit(repo, "next v1")
    set_params(repo, households=150)
    run(["dvc", "repro", "-q"], cwd=repo)
    assert run_pedata("publish", cwd=repo).ok
    commit(repo, "publish 150 households")
    res = run_pedata("promote", "us", "--sign", "owner", cwd=repo)
    assert res.ok, res
    assert run_pedata("verify", "--base", "main", cwd=repo).ok
    # The printed pull-request body: what moves, from which whole sha256 to which, and the diff.
    before = json.loads(run(["git", "show", "main:channels/us/next.json"], cwd=repo).stdout)["signed"]["artifacts"]
    after = json.loads((repo / "channels/us/next.json").read_text())["signed"]["artifacts"]
    body = res.stdout
    assert body.startswith("## Promote `us`: `latest` → `next` (version 2)\n"), body
    moved = sorted(n for n in after if after[n]["sha256"] != before[n]["sha256"])
    assert "enhanced_cps_2024" in moved, moved
    for name in moved:
        assert f"| `{name}` | `{before[name]['sha256']}` | `{after[name]['sha256']}` |" in body, body
    for name in set(after) - set(moved):
        assert f"`{name}`" not in body.split("| artifact |", 1)[1].split("\n\n", 1)[0]
    assert "| rows | person | 286 → 350 |" in body and "Signatures: promoter threshold met." in body, body
    assert "CI runs `pedata verify` on this branch" in body

    out = run_pedata("review", "--base", "main", cwd=repo).stdout
    assert "#### `us/next`: version 1 → 2\n" in out and "##### `us/enhanced_cps_2024`: `" in out, out
    assert "| rows | household | 120 → 150 |" in out and "| rows | person | 286 → 350 |" in out, out
