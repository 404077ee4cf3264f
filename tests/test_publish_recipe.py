"""What publish records about the recipe, and certify's promise that a release can be replayed.

- `publish` warns when the pipeline files it names as the recipe (dvc.yaml, dvc.lock, params,
  code) are not committed, and records the inputs and environment locks itself when they are
  missing or stale — the same bytes `pedata lock` writes — so every manifest names both digests;
- `certify` refuses a release `replay` could not rebuild (no inputs lock at the release's commit,
  a stale one), unless pedata.json says the registry does not promise replays.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from test_revocation_lifecycle import BUILD, DVC_YAML

LOCKS = ("locks/deps.lock.yaml", "locks/inputs.manifest.json")


def _git(repo: Path, *args: str) -> str:
    return run(["git", *args], cwd=repo).stdout.strip()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """`pedata init`, the pipeline written and run by `dvc repro`; nothing committed but init's files."""
    repo = tmp_path / "reg"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    assert run_pedata("init", "--namespace", "us", "--remote", str(tmp_path / "storage"), cwd=repo).ok
    _git(repo, "commit", "-qm", "pedata init")
    (repo / "src").mkdir()
    (repo / "src/build.py").write_text(BUILD)
    (repo / "params.yaml").write_text("build:\n  rows: 40\n")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    run([*dvc_cmd(), "repro", "-q"], cwd=repo)
    return repo


def _manifest(repo: Path, name: str) -> dict:
    sha = json.loads((repo / "channels/us/latest.json").read_text())["signed"]["artifacts"][name]["sha256"]
    return json.loads((repo / f"manifests/us/{name}/{sha}.json").read_text())


def test_publish_warns_about_an_uncommitted_recipe_and_records_both_locks(built):
    repo = built
    res = run_pedata("publish", cwd=repo)
    assert res.ok, res.stderr
    head = _git(repo, "rev-parse", "HEAD")
    assert res.stderr.splitlines() == [
        f"pedata: warning: dvc.lock, dvc.yaml, params.yaml, src/build.py differ from the last commit ({head[:10]}), which "
        "the manifests name as the recipe that built these bytes (producer.git_commit); commit the pipeline before publishing"
    ]
    assert "recorded locks/deps.lock.yaml\nrecorded locks/inputs.manifest.json\n" in res.stdout
    assert set(_git(repo, "diff", "--cached", "--name-only").split()) >= set(LOCKS)  # staged with the manifests
    digests = {rel: _sha(repo / rel) for rel in LOCKS}
    for name in ("people", "households"):
        assert _manifest(repo, name)["inputs"]["locks"] == digests
    inputs = json.loads((repo / "locks/inputs.manifest.json").read_text())["inputs"]
    assert [(i["path"], i["sha256"], i["source"]) for i in inputs] == [("src/build.py", _sha(repo / "src/build.py"), "git:src/build.py")]
    # exactly what `pedata lock` writes: it finds nothing to change
    res = run_pedata("lock", "--json", cwd=repo)
    assert res.ok and json.loads(res.stdout)["written"] == [], res.stdout

    # committed: no warning, nothing rewritten, the locks unchanged
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pipeline, locks, publish")
    before = {rel: (repo / rel).read_bytes() for rel in LOCKS}
    res = run_pedata("publish", cwd=repo)
    assert res.ok and res.stderr == "", res.stderr
    assert "recorded" not in res.stdout and "channel latest unchanged" in res.stdout
    assert {rel: (repo / rel).read_bytes() for rel in LOCKS} == before
    assert _git(repo, "status", "--porcelain") == ""


def test_publish_refreshes_a_stale_inputs_lock(built):
    repo = built
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pipeline")
    assert run_pedata("lock", cwd=repo).ok
    _git(repo, "commit", "-qm", "locks")
    old = json.loads((repo / "locks/inputs.manifest.json").read_text())["inputs"][0]
    (repo / "src/build.py").write_text(BUILD + "# a comment: new code, same bytes out\n")
    (repo / "params.yaml").write_text("build:\n  rows: 44\n")  # new bytes, so new manifests
    run([*dvc_cmd(), "repro", "-q"], cwd=repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "44 rows")
    res = run_pedata("publish", cwd=repo)
    assert res.ok and res.stderr == "", res.stderr
    assert "recorded locks/inputs.manifest.json" in res.stdout and "recorded locks/deps.lock.yaml" not in res.stdout
    new = json.loads((repo / "locks/inputs.manifest.json").read_text())["inputs"][0]
    edited = (repo / "src/build.py").read_bytes()
    assert new["sha256"] == hashlib.sha256(edited).hexdigest() != old["sha256"]
    dep = _manifest(repo, "people")["inputs"]["deps"]
    assert dep == [{"path": "src/build.py", "md5": hashlib.md5(edited).hexdigest(), "size": len(edited),
                    "sha256": new["sha256"]}]


def _ready_to_certify(repo: Path) -> None:
    assert run_pedata("key", "generate", "alice", cwd=repo).ok
    assert run_pedata("trust", "init", "--root", "alice", "--promoter", "alice", "--certifier", "alice",
                      "--revoker", "alice", cwd=repo).ok
    assert run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=repo).ok
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "trust root 1, next")


def test_certify_refuses_a_release_replay_could_not_rebuild(built):
    repo = built
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pipeline")
    assert run_pedata("publish", cwd=repo).ok
    # a registry from before publish recorded locks: the locks never reach a commit
    _git(repo, "rm", "-q", "--cached", *LOCKS)
    for rel in LOCKS:
        (repo / rel).unlink()
    _git(repo, "commit", "-qm", "publish (no locks)")
    _ready_to_certify(repo)
    head = _git(repo, "rev-parse", "HEAD")
    res = run_pedata("certify", "us", "1.0.0", "--sign", "alice", cwd=repo)
    assert_one_line_error(res, "release us@1.0.0 could not be replayed from this commit: HEAD has no committed "
                          "locks/inputs.manifest.json (run 'pedata lock' or 'pedata publish', commit the locks, then certify; "
                          "or set \"replay\": {\"enabled\": false} in pedata.json")
    assert _git(repo, "rev-parse", "HEAD") == head and _git(repo, "tag") == "" and not (repo / "releases/us/1.0.0.json").exists()
    # a stale lock (the code changed after locking) is refused too
    assert run_pedata("lock", cwd=repo).ok
    (repo / "src/build.py").write_text(BUILD + "# edited after the lock\n")
    run([*dvc_cmd(), "commit", "-q", "-f"], cwd=repo)  # dvc.lock records the new md5, outputs unchanged
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "locks, then an edit")
    res = run_pedata("certify", "us", "1.0.0", "--sign", "alice", cwd=repo)
    assert_one_line_error(res, "locks/inputs.manifest.json at HEAD is stale for src/build.py", "run 'pedata lock', commit, then certify")
    # locked again and committed: certified, and replay rebuilds it
    assert run_pedata("lock", cwd=repo).ok
    _git(repo, "commit", "-qam", "relock")
    res = run_pedata("certify", "us", "1.0.0", "--sign", "alice", cwd=repo)
    assert res.ok, res.stderr


def test_certify_without_replay_when_the_registry_opts_out(built):
    repo = built
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pipeline")
    assert run_pedata("publish", cwd=repo).ok
    _git(repo, "rm", "-q", "--cached", *LOCKS)
    for rel in LOCKS:
        (repo / rel).unlink()
    cfg = json.loads((repo / "pedata.json").read_text())
    (repo / "pedata.json").write_text(json.dumps({**cfg, "replay": {"enabled": False}}, indent=2) + "\n")
    _git(repo, "add", "pedata.json")
    _git(repo, "commit", "-qm", "publish; this registry does not promise replays")
    _ready_to_certify(repo)
    res = run_pedata("certify", "us", "1.0.0", "--sign", "alice", cwd=repo)
    assert res.ok, res.stderr
