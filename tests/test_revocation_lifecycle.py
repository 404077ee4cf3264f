"""Revocation that stays done, on a registry built the way a user builds one (a real `dvc.yaml`
pipeline, `dvc repro`, the `pedata` CLI):

- after `revoke --purge`, following publish's own advice (`dvc repro`, `pedata publish`) must not
  put the purged bytes back in the remote, and `mirror` must not copy them anywhere;
- a revoked artifact leaves `latest` by a signed commit (`pedata channel drop`), after which
  `verify` passes again without any new bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata

BUILD = """\
import csv, os, yaml
import pyarrow as pa, pyarrow.parquet as pq
p = yaml.safe_load(open("params.yaml"))["build"]
n = p["rows"]
os.makedirs("data", exist_ok=True)
pq.write_table(pa.table({"person_id": list(range(n)), "person_weight": [1.5] * n, "age": [i % 90 for i in range(n)]}),
               "data/people.parquet")
with open("data/households.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["household_id", "household_weight"])
    for i in range(n // 2):
        w.writerow([i, 3.0])
"""

DVC_YAML = """\
stages:
  build:
    cmd: python src/build.py
    deps: [src/build.py]
    params: [build]
    outs: [data/people.parquet, data/households.csv]
artifacts:
  people:
    path: data/people.parquet
    type: dataset
    meta:
      pedata: {namespace: us, entity: person, weight: person_weight}
  households:
    path: data/households.csv
    type: dataset
    meta:
      pedata: {namespace: us, entity: household, weight: household_weight}
"""

PEOPLE = "pedata://us/people"


def _git(repo: Path, *args: str) -> str:
    return run(["git", *args], cwd=repo).stdout.strip()


def _object(storage: Path, md5: str) -> Path:
    return storage / "files" / "md5" / md5[:2] / md5[2:]


@pytest.fixture
def registry(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A registry with two published artifacts, a trust root (alice holds every role) and a
    second DVC remote `backup`; returns (repo, storage, backup)."""
    repo, storage, backup = tmp_path / "reg", tmp_path / "storage", tmp_path / "backup"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    assert run_pedata("init", "--namespace", "us", "--remote", str(storage), cwd=repo).ok
    run([*dvc_cmd(), "remote", "add", "backup", str(backup)], cwd=repo)
    (repo / "src").mkdir()
    (repo / "src/build.py").write_text(BUILD)
    (repo / "params.yaml").write_text("build:\n  rows: 60\n")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    run([*dvc_cmd(), "repro", "-q"], cwd=repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "pipeline, built")
    res = run_pedata("publish", cwd=repo)
    assert res.ok, res.stderr
    assert run_pedata("key", "generate", "alice", cwd=repo).ok
    assert run_pedata("trust", "init", "--root", "alice", "--promoter", "alice", "--certifier", "alice",
                      "--revoker", "alice", cwd=repo).ok
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "publish, trust root 1")
    return repo, storage, backup


def _latest(repo: Path) -> dict:
    return json.loads((repo / "channels/us/latest.json").read_text())["signed"]


def test_purge_then_repro_publish_mirror_leaves_no_bytes_anywhere(registry):
    repo, storage, backup = registry
    pin = _latest(repo)["artifacts"]["people"]
    sha = pin["sha256"]
    md5 = json.loads((repo / f"manifests/us/people/{sha}.json").read_text())["digest"]["md5"]
    assert _object(storage, md5).is_file()

    res = run_pedata("revoke", f"{PEOPLE}@latest", "--reason", "licence withdrawn", "--authority", "Stats office",
                     "--sign", "alice", "--purge", cwd=repo)
    assert res.ok, res.stderr
    assert not _object(storage, md5).exists() and not (repo / "data/people.parquet").exists()

    # publish's advice after a missing output: dvc repro rebuilds the very same bytes ...
    run([*dvc_cmd(), "repro", "-q"], cwd=repo)
    assert hashlib.sha256((repo / "data/people.parquet").read_bytes()).hexdigest() == sha
    # ... and publish refuses them before pushing anything, naming the tombstone
    res = run_pedata("publish", cwd=repo)
    assert_one_line_error(res, "data/people.parquet", f"tombstones/{sha}.json", "licence withdrawn",
                          "refusing to publish")
    assert res.returncode == 4
    assert not _object(storage, md5).exists()
    assert _latest(repo)["artifacts"]["people"] == pin  # nothing written either
    # the other artifact still publishes by path
    assert run_pedata("publish", "data/households.csv", cwd=repo).ok
    assert not _object(storage, md5).exists()

    # mirror copies what is pinned and not revoked: never the purged object
    res = run_pedata("mirror", "--to", "backup", "--json", cwd=repo)
    assert res.ok, res.stderr
    items = {i["uri"]: i for i in json.loads(res.stdout)["items"]}
    people = items[f"{PEOPLE}@sha256:{sha}"]
    assert people["status"] == "revoked" and f"tombstones/{sha}.json" in people["reason"]
    assert not _object(backup, md5).exists() and not _object(storage, md5).exists()
    households = _latest(repo)["artifacts"]["households"]
    assert items[f"pedata://us/households@sha256:{households['sha256']}"]["status"] == "copied"

    # a plain `dvc push` would still upload it (DVC knows nothing of tombstones); fsck says so
    res = run_pedata("fsck", "--json", cwd=repo)
    assert res.ok, res.stdout + res.stderr
    run([*dvc_cmd(), "push", "-q", "-r", "storage"], cwd=repo)
    res = run_pedata("fsck", "--json", cwd=repo)
    assert res.returncode == 1 and "revoked-present" in res.stdout


def test_revoked_artifact_dropped_from_latest_by_a_signed_commit(registry):
    repo, _storage, _backup = registry
    before = _latest(repo)
    sha = before["artifacts"]["people"]["sha256"]
    res = run_pedata("revoke", f"{PEOPLE}@latest", "--reason", "licence withdrawn", "--authority", "Stats office",
                     "--sign", "alice", cwd=repo)
    assert res.ok, res.stderr
    assert "pedata channel drop us latest people --sign KEY" in res.stdout
    res = run_pedata("verify", cwd=repo)
    assert res.returncode != 0 and "channels/us/latest.json" in res.stdout + res.stderr
    assert "or 'pedata channel drop us latest people --sign KEY')" in res.stdout + res.stderr

    res = run_pedata("channel", "drop", "us", "latest", "people", "--sign", "alice", "--reason", "licence withdrawn", cwd=repo)
    assert res.ok, res.stderr
    assert res.stdout.startswith("## Drop from `us/latest` (version 2)")
    assert f"| `people` | `{sha}` | tombstones/{sha}.json: revoked on " in res.stdout
    assert "Still pinned: `households`." in res.stdout and "promoter threshold met." in res.stdout
    assert res.stderr.strip() == ("pedata: now on branch drop/us-latest-v2: push it ('git push -u origin drop/us-latest-v2') "
                                  "and open a pull request with the text above; 'git checkout main' returns to where you were")
    assert _git(repo, "branch", "--show-current") == "drop/us-latest-v2"
    assert _git(repo, "show", "--name-only", "--format=%s", "HEAD").splitlines() == [
        "Drop people from us/latest (version 2)", "", "channels/us/latest.json"]
    doc = json.loads((repo / "channels/us/latest.json").read_text())
    after = doc["signed"]
    assert after["version"] == before["version"] + 1 and set(after["artifacts"]) == {"households"}
    assert after["artifacts"]["households"] == before["artifacts"]["households"] and len(doc["signatures"]) == 1
    res = run_pedata("verify", cwd=repo)
    assert res.ok, res.stdout + res.stderr
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--ff-only", "drop/us-latest-v2")
    res = run_pedata("verify", "--base", "HEAD~1", cwd=repo)
    assert res.ok, res.stdout + res.stderr
    # the artifact stays out: resolving latest says it is gone, publishing the same bytes is refused
    assert_one_line_error(run_pedata("get", f"{PEOPLE}@latest", cwd=repo), "people")
    assert run_pedata("publish", cwd=repo).returncode == 4
    assert set(_latest(repo)["artifacts"]) == {"households"}


def test_channel_drop_refusals_write_nothing(registry):
    repo, _s, _b = registry
    assert run_pedata("key", "generate", "mallory", cwd=repo).ok
    head = _git(repo, "rev-parse", "HEAD")
    cases = [
        (("us", "latest", "people", "--sign", "mallory"), "is not a promoter key in trust root version 1"),
        (("us", "latest", "nobody", "--sign", "alice"), "channel us/latest has no artifact 'nobody' (it pins: households, people)"),
        (("us", "next", "people", "--sign", "alice"), "no channel us/next"),
    ]
    for args, frag in cases:
        assert_one_line_error(run_pedata("channel", "drop", *args, cwd=repo), frag)
    assert _git(repo, "rev-parse", "HEAD") == head and _git(repo, "branch", "--show-current") == "main"
    assert _git(repo, "status", "--porcelain") == ""


def _forge_signature(signed: dict, key_file: Path) -> dict:
    """A signature made the documented way (docs/trust.md), from a key file: Ed25519 over the DSSE
    PAE of the channel payload type and the RFC 8785 canonical JSON of ``signed``."""
    import rfc8785
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    body = rfc8785.dumps(signed)
    ptype = b"application/vnd.pedata.channel+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"keyid": hashlib.sha256(raw).hexdigest(), "sig": key.sign(pae).hex()}


def test_a_drop_from_next_signed_by_a_key_outside_the_root_fails_verify(registry, _isolated_home):
    """The attacker's side: a hand-written next version without `people`, chained and signed with
    their own key file, committed on a branch. Only promoter signatures make a drop."""
    import rfc8785

    repo = registry[0]
    assert run_pedata("promote", "us", "--sign", "alice", "--no-commit", cwd=repo).ok
    _git(repo, "commit", "-qm", "next v1")
    assert run_pedata("key", "generate", "mallory", cwd=repo).ok
    _git(repo, "checkout", "-q", "-b", "sneaky-drop")
    path = repo / "channels/us/next.json"
    current = json.loads(path.read_text())["signed"]
    signed = {**current, "version": current["version"] + 1,
              "prev": hashlib.sha256(rfc8785.dumps(current)).hexdigest(),
              "artifacts": {k: v for k, v in current["artifacts"].items() if k != "people"}}
    doc = {"signatures": [_forge_signature(signed, _isolated_home / "keys" / "mallory.key")], "signed": signed}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    _git(repo, "commit", "-qam", "drop people from next")
    res = run_pedata("verify", "--base", "main", cwd=repo)
    assert res.returncode != 0
    assert "channels/us/next.json" in res.stdout and "signed by 0 of 1 required promoter keys" in res.stdout, res.stdout
    # the same drop through pedata, signed by the promoter, passes
    _git(repo, "checkout", "-q", "main")
    assert run_pedata("channel", "drop", "us", "next", "people", "--sign", "alice", cwd=repo).ok
    res = run_pedata("verify", "--base", "main", cwd=repo)
    assert res.ok, res.stdout + res.stderr
    assert json.loads(path.read_text())["signed"]["artifacts"].keys() == {"households"}
