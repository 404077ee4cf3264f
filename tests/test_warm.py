"""The warm-cache memo (warm.py): a repeated resolution in a fresh process skips the resolver,
and never outlives what it vouched for (a promotion, a tombstone, a root rotation, an expiry)."""

from __future__ import annotations

import json
import marshal
import os
import sys
import time
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, run, run_pedata
from support.resolve import build_registry, build_signed

PEOPLE = "pedata://us/people"

PROBE = """
import json, sys, dvc_pedata
try:
    path = str(dvc_pedata.get_path(sys.argv[1], registry=sys.argv[2], trusted_root=sys.argv[3] or None))
    err = None
except Exception as exc:
    path, err = None, f"{type(exc).__name__}: {exc}"
print(json.dumps({"path": path, "error": err, "full": "dvc_pedata.resolver.resolve" in sys.modules,
                  "dvc": sorted(m for m in sys.modules if m.split(".")[0] in ("dvc", "dvc_data", "fsspec"))}))
"""


def probe(uri: str, registry: Path, trusted_root: str = "") -> dict:
    """``get_path`` in a fresh process: its answer, and whether the full resolver was imported."""
    out = run([sys.executable, "-c", PROBE, uri, str(registry), trusted_root], cwd=registry).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    return build_registry(tmp_path_factory.mktemp("registry"), big_size=1_000)


@pytest.fixture
def clone(published, tmp_path) -> Path:
    return published.clone(tmp_path / "clone")


def log_lines() -> list[dict]:
    return [json.loads(x) for x in (Path(os.environ["PEDATA_CACHE_DIR"]) / "access.log").read_text().splitlines()]


def test_second_resolution_skips_the_resolver_and_logs_the_same_line(published, clone):
    first = probe(f"{PEOPLE}@latest", clone)
    assert first["full"] and first["error"] is None  # the first one resolves (and fetches)
    second = probe(f"{PEOPLE}@latest", clone)
    assert second == {"path": first["path"], "error": None, "full": False, "dvc": []}
    full, fast = log_lines()[-2:]
    assert full.pop("time") < fast.pop("time")
    assert full.pop("source").startswith("remote:") and fast.pop("source") == "cache"
    assert full == fast  # same registry, uri, sha256, manifest digest, user
    # the CLI answers the same path, from the memo too (only `get`'s parser is built)
    res = run_pedata("get", f"{PEOPLE}@latest", cwd=clone)
    assert res.ok and res.stdout.strip() == first["path"], res
    cli = (
        "import sys\nfrom dvc_pedata.cli import main\n"
        f"rc = main(['get', {PEOPLE + '@latest'!r}])\n"
        "print(rc, 'dvc_pedata.resolver.resolve' in sys.modules, 'dvc_pedata.cli.cmd_publish' in sys.modules)\n"
    )
    out = run([sys.executable, "-c", cli], cwd=clone).stdout.splitlines()
    assert out == [first["path"], "0 False False"], out
    # --json needs the full resolution record: the full path answers it
    res = run_pedata("get", f"{PEOPLE}@latest", "--json", cwd=clone)
    assert res.ok and json.loads(res.stdout)["source"] == "cache", res


def test_a_promotion_a_tombstone_and_a_damaged_memo_all_reach_the_resolver(published, clone):
    assert probe(f"{PEOPLE}@latest", clone)["error"] is None
    assert not probe(f"{PEOPLE}@latest", clone)["full"]

    # The channel moves back to bytes A: the memo no longer holds, the resolver answers A.
    old = run(["git", "show", "snap-1:channels/us/latest.json"], cwd=clone).stdout
    (clone / "channels/us/latest.json").write_text(old)
    moved = probe(f"{PEOPLE}@latest", clone)
    assert moved["full"] and moved["path"].endswith(published.people_a[2:]), moved
    assert not probe(f"{PEOPLE}@latest", clone)["full"]

    # A tombstone appears for A: refused, although the bytes are cached and a memo says yes.
    tomb = {"signed": {"kind": "tombstone", "schema_version": 1, "artifact_sha256": published.people_a,
                       "reason": "licence withdrawn", "authority": "US Census Bureau", "date": "2025-03-01T00:00:00Z"},
            "signatures": []}
    (clone / "tombstones" / f"{published.people_a}.json").write_text(json.dumps(tomb))
    refused = probe(f"{PEOPLE}@latest", clone)
    assert refused["path"] is None and refused["error"].startswith("RevokedError:") and "licence withdrawn" in refused["error"]
    res = run_pedata("get", f"{PEOPLE}@latest", "--offline", cwd=clone)
    assert_one_line_error(res, "revoked", "licence withdrawn")
    assert res.returncode == 4

    # A damaged memo is a miss, never an error.
    (clone / "tombstones" / f"{published.people_a}.json").unlink()
    run(["git", "checkout", "-q", "--", "channels/us/latest.json"], cwd=clone)
    assert probe(f"{PEOPLE}@latest", clone)["error"] is None
    memos = list((Path(os.environ["PEDATA_CACHE_DIR"]) / "warm").iterdir())
    assert memos
    for m in memos:
        m.write_bytes(b"\x00garbage")
    again = probe(f"{PEOPLE}@latest", clone)
    assert again["full"] and again["error"] is None and again["path"].endswith(published.people_b[2:])


def test_purged_bytes_are_fetched_again_not_answered_from_the_memo(published, clone):
    first = probe(f"{PEOPLE}@latest", clone)
    obj = Path(first["path"])
    obj.chmod(0o644)
    obj.unlink()
    again = probe(f"{PEOPLE}@latest", clone)
    assert again["full"] and again["path"] == first["path"] and obj.is_file()


@pytest.fixture(scope="module")
def signed(published, tmp_path_factory):
    return build_signed(published, tmp_path_factory.mktemp("signed"))


def test_signed_refs_recheck_the_trust_root_and_honour_expiry(published, signed, tmp_path):
    clone = tmp_path / "sclone"
    run(["git", "clone", "-q", str(signed.path), str(clone)], cwd=tmp_path)
    for uri, pin in ((f"{PEOPLE}@v1.0.0", ""), (f"{PEOPLE}@next", signed.root1_digest)):
        first, second = probe(uri, clone, pin), probe(uri, clone, pin)
        assert first["full"] and first["error"] is None, first
        assert (second["full"], second["error"], second["path"]) == (False, None, first["path"])

    # A new (unsigned, so invalid) root version appears: the signed refs go back to the resolver.
    root2 = json.loads((clone / "trust/root/1.json").read_text())
    root2["signed"]["version"] = 2
    (clone / "trust/root/2.json").write_text(json.dumps(root2))
    refused = probe(f"{PEOPLE}@v1.0.0", clone)
    assert refused["full"] and refused["error"].startswith("TrustError:"), refused
    (clone / "trust/root/2.json").unlink()

    # The retired release's warning is repeated by a memo hit, on stderr.
    for _ in range(2):
        out = run([sys.executable, "-c", PROBE, f"{PEOPLE}@v1.1.0", str(clone), ""], cwd=clone)
        assert out.stderr.strip() == "pedata: warning: release us@v1.1.0 is retired: status retired"

    # A memo whose expiry (the channel's or the root's) has passed is never used.
    assert not probe(f"{PEOPLE}@v1.0.0", clone)["full"]
    for memo in (Path(os.environ["PEDATA_CACHE_DIR"]) / "warm").iterdir():
        rec = marshal.loads(memo.read_bytes())
        rec["not_after"] = time.time() - 1
        memo.write_bytes(marshal.dumps(rec))
    assert probe(f"{PEOPLE}@v1.0.0", clone)["full"]


def test_json_string_matches_json_dumps():
    from dvc_pedata.resolver.warm import access_line, json_string

    for text in ("plain", 'quo"te', "back\\slash", "tab\tnl\ncr\r", "\x00\x1f\x7f", "émile ☃ 𝄞", ""):
        assert json_string(text) == json.dumps(text, ensure_ascii=False)
    fields = {"uri": "pedata://us/x@latest", "user": "o'neil \"q\"", "rev": None}
    assert access_line(fields) == (json.dumps(fields, sort_keys=True, ensure_ascii=False) + "\n").encode()
