"""Attacks from issue 17's "And separately" list, mounted from the attacker's side.

The attacker has push access to the registry but no keys: they move tags (``git tag -f``),
commit what they like and copy signed files. Every test runs the real ``pedata`` CLI in a
subprocess against real git repositories and keys made by ``pedata key generate``, shows the honest
run first, then the attack, and asserts the one-line refusal and that nothing ran or was lost.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from support.attacker import write_signed
from support.commands import assert_one_line_error, run, run_pedata
from support.resolve import build_registry

pytest_plugins = ["support.attacks"]


# -- replay follows only the tag certify wrote --------------------------------------------------
def _tag_message(repo: Path, tag: str) -> str:
    return run(["git", "tag", "-l", "--format=%(contents)", tag], cwd=repo).stdout


def _hostile_recipe(repo: Path, marker: Path) -> None:
    """A dvc.yaml whose stage also runs the attacker's command (outputs unchanged, so it PASSES)."""
    text = (repo / "dvc.yaml").read_text()
    assert "    cmd: python pipeline/generate.py\n" in text
    (repo / "dvc.yaml").write_text(text.replace("    cmd: python pipeline/generate.py\n",
                                                f"    cmd: touch {marker} && python pipeline/generate.py\n"))


def test_replay_runs_only_the_certified_commit_and_says_so_first(certified, tmp_path):
    repo = certified
    marker = tmp_path / "attacker-ran"
    message = _tag_message(repo, "us/v1.0.0")
    assert "release-digest: sha256:" in message
    honest = run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=repo).stdout.strip()

    # honest replay: the notice comes before the stage runs (stderr), then PASSED
    res = run_pedata("replay", "us@1.0.0", cwd=repo)
    assert res.ok, res
    notice = f"pedata: replay us@1.0.0 will now run the commands of dvc.yaml at commit {honest[:12]} (stages: dvc.yaml:generate)"
    assert res.stderr.splitlines()[0] == notice, res.stderr
    assert "replay PASSED" in res.stdout

    # 1. the attacker commits a recipe that also runs their command and moves the tag onto it,
    #    with the very message certify wrote (the release file there is unchanged: same digest)
    _hostile_recipe(repo, marker)
    run(["git", "commit", "-qam", "faster build"], cwd=repo)
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", message], cwd=repo)
    moved = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    res = run_pedata("replay", "us@1.0.0", cwd=repo)
    assert_one_line_error(res, f"tag us/v1.0.0 moved: it names commit {moved[:12]}, but the release was certified in {honest[:12]}",
                          "nothing was run")
    assert res.returncode == 3 and not marker.exists()
    # the URI form follows the same tag
    assert_one_line_error(run_pedata("replay", "pedata://us/enhanced_cps_2024@v1.0.0", cwd=repo), "tag us/v1.0.0 moved")
    assert not marker.exists()

    # 2. an orphan commit holding only a copy of the release file and the hostile recipe
    branch = run(["git", "branch", "--show-current"], cwd=repo).stdout.strip()
    run(["git", "checkout", "-q", "--orphan", "evil"], cwd=repo)
    run(["git", "commit", "-qm", "evil root"], cwd=repo)
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", message], cwd=repo)
    orphan = run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()
    run(["git", "checkout", "-q", "-f", branch], cwd=repo)
    assert_one_line_error(run_pedata("replay", "us@1.0.0", cwd=repo), f"tag us/v1.0.0 moved: it names commit {orphan[:12]}")
    assert not marker.exists()

    # 3. back on the certified commit, but lightweight, or annotated without the digest line
    run(["git", "tag", "-f", "us/v1.0.0", honest], cwd=repo)
    assert_one_line_error(run_pedata("replay", "us@1.0.0", cwd=repo), "tag us/v1.0.0 is lightweight", "nothing was run")
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", "pedata release us@1.0.0", honest], cwd=repo)
    assert_one_line_error(run_pedata("replay", "us@1.0.0", cwd=repo), "does not name the release digest")
    # 4. a digest line naming other bytes
    other = re.sub(r"sha256:[0-9a-f]{64}", "sha256:" + "0" * 64, message)
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", other, honest], cwd=repo)
    assert_one_line_error(run_pedata("replay", "us@1.0.0", cwd=repo), "names release digest")
    assert not marker.exists()

    # restoring the tag certify made restores the replay
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", message, honest], cwd=repo)
    res = run_pedata("replay", "us@1.0.0", cwd=repo)
    assert res.ok and "replay PASSED" in res.stdout, res
    assert not marker.exists()


# -- a revision from a user never reaches git as an option --------------------------------------
@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return build_registry(tmp_path_factory.mktemp("published"), big_size=4096)


def test_rev_that_looks_like_an_option_is_refused_before_git_sees_it(published, tmp_path):
    marker = tmp_path / "upload-pack-ran"
    bare = str(published.bare)
    uri = "pedata://us/people@latest"
    # the consumer resolves through the bare repository (read like a git URL: fetched into a clone)
    res = run_pedata("get", uri, "--registry", bare, "--rev", "main", cwd=tmp_path)
    assert res.ok, res
    before = res.stdout

    evil = f"--upload-pack=touch {marker}; git-upload-pack"
    res = run_pedata("get", uri, "--registry", bare, f"--rev={evil}", cwd=tmp_path)
    assert_one_line_error(res, f"invalid git revision {evil!r}", "may not start with '-'")
    assert res.returncode == 2 and not marker.exists()
    # a registry "URL" that git would read as an option is refused the same way
    res = run_pedata("get", uri, "--registry", f"--upload-pack=touch {marker};://x", cwd=tmp_path)
    assert_one_line_error(res, "invalid registry", "may not start with '-'")
    # the Python API: a PedataError (UsageError), and git never ran the command
    from dvc_pedata import get_path
    from dvc_pedata.errors import UsageError

    with pytest.raises(UsageError, match="invalid git revision"):
        get_path(uri, registry=bare, rev=evil)
    # a local checkout, and verify --base: the same refusal
    assert_one_line_error(run_pedata("get", uri, "--registry", str(published.origin), f"--rev={evil}", cwd=tmp_path), "invalid git revision")
    assert_one_line_error(run_pedata("verify", f"--base={evil}", cwd=published.origin), "invalid git revision")
    assert not marker.exists()
    # and the consumer still resolves as before
    res = run_pedata("get", uri, "--registry", bare, "--rev", "main", cwd=tmp_path)
    assert res.ok and res.stdout == before, res


# -- release versions are unique ignoring case -----------------------------------------------------
def test_versions_differing_only_in_case_are_refused_by_certify_and_reported_by_verify(certified, tmp_path):
    repo = certified
    env = {"PEDATA_KEYS_DIR": str(repo.parent / "keys")}  # the certifier's key file
    res = run_pedata("certify", "us", "1.1.0-RC1", "--sign", "alice", cwd=repo, env=env)
    assert res.ok, res
    res = run_pedata("certify", "us", "1.1.0-rc1", "--sign", "alice", cwd=repo, env=env)
    assert_one_line_error(res, "release us@1.1.0-RC1 already exists and differs from 1.1.0-rc1 only in case")
    assert not (repo / "releases/us/1.1.0-rc1.json").exists()
    assert run(["git", "tag", "-l", "us/v1.1.0-rc1"], cwd=repo).stdout == ""
    assert run_pedata("verify", cwd=repo, env=env).ok

    # a certifier in bad faith writes the second one by hand (edit, re-sign with the key file, tag)
    doc = json.loads((repo / "releases/us/1.1.0-RC1.json").read_text())
    doc["signed"]["version"] = "1.1.0-rc1"
    doc["signatures"] = []
    forged = repo / "releases/us/1.1.0-rc1.json"
    forged.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    assert run_pedata("sign", str(forged), "--sign", "alice", cwd=repo, env=env).ok
    run(["git", "add", str(forged)], cwd=repo)
    run(["git", "commit", "-qm", "release 1.1.0-rc1"], cwd=repo)
    run(["git", "tag", "-a", "us/v1.1.0-rc1", "-m", "pedata release us@1.1.0-rc1"], cwd=repo)
    res = run_pedata("verify", cwd=repo, env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert ("releases/us/1.1.0-rc1.json: release version 1.1.0-rc1 differs only in case from releases/us/1.1.0-RC1.json:"
            " release versions must be unique ignoring case") in res.stdout + res.stderr, res


# -- documents that pass the schema but are not what they claim: one line, naming the file ---------
def _commit_all(repo: Path, msg: str) -> None:
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", msg], cwd=repo)


def _reset(repo: Path) -> None:
    run(["git", "reset", "-q", "--hard", "HEAD~1"], cwd=repo)
    run(["git", "clean", "-qfdx", "--", "releases", "trust"], cwd=repo)


GET_OK = ("get", "pedata://us/enhanced_cps_2024@v1.0.0")


@pytest.mark.parametrize("expires, why", [
    ("2030-02-30T00:00:00Z", "invalid expires '2030-02-30T00:00:00Z': day is out of range for month"),
    ("0000-01-01T00:00:00Z", "invalid expires '0000-01-01T00:00:00Z': year 0 is out of range"),
    ("2030-01-01T00:00:00Z\n", "fails the release schema at signed/expires"),
])
def test_signed_expiry_that_is_no_real_time_is_one_line_naming_the_file(certified, expires, why):
    repo = certified
    key = repo.parent / "keys/alice.key"
    assert run_pedata(*GET_OK, cwd=repo).ok  # the consumer resolves before
    # a certifier signs (with the key file, by the documented format) a provisional release
    # whose expiry has the schema's form but names no instant
    signed = json.loads((repo / "releases/us/1.0.0.json").read_text())["signed"]
    signed.update(version="1.2.0", status="provisional", expires=expires)
    write_signed(repo / "releases/us/1.2.0.json", "release", signed, key)
    _commit_all(repo, "release 1.2.0")
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert f"releases/us/1.2.0.json: {why}" in res.stdout, res.stdout
    res = run_pedata("get", "pedata://us/enhanced_cps_2024@v1.2.0", cwd=repo)
    assert_one_line_error(res, f"releases/us/1.2.0.json: {why}")
    assert run_pedata(*GET_OK, cwd=repo).ok  # and after: other releases are unaffected


def test_unpaired_surrogate_in_a_signed_document_is_a_violation_not_a_traceback(certified):
    repo = certified
    rel = repo / "releases/us/1.0.0.json"
    text = rel.read_text()
    assert '"summary": "Release us 1.0.0"' in text
    rel.write_text(text.replace('"summary": "Release us 1.0.0"', '"summary": "Release \\ud800 1.0.0"'))
    _commit_all(repo, "notice")
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res
    assert ("releases/us/1.0.0.json: a string holds an unpaired surrogate escape (\\ud800-\\udfff), which is not Unicode text"
            in res.stdout), res.stdout
    assert_one_line_error(run_pedata(*GET_OK, cwd=repo), "releases/us/1.0.0.json: a string holds an unpaired surrogate")
    _reset(repo)
    assert run_pedata(*GET_OK, cwd=repo).ok


def test_root_file_names_that_are_not_decimal_and_folders_in_a_documents_place(certified):
    repo = certified
    shutil.copy(repo / "trust/root/1.json", repo / "trust/root/\u00b2.json")  # "²": isdigit() but not int()
    _commit_all(repo, "superscript root")
    for args in (GET_OK, ("trust", "show")):
        assert_one_line_error(run_pedata(*args, cwd=repo), "trust/root/\u00b2.json: not a trust root file name")
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "trust/root/\u00b2.json" in res.stdout, res
    _reset(repo)

    # trust/root/1.json is a folder: the API raises a PedataError subclass naming it
    (repo / "trust/root/1.json").unlink()
    (repo / "trust/root/1.json").mkdir()
    (repo / "trust/root/1.json/x").write_text("x")
    _commit_all(repo, "root is a folder")
    from dvc_pedata import get_path
    from dvc_pedata.errors import DocumentError

    with pytest.raises(DocumentError, match=r"trust/root/1\.json: is a folder, not a document"):
        get_path("pedata://us/enhanced_cps_2024@v1.0.0", registry=repo)
    assert_one_line_error(run_pedata(*GET_OK, cwd=repo), "trust/root/1.json: is a folder")
    res = run_pedata("verify", cwd=repo)
    assert res.returncode == 1 and "Traceback" not in res.stderr and "trust/root/1.json: is a folder" in res.stdout, res


def test_replay_judges_the_release_a_tag_names_before_running_anything(certified, tmp_path):
    """Push access alone can write a new release file in the documented format, sign it with a
    key of one's own, commit a hostile recipe with it and tag that commit exactly as certify does
    (annotated, naming the release digest, the first commit adding the file). The tag checks all
    pass; the trust engine, which judges the release as the resolver does, must refuse it."""
    import hashlib

    import rfc8785
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    repo = certified
    marker = tmp_path / "attacker-ran"
    key = tmp_path / "mallory.pem"
    key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    signed = json.loads((repo / "releases/us/1.0.0.json").read_text())["signed"]
    signed = {**signed, "version": "2.0.0", "previous": "1.0.0"}
    write_signed(repo / "releases/us/2.0.0.json", "release", signed, key)
    _hostile_recipe(repo, marker)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", "release 2.0.0"], cwd=repo)
    digest = hashlib.sha256(rfc8785.dumps(signed)).hexdigest()
    message = re.sub(r"sha256:[0-9a-f]{64}", f"sha256:{digest}", _tag_message(repo, "us/v1.0.0"))
    message = message.replace("1.0.0", "2.0.0")
    run(["git", "tag", "-a", "us/v2.0.0", "-m", message], cwd=repo)

    res = run_pedata("replay", "us@2.0.0", cwd=repo)
    assert_one_line_error(res, "release us@v2.0.0 is not trusted", "nothing was run")
    assert res.returncode == 3 and not marker.exists()
    # the honest release still replays
    run(["git", "checkout", "-q", "HEAD~1", "--", "dvc.yaml"], cwd=repo)
    run(["git", "commit", "-qm", "restore the recipe"], cwd=repo)
    res = run_pedata("replay", "us@1.0.0", cwd=repo)
    assert res.ok and "replay PASSED" in res.stdout, res
    assert not marker.exists()
