"""`pedata review --base REF`: the pull-request summary, on a registry changed the way a team changes
one (publish new bytes, promote, certify, revoke, rotate the root), read as the reviewer reads it."""

from __future__ import annotations

import json

from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from test_revocation_lifecycle import registry  # noqa: F401  (fixture)


def _git(repo, *args):
    return run(["git", *args], cwd=repo).stdout.strip()


def _latest(repo):
    return json.loads((repo / "channels/us/latest.json").read_text())["signed"]["artifacts"]


def test_review_summarises_channel_moves_releases_revocations_and_root_changes(registry):  # noqa: F811
    repo = registry[0]
    base = _git(repo, "rev-parse", "HEAD")
    res = run_pedata("review", "--base", "main", cwd=repo)
    assert res.ok and res.stdout == (f"## pedata review: `main` ({base[:10]}) → this change\n\n"
                                     "No channel, release, tombstone or trust-root document changed.\n")
    old = _latest(repo)
    _git(repo, "checkout", "-q", "-b", "release-1")
    (repo / "params.yaml").write_text("build:\n  rows: 80\n")
    run([*dvc_cmd(), "repro", "-q"], cwd=repo)
    _git(repo, "commit", "-qam", "80 rows")
    assert run_pedata("publish", cwd=repo).ok
    _git(repo, "commit", "-qm", "publish 80 rows")
    new = _latest(repo)
    assert run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=repo).ok
    _git(repo, "commit", "-qm", "promote")
    assert run_pedata("certify", "us", "1.0.0", "--sign", "alice", "--notice", "80 rows", cwd=repo).ok
    assert run_pedata("revoke", f"sha256:{old['people']['sha256']}", "--reason", "consent withdrawn",
                      "--authority", "Ethics board", "--sign", "alice", cwd=repo).ok
    assert run_pedata("key", "generate", "bob", cwd=repo).ok
    assert run_pedata("trust", "add-key", "certifier", "bob", "--sign", "alice", cwd=repo).ok
    _git(repo, "commit", "-qm", "bob certifies too")

    res = run_pedata("review", "--base", "main", cwd=repo)
    assert res.ok, res.stderr
    md = res.stdout
    o, n = old["people"]["sha256"], new["people"]["sha256"]
    oh, nh = old["households"]["sha256"], new["households"]["sha256"]
    assert md.startswith(f"## pedata review: `main` ({base[:10]}) → this change\n\n### Channel moves\n\n")
    assert ("#### `us/latest`: version 1 → 2\n\n| artifact | from sha256 | to sha256 | change |\n|---|---|---|---|\n"
            f"| `households` | `{oh[:12]}` | `{nh[:12]}` | rows household 30 -> 40; 1 param changed |\n"
            f"| `people` | `{o[:12]}` | `{n[:12]}` | rows person 60 -> 80; 1 param changed |\n") in md
    # each move's schema diff, with the row counts per entity
    assert (f"##### `us/people`: `{o[:12]}` → `{n[:12]}`\n\n| change | what | detail |\n|---|---|---|\n| rows | person | 60 → 80 |\n"
            "| param | `params.yaml:build` | `{'rows': 60}` → `{'rows': 80}` |\n") in md
    assert "#### `us/next`: new, version 1\n" in md and f"| `people` | — | `{n[:12]}` | added |" in md
    ts = json.loads((repo / f"tombstones/{o}.json").read_text())["signed"]
    assert ("### New releases\n\n- `us@1.0.0` — certified, backward, from `next` version 1: 80 rows\n"
            f"  - `households` `{nh[:12]}`\n  - `people` `{n[:12]}`\n") in md
    assert f"### Revocations\n\n- revoked: `sha256:{o}` (us/people) on {ts['date']} by Ethics board: consent withdrawn\n" in md
    assert "### Trust root\n\n- root version 2 (expires " in md and "  - certifier: + bob\n" in md
    assert md.endswith("`pedata verify` judges signatures, thresholds and history; this summary only shows what changed.\n")
    data = json.loads(run_pedata("review", "--base", "main", "--json", cwd=repo).stdout)
    assert [c["channel"] for c in data["channels"]] == ["latest", "next"] and data["releases"][0]["new"] is True

    # a release status change and a dropped pin, against the branch's own history
    assert run_pedata("revoke", f"sha256:{n}", "--reason", "licence withdrawn", "--authority", "Stats office",
                      "--sign", "alice", cwd=repo).ok
    assert run_pedata("channel", "drop", "us", "next", "people", "--sign", "alice", "--no-commit", cwd=repo).ok
    md = run_pedata("review", "--base", "HEAD~1", cwd=repo).stdout
    assert "#### `us/next`: version 1 → 2\n" in md and f"| `people` | `{n[:12]}` | — | dropped |" in md
    assert "### Release status changes\n\n- `us@1.0.0`: certified → unreproducible\n" in md


def test_review_refuses_an_unknown_base(registry):  # noqa: F811
    assert_one_line_error(run_pedata("review", "--base", "origin/nope", cwd=registry[0]),
                          "--base 'origin/nope' is not a commit of this repository")
