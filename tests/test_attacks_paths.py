"""Path attacks from issue 17, from the attacker's side: push access to the registry, no keys.

* a committed symbolic link in place of a document (release, channel, root, manifest) is refused
  by name by the resolver, ``verify`` and ``schema`` (never followed out of the repository, never
  a traceback);
* directory-listing entries and ``;path=`` qualifiers may not name ``.git``, ``.dvc`` or
  ``.pedata`` components, in any case;
* ``pedata get … -o DIR --force`` never writes through a symlink out of ``DIR``.

Real git, the real CLI in a subprocess; the consumer resolves before and after each attack.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import assert_one_line_error, run, run_pedata

pytest_plugins = ["attack_fixtures"]

GET = ("get", "pedata://us/enhanced_cps_2024@v1.0.0")


def _commit_all(repo: Path, msg: str) -> None:
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", msg], cwd=repo)


def _link(repo: Path, rel: str, target: str | Path) -> None:
    (repo / rel).unlink()
    os.symlink(target, repo / rel)


def test_committed_symlinks_in_place_of_documents_are_refused_by_name(certified, tmp_path):
    repo = certified
    before = run_pedata(*GET, cwd=repo)
    assert before.ok, before

    # 1. the release, replaced by a link to a byte-identical copy outside the repository:
    #    following it would even "verify"; it is refused by name instead
    outside = tmp_path / "outside.json"
    shutil.copy(repo / "releases/us/1.0.0.json", outside)
    _link(repo, "releases/us/1.0.0.json", outside)
    _commit_all(repo, "link the release")
    assert run(["git", "ls-files", "-s", "releases/us/1.0.0.json"], cwd=repo).stdout.startswith("120000")
    why = f"releases/us/1.0.0.json: is a symbolic link (to {str(outside)!r}); registry documents must be regular files"
    res = run_pedata(*GET, cwd=repo)
    assert_one_line_error(res, why)
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "Traceback" not in res.stderr and why in res.stdout, res

    # 2. a dangling link and a link to a folder where the root and a channel belong (these crashed verify)
    _link(repo, "trust/root/1.json", "../../nowhere.json")
    _link(repo, "channels/us/next.json", "/etc")
    _commit_all(repo, "dangling and folder links")
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert "trust/root/1.json: is a symbolic link (to '../../nowhere.json')" in res.stdout
    assert "channels/us/next.json: is a symbolic link (to '/etc')" in res.stdout
    assert_one_line_error(run_pedata(*GET, cwd=repo), "is a symbolic link")
    assert_one_line_error(run_pedata("get", "pedata://us/enhanced_cps_2024@next", cwd=repo), "is a symbolic link")

    # 3. a manifest given to `pedata schema` as a link
    manifest = next((repo / "manifests/us/enhanced_cps_2024").glob("*.json"))
    rel = manifest.relative_to(repo).as_posix()
    shutil.copy(manifest, tmp_path / "m.json")
    _link(repo, rel, tmp_path / "m.json")
    assert_one_line_error(run_pedata("schema", rel, cwd=repo), f"{rel}: is a symbolic link")

    # restoring the files restores the consumer
    run(["git", "reset", "-q", "--hard", "HEAD~2"], cwd=repo)
    res = run_pedata(*GET, cwd=repo)
    assert res.ok and res.stdout == before.stdout, res
