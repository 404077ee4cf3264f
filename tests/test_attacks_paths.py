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

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import rfc8785
from support.commands import assert_one_line_error, run, run_pedata
from support.dirs import make_registry

pytest_plugins = ["support.attacks"]

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


# -- listing entries and ;path= may not name .git, .dvc or .pedata ----------------------------------
@pytest.fixture(scope="module")
def dir_template(tmp_path_factory):
    base = tmp_path_factory.mktemp("dirreg")
    reg = make_registry(base)
    reg.publish()
    return reg


def _forge_listing_entry(origin: Path, inner: str) -> str:
    """As an attacker with push access: add ``inner`` to the folder's listing (bytes of an existing
    file, so the remote already has them), re-derive the documented digests, move unsigned
    ``latest``. Returns the forged directory digest."""
    channel = json.loads((origin / "channels/uk/latest.json").read_text())
    pin = channel["signed"]["artifacts"]["local_areas"]
    m = json.loads((origin / f"manifests/uk/local_areas/{pin['sha256']}.json").read_text())
    entries = m["files"]["entries"]
    entries.append(dict(entries[0], path=inner))
    entries.sort(key=lambda e: e["path"])
    # docs/directory-artifacts.md: sha256 of the RFC 8785 JSON of the sorted {path, sha256, size} list
    digest = hashlib.sha256(rfc8785.dumps([{k: e[k] for k in ("path", "sha256", "size")} for e in entries])).hexdigest()
    m["files"]["count"] = len(entries)
    m["size"] += entries[0]["size"]
    m["digest"]["sha256"] = digest
    (origin / f"manifests/uk/local_areas/{digest}.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    pin.update(sha256=digest, size=m["size"], manifest_sha256=hashlib.sha256(rfc8785.dumps(m)).hexdigest())
    (origin / "channels/uk/latest.json").write_text(json.dumps(channel, indent=2, sort_keys=True) + "\n")
    _commit_all(origin, f"add {inner}")
    return digest


@pytest.mark.parametrize("inner", [".git/config", ".GIT/config", "sub/.dvc/config", ".Pedata/state", ".git./hooks/x"])
def test_listing_entry_naming_repository_machinery_is_refused(dir_template, tmp_path, inner):
    origin = tmp_path / "origin"
    shutil.copytree(dir_template.origin, origin, symlinks=True)
    env = {**dir_template.env}
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=consumer)
    config = (consumer / ".git/config").read_bytes()
    uri = "pedata://uk/local_areas@latest"
    res = run_pedata("get", uri, "--registry", str(origin), "-o", ".", "--force", cwd=consumer, env=env)
    assert res.ok and (consumer / "constituency/E14000000.h5").is_file(), res  # before the attack

    _forge_listing_entry(origin, inner)
    res = run_pedata("get", uri, "--registry", str(origin), "-o", ".", "--force", cwd=consumer, env=env)
    assert_one_line_error(res, f"bad file entry {inner!r}", "component is not allowed")
    assert (consumer / ".git/config").read_bytes() == config
    assert not (consumer / inner).exists() or inner.lower().startswith(".git/")
    res = run_pedata("verify", cwd=origin, env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr and f"bad file entry {inner!r}" in res.stdout, res
    assert run(["git", "status", "--porcelain"], cwd=consumer).returncode == 0


def test_path_qualifier_naming_repository_machinery_is_refused_when_parsed(dir_template, tmp_path):
    env = dir_template.env
    ok = run_pedata("get", "pedata://uk/local_areas@latest;path=district/D000.h5", "--registry", str(dir_template.origin),
                    cwd=tmp_path, env=env)
    assert ok.ok, ok
    for inner in (".git/config", "a/.DVC/config", ".pedata", ".Git. /x"):
        res = run_pedata("get", f"pedata://uk/local_areas@latest;path={inner}", "--registry", str(dir_template.origin),
                         cwd=tmp_path, env=env)
        assert_one_line_error(res, f"invalid path qualifier {inner!r}", "component is not allowed")
    from dvc_pedata.model.uri import URIError, parse

    with pytest.raises(URIError, match="component is not allowed"):
        parse("pedata://uk/local_areas@latest;path=x/.GIT/config")


def test_get_o_force_never_writes_through_a_symlink_out_of_the_folder(dir_template, tmp_path):
    """A consumer's folder holding a link that points out: the whole get is refused, outside untouched."""
    env = dir_template.env
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "D000.h5").write_text("mine\n")
    out = tmp_path / "areas"
    out.mkdir()
    os.symlink(outside, out / "district")
    res = run_pedata("get", "pedata://uk/local_areas@latest", "--registry", str(dir_template.origin), "-o", str(out), "--force",
                     cwd=tmp_path, env=env)
    assert_one_line_error(res, "would be written outside the folder (a symlink is in the way)")
    assert (outside / "D000.h5").read_text() == "mine\n" and sorted(p.name for p in outside.iterdir()) == ["D000.h5"]
    # a link at the file itself is replaced by the file, never written through
    (out / "district").unlink()
    (out / "district").mkdir()
    os.symlink(outside / "D000.h5", out / "district/D000.h5")
    res = run_pedata("get", "pedata://uk/local_areas@latest", "--registry", str(dir_template.origin), "-o", str(out), "--force",
                     cwd=tmp_path, env=env)
    assert_one_line_error(res, "would be written outside the folder")
    assert (outside / "D000.h5").read_text() == "mine\n"
