"""The resolver over a local-folder remote: fresh clones, git URLs and tags, corruption and
mirrors, concurrency, crashes, offline mode, revocation, the no-DVC cache hit, pedata import."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, dvc_cmd, run, run_pedata
from support.resolve import (
    BIG_SIZE,
    build_registry,
    cache_objects,
    copy_storage,
    remote_object,
    sha256_of,
)

PEOPLE = "pedata://us/people"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return build_registry(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def cache() -> Path:
    return Path(os.environ["PEDATA_CACHE_DIR"])


@pytest.fixture
def clone(published, tmp_path) -> Path:
    return published.clone(tmp_path / "clone")


def log_lines(cache: Path) -> list[dict]:
    return [json.loads(x) for x in (cache / "access.log").read_text().splitlines()]


def test_latest_then_sha256_from_a_fresh_clone(published, clone, cache, tmp_path):
    res = run_pedata("get", f"{PEOPLE}@latest", cwd=clone)
    assert res.ok, res
    path = Path(res.stdout.strip())
    assert path == cache / "sha256" / published.people_b[:2] / published.people_b[2:]
    assert sha256_of(path) == published.people_b
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # objects are read-only
    assert oct(path.stat().st_mode & 0o777) == "0o444"

    res = run_pedata("get", f"{PEOPLE}@sha256:{published.people_b}", "--json", "-o", str(tmp_path / "out.bin"), cwd=clone)
    assert res.ok, res
    data = json.loads(res.stdout)
    assert (data["source"], data["path"], data["sha256"]) == ("cache", str(path), published.people_b)
    assert (tmp_path / "out.bin").read_bytes() == path.read_bytes()

    lines = log_lines(cache)
    assert [x["source"] for x in lines] == ["remote:storage", "cache"]
    assert lines[0]["uri"] == f"{PEOPLE}@latest" and lines[0]["name"] == "us/people"
    assert lines[0]["manifest_sha256"] == data["manifest_sha256"]
    audit = run_pedata("audit", "--json", cwd=tmp_path)
    assert [e["sha256"] for e in json.loads(audit.stdout)] == [published.people_b] * 2
    assert run_pedata("audit", "--since", "2999-01-01", "--json", cwd=tmp_path).stdout.strip() == "[]"
    text = run_pedata("audit", cwd=tmp_path).stdout.splitlines()
    assert len(text) == 2 and "remote:storage" in text[0]


def _audit_since(since: str, cwd: Path) -> list[str]:
    res = run_pedata("audit", "--since", since, "--json", cwd=cwd)
    assert res.ok, res
    return [e["source"] for e in json.loads(res.stdout)]


def test_audit_since_splits_the_log_at_a_time_in_any_offset(published, clone, cache):
    from datetime import datetime, timedelta, timezone

    assert run_pedata("get", f"{PEOPLE}@latest", cwd=clone).ok
    assert run_pedata("get", f"{PEOPLE}@latest", cwd=clone).ok
    first, second = (datetime.fromisoformat(x["time"].replace("Z", "+00:00")) for x in log_lines(cache))
    assert first < second
    plus2, minus5 = timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))
    assert _audit_since(second.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), clone) == ["cache"]
    # The same instant written with an offset selects the same entries (it is not read as UTC).
    assert _audit_since(second.astimezone(plus2).isoformat(), clone) == ["cache"]
    assert _audit_since(first.astimezone(minus5).isoformat(), clone) == ["remote:storage", "cache"]
    assert _audit_since((second + timedelta(seconds=1)).astimezone(plus2).isoformat(), clone) == []
    assert _audit_since(first.strftime("%Y-%m-%d"), clone) == ["remote:storage", "cache"]
    assert_one_line_error(run_pedata("audit", "--since", "yesterday", cwd=clone), "invalid --since 'yesterday'")
    assert_one_line_error(run_pedata("audit", "--registry", str(clone), cwd=clone), "--registry goes with --remote")


def test_progress_draws_on_a_terminal_and_never_on_stdout(published, clone, cache):
    """`P=$(pedata get URI)` in an interactive shell: stderr is a terminal, stdout a pipe."""
    import pty

    env = {k: v for k, v in os.environ.items() if k not in ("PEDATA_NO_PROGRESS", "CI")}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dvc_pedata", "get", "pedata://us/big@latest"], cwd=clone,
                            stdout=subprocess.PIPE, stderr=follower, env=env)
    os.close(follower)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    out = proc.stdout.read()
    assert proc.wait(timeout=240) == 0, terminal
    os.close(leader)
    target = cache / "sha256" / published.big[:2] / published.big[2:]
    assert out == f"{target}\n".encode()  # only the answer: the bar went to the terminal
    assert b"get pedata://us/big@latest" in terminal
    # Piped stderr: nothing drawn at all.
    piped = subprocess.run([sys.executable, "-m", "dvc_pedata", "get", f"{PEOPLE}@latest"], cwd=clone,
                           capture_output=True, env=env)
    assert piped.returncode == 0 and piped.stderr == b"", piped.stderr


def test_python_api_get_path_open_schema(published, clone):
    import dvc_pedata

    path = dvc_pedata.get_path(f"{PEOPLE}@latest", registry=clone)
    with dvc_pedata.open(f"{PEOPLE}@sha256:{published.people_b}", registry=clone) as fh:
        assert fh.read() == path.read_bytes()
    assert dvc_pedata.schema(f"{PEOPLE}@latest", registry=clone) == {}
    assert dvc_pedata.get_path("pe-data://us/people@latest", registry=clone, offline=True) == path
    with pytest.raises(Exception, match="read-only"):
        dvc_pedata.open(f"{PEOPLE}@latest", "wb", registry=clone)
    # rev is read from git, not from the work tree: the tag still pins bytes A
    assert sha256_of(dvc_pedata.get_path(f"{PEOPLE}@latest", registry=clone, rev="snap-1")) == published.people_a


def test_git_url_and_tag(published, tmp_path, cache):
    url = f"file://{published.bare}"
    out = tmp_path / "elsewhere"
    out.mkdir()  # not a registry: everything comes from the URL
    res = run_pedata("get", f"{PEOPLE}@latest", "--registry", url, "--rev", "snap-1", "--json", cwd=out)
    assert res.ok, res
    data = json.loads(res.stdout)
    assert data["sha256"] == published.people_a and data["registry"] == url
    head = run_pedata("get", f"{PEOPLE}@latest", "--registry", url, "--json", cwd=out)
    assert json.loads(head.stdout)["sha256"] == published.people_b
    # the clone is cached: offline works for what was fetched, and says what was not
    assert run_pedata("get", f"{PEOPLE}@latest", "--registry", url, "--rev", "snap-1", "--offline", cwd=out).ok
    miss = run_pedata("get", f"{PEOPLE}@latest", "--registry", url, "--rev", "nope", "--offline", cwd=out)
    assert_one_line_error(miss, "offline", url, "'nope'", "never been fetched")
    assert miss.returncode == 5
    bad = run_pedata("get", f"{PEOPLE}@latest", "--registry", url, "--rev", "nope", cwd=out)
    assert_one_line_error(bad, "cannot fetch 'nope'", url)


def test_flipped_byte_is_refused_then_a_good_mirror_is_used(published, clone, cache, tmp_path):
    bad = copy_storage(published.storage, tmp_path / "bad-storage")
    obj = remote_object(bad, published.people_b_md5)
    data = bytearray(obj.read_bytes())
    data[100] ^= 0x01
    obj.write_bytes(bytes(data))
    run([*dvc_cmd(), "remote", "modify", "storage", "url", str(bad)], cwd=clone)
    res = run_pedata("get", f"{PEOPLE}@latest", cwd=clone)
    assert_one_line_error(res, f"{PEOPLE}@latest", published.people_b, sha256_of(obj), "nothing was cached")
    assert res.returncode == 3
    assert cache_objects(cache) == []

    good = copy_storage(published.storage, tmp_path / "good-storage")
    run([*dvc_cmd(), "remote", "add", "backup", str(good)], cwd=clone)
    cfg = json.loads((clone / "pedata.json").read_text())
    cfg["mirrors"] = ["backup"]
    (clone / "pedata.json").write_text(json.dumps(cfg))
    res = run_pedata("get", f"{PEOPLE}@latest", "--json", cwd=clone)
    assert res.ok, res
    assert json.loads(res.stdout)["source"] == "mirror:backup"
    assert [sha256_of(p) for p in cache_objects(cache)] == [published.people_b]


def test_eight_processes_one_object(published, clone, cache):
    procs = [
        subprocess.Popen([sys.executable, "-m", "dvc_pedata", "get", "pedata://us/big@latest"], cwd=clone,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outs
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    objs = cache_objects(cache)
    assert objs == [Path(paths.pop())] and objs[0].stat().st_size == BIG_SIZE
    assert sha256_of(objs[0]) == published.big
    sources = [x["source"] for x in log_lines(cache)]
    assert sorted(sources) == ["cache"] * 7 + ["remote:storage"]  # downloaded once


def test_killed_mid_download_leaves_no_partial_object(published, clone, cache):
    folder = cache / "sha256" / published.big[:2]
    target = folder / published.big[2:]
    proc = subprocess.Popen([sys.executable, "-m", "dvc_pedata", "get", "pedata://us/big@latest"], cwd=clone,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    caught = False
    while time.monotonic() < deadline and proc.poll() is None:  # poll, no sleep
        if folder.is_dir() and any(n.startswith(".pedata-tmp-") for n in os.listdir(folder)):
            proc.send_signal(signal.SIGKILL)
            caught = True
            break
    proc.wait()
    assert caught, "the download finished before it could be killed"
    # Whatever the moment, the sha256 name holds the whole object or nothing.
    assert not target.exists() or sha256_of(target) == published.big
    res = run_pedata("get", "pedata://us/big@latest", cwd=clone)
    assert res.ok, res
    assert cache_objects(cache) == [target]  # the killed writer's temp file is gone too
    assert sha256_of(target) == published.big


def test_warm_cache_does_not_import_dvc(published, clone):
    uri = f"{PEOPLE}@latest"
    assert run_pedata("get", uri, cwd=clone).ok
    probe = (
        "import sys, dvc_pedata\n"
        f"p = dvc_pedata.get_path({uri!r}, registry={str(clone)!r})\n"
        "from dvc_pedata.cli import main\n"
        f"assert main(['get', {uri!r}, '--registry', {str(clone)!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dvc', 'dvc_data', 'dvc_objects', 'scmrepo', 'fsspec'))\n"
        "print('LOADED', bad)\n"
    )
    out = run([sys.executable, "-c", probe], cwd=clone).stdout
    assert "LOADED []" in out, out


def test_offline_miss_says_what_is_missing(published, clone, cache):
    res = run_pedata("get", f"{PEOPLE}@latest", "--offline", cwd=clone)
    assert_one_line_error(res, "offline", f"{PEOPLE}@latest", published.people_b, "not in the local cache")
    assert res.returncode == 5
    assert cache_objects(cache) == []


def test_tombstone_refuses_even_cached_bytes(published, clone):
    assert run_pedata("get", f"{PEOPLE}@latest", cwd=clone).ok
    tomb = {"signed": {"kind": "tombstone", "schema_version": 1, "artifact_sha256": published.people_b,
                       "reason": "licence withdrawn", "authority": "US Census Bureau", "date": "2025-03-01T00:00:00Z"},
            "signatures": []}
    (clone / "tombstones" / f"{published.people_b}.json").write_text(json.dumps(tomb))
    for ref in ("latest", f"sha256:{published.people_b}"):
        res = run_pedata("get", f"{PEOPLE}@{ref}", "--offline", cwd=clone)
        assert_one_line_error(res, "revoked", "licence withdrawn", "US Census Bureau", "2025-03-01")
        assert res.returncode == 4
    # The record stays readable: schema answers from the CLI and the Python API, with a warning.
    assert run_pedata("schema", f"{PEOPLE}@latest", cwd=clone).ok
    probe = (
        "import json, dvc_pedata\n"
        f"print(json.dumps(dvc_pedata.schema({PEOPLE + '@latest'!r}, registry={str(clone)!r})))\n"
    )
    out = run([sys.executable, "-c", probe], cwd=clone)
    assert isinstance(json.loads(out.stdout), dict)
    assert "revoked on 2025-03-01" in out.stderr and "bytes are not served" in out.stderr, out.stderr


def test_bad_uris_and_unknown_names(clone):
    assert_one_line_error(run_pedata("get", "pedata://us/people", cwd=clone), "missing @<ref>")
    assert_one_line_error(run_pedata("get", "pedata://US/people@latest", cwd=clone), "invalid namespace")
    assert_one_line_error(run_pedata("get", "pedata://fr/people@latest", cwd=clone), "unknown namespace 'fr'")
    assert_one_line_error(run_pedata("get", "pedata://us/nobody@latest", cwd=clone), "has no artifact 'nobody'")
    assert_one_line_error(run_pedata("get", "pedata://us/people@next", cwd=clone), "no channel us/next")
    assert_one_line_error(run_pedata("get", f"pedata://us/people@sha256:{'0' * 64}", cwd=clone), "no manifest")


def test_pedata_import_checks_the_pin(published, clone, tmp_path):
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=consumer)
    run([*dvc_cmd(), "init", "-q"], cwd=consumer)
    res = run_pedata("import", f"{PEOPLE}@latest", "-o", "data/people.bin", "--registry", str(clone), "--json", cwd=consumer)
    assert res.ok, res
    data = json.loads(res.stdout)
    assert sha256_of(consumer / "data/people.bin") == published.people_b
    dvcfile = (consumer / "data/people.bin.dvc").read_text()
    assert data["import_rev"] in dvcfile and "people.bin" in dvcfile
    line = log_lines(Path(os.environ["PEDATA_CACHE_DIR"]))[-1]
    assert (line["uri"], line["sha256"], line["source"]) == (f"{PEOPLE}@latest", published.people_b, "dvc-import")

    # A channel that pins bytes A while the tip's dvc.lock holds B: the import is made at the commit
    # that published A (not at the tip), so DVC brings A. (A moved release tag, whose bytes DVC then
    # imports and pedata refuses: tests/test_consumer_git_url.py.)
    old = run(["git", "show", "snap-1:channels/us/latest.json"], cwd=clone).stdout
    (clone / "channels/us/latest.json").write_text(old)
    run(["git", "commit", "-qam", "stale channel"], cwd=clone)
    res = run_pedata("import", f"{PEOPLE}@latest", "-o", "data/other.bin", "--registry", str(clone), "--json", cwd=consumer)
    assert res.ok, res
    assert json.loads(res.stdout)["import_rev"] == run(["git", "rev-parse", "snap-1"], cwd=clone).stdout.strip()
    assert sha256_of(consumer / "data/other.bin") == published.people_a


# -- refs that demand signatures ---------------------------------------------------------------
@pytest.fixture(scope="module")
def signed(published, tmp_path_factory):
    from support.resolve import build_signed

    return build_signed(published, tmp_path_factory.mktemp("signed"))


@pytest.fixture
def signed_clone(signed, tmp_path) -> Path:
    run(["git", "clone", "-q", str(signed.path), str(tmp_path / "sclone")], cwd=tmp_path)
    return tmp_path / "sclone"


def test_next_and_releases_verify_from_a_fresh_clone(published, signed, signed_clone):
    res = run_pedata("get", f"{PEOPLE}@next", "--json", "--trusted-root", signed.root1_digest, cwd=signed_clone)
    assert res.ok, res
    data = json.loads(res.stdout)
    assert (data["sha256"], data["verified_by"]) == (published.people_b, "promoter")
    res = run_pedata("get", f"{PEOPLE}@v1.0.0", "--json", cwd=signed_clone)
    assert res.ok and res.stderr == "", res
    assert json.loads(res.stdout)["verified_by"] == "certifier"
    retired = run_pedata("get", f"{PEOPLE}@v1.1.0", cwd=signed_clone)
    assert retired.ok and retired.stderr.strip() == "pedata: warning: release us@v1.1.0 is retired: status retired"
    refused = run_pedata("get", f"{PEOPLE}@v1.2.0", cwd=signed_clone)
    assert_one_line_error(refused, "release us@v1.2.0 is unreproducible")
    assert refused.returncode == 4
    unsigned = run_pedata("get", f"{PEOPLE}@v2.0.0", cwd=signed_clone)
    assert_one_line_error(unsigned, "release us@v2.0.0 is not trusted", "signed by 0 of 1 required certifier keys")
    assert unsigned.returncode == 3


def test_trusted_root_pin_and_tampered_channel(signed, signed_clone):
    wrong = run_pedata("get", f"{PEOPLE}@next", "--trusted-root", "0" * 64, cwd=signed_clone)
    assert_one_line_error(wrong, signed.root1_digest, "pinned")
    assert wrong.returncode == 3
    ch = json.loads((signed_clone / "channels/us/next.json").read_text())
    ch["signed"]["artifacts"]["people"]["size"] += 1
    (signed_clone / "channels/us/next.json").write_text(json.dumps(ch))
    res = run_pedata("get", f"{PEOPLE}@next", cwd=signed_clone)
    assert_one_line_error(res, "channel us/next (version 1) is not trusted")
    # the committed state is still fine when read at a revision (git, not the work tree)
    assert run_pedata("get", f"{PEOPLE}@next", "--rev", "HEAD", cwd=signed_clone).ok


def test_release_by_git_url_and_import_at_the_release_tag(published, signed, tmp_path):
    url = f"file://{signed.path}"
    res = run_pedata("get", f"{PEOPLE}@v1.0.0", "--registry", url, "--rev", "us/v1.0.0", "--json", cwd=tmp_path)
    assert res.ok, res
    assert json.loads(res.stdout)["sha256"] == published.people_b
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=consumer)
    run([*dvc_cmd(), "init", "-q"], cwd=consumer)
    res = run_pedata("import", f"{PEOPLE}@v1.0.0", "-o", "people.bin", "--registry", str(signed.path), cwd=consumer)
    assert res.ok, res
    assert "rev: us/v1.0.0" in (consumer / "people.bin.dvc").read_text()
    assert sha256_of(consumer / "people.bin") == published.people_b
