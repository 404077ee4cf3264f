"""``pedata verify --base B`` (only what changed since B) gives the verdict a full verify gives.

Every test of test_verify.py runs again here with each ``pedata verify`` it makes run three ways:
as written, with ``--full`` (the whole tree, same history window) and with ``--base B`` where B is
the newest first-parent commit that a full verify passes in a clean checkout (what CI verified on
main). The three must agree: exit code, and the files the violations name. test_trust.py runs no
``pedata verify`` (its tampering cases are unit checks of the root chain, which both modes run the
same way on every root); its root attacks through the CLI are test_verify's root cases.

Below them, the attacks scoping could miss: a swapped manifest under an unchanged pin, a deleted
manifest, a stray companion file, a forged tombstone, a moved release tag, a temp file, all
against a verified base, and the cost: a one-manifest change reads one manifest.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import test_verify
from support import commands as conftest
from support import forge
from support.commands import commit, run
from support.forge import add_manifest, write_channel
from test_verify import *  # noqa: F403 - the tampering cases, collected again under both modes

from dvc_pedata.model.documents import Release, new_body
from dvc_pedata.releases.catalog import tag_message
from dvc_pedata.trust import keys, signing

_real = conftest.run_pedata
_clean: dict[str, str | None] = {}


def _clean_base(repo: Path, env: dict | None) -> str | None:
    """The newest first-parent commit whose clean checkout passes a full verify (CI's verified base)."""
    head = run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repo, check=False).stdout.strip()
    if not head:
        return None
    if head not in _clean:
        _clean[head] = None
        for c in run(["git", "rev-list", "--first-parent", "-n", "6", "HEAD"], cwd=repo).stdout.split():
            wt = Path(tempfile.mkdtemp(prefix="verify-base-")) / "wt"
            run(["git", "worktree", "add", "-q", "--detach", str(wt), c], cwd=repo)
            try:
                ok = _real("verify", "--full", cwd=wt, env=env).returncode == 0
            finally:
                run(["git", "worktree", "remove", "--force", str(wt)], cwd=repo)
                shutil.rmtree(wt.parent, ignore_errors=True)
            if ok:
                _clean[head] = c
                break
    return _clean[head]


def _files(res: conftest.Result) -> set[str] | None:
    try:
        return {v["file"] for v in json.loads(res.stdout)["violations"]}
    except ValueError:
        return None


def both_modes(*args: str, cwd: Path, env: dict | None = None, **kw):
    res = _real(*args, cwd=cwd, env=env, **kw)
    if not args or args[0] != "verify" or "--full" in args or "--remote" in args:
        return res
    full = _real(*args, "--full", cwd=cwd, env=env, **kw)
    rest = list(args[1:])
    if "--base" in rest:
        i = rest.index("--base")
        del rest[i:i + 2]
    runs = {"as written": res, "--full": full}
    base = _clean_base(Path(cwd), env)
    if base is not None:
        runs[f"--base {base[:10]}"] = _real("verify", *rest, "--base", base, cwd=cwd, env=env, **kw)
    codes = {k: r.returncode for k, r in runs.items()}
    assert len(set(codes.values())) == 1, (args, codes, {k: r.stdout + r.stderr for k, r in runs.items()})
    if "--json" in args:
        files = {k: _files(r) for k, r in runs.items()}
        assert len({frozenset(f or ()) for f in files.values()}) == 1, (args, files)
    both_modes.calls += 1  # type: ignore[attr-defined]
    return res


both_modes.calls = 0  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _every_verify_in_both_modes(monkeypatch, request):
    if request.node.function.__module__ == test_verify.__name__:
        before = both_modes.calls  # type: ignore[attr-defined]
        monkeypatch.setattr(test_verify, "run_pedata", both_modes)
        monkeypatch.setattr(forge, "run_pedata", both_modes)  # forge.cli runs `pedata verify` for test_verify
        yield
        assert both_modes.calls > before, "the case ran no pedata verify"  # type: ignore[attr-defined]
    else:
        yield


# -- attacks aimed at the scoping itself -----------------------------------------------------------
def verify_both(repo: Path, base: str) -> tuple[tuple[int, list[str]], tuple[int, list[str]]]:
    out = []
    for extra in ([], ["--base", base]):
        res = _real("verify", "--json", *extra, cwd=repo)
        assert res.returncode in (0, 1), res.stderr
        out.append((res.returncode, sorted(f"{v['file']}: {v['reason']}" for v in json.loads(res.stdout)["violations"])))
    return out[0], out[1]


@pytest.fixture
def verified(reg):
    """A registry with three manifests, ``latest`` and a signed ``next``; HEAD verified (the base)."""
    pins = {n: add_manifest(reg, "us", n, n.encode()) for n in ("cps", "acs", "puf")}
    write_channel(reg, "us", "latest", pins)
    write_channel(reg, "us", "next", {"cps": pins["cps"]}, ["alice"])
    base = commit(reg.root, "verified base")
    assert _real("verify", cwd=reg.root).ok
    return reg, base, pins


def test_a_one_manifest_change_reads_one_manifest(verified):
    reg, base, _ = verified
    new = add_manifest(reg, "us", "cps", b"cps v2")
    write_channel(reg, "us", "latest", {"cps": new})
    commit(reg.root, "publish cps v2")
    scoped = json.loads(_real("verify", "--json", "--base", base, cwd=reg.root).stdout)
    full = json.loads(_real("verify", "--json", cwd=reg.root).stdout)
    assert scoped["ok"] and full["ok"]
    # the full verify reads all four manifests; the scoped one only the new one (the others held at the base)
    assert (full["checked"]["manifest"], scoped["checked"]["manifest"]) == (4, 1)
    assert scoped["base"] == base


@pytest.mark.parametrize("attack", ["swap", "delete", "stray", "misnamed", "tmp", "tombstone"])
def test_attacks_on_unchanged_documents_are_seen_from_the_base(verified, attack):
    reg, base, pins = verified
    sha = pins["acs"]["sha256"]
    mpath = reg.root / f"manifests/us/acs/{sha}.json"
    if attack == "swap":  # the bytes under a pinned name, re-written (the channel is not touched)
        doc = json.loads(mpath.read_text())
        doc["licence"] = "proprietary"
        mpath.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    elif attack == "delete":
        mpath.unlink()
    elif attack == "stray":
        listing = b"[]"
        (reg.root / f"manifests/us/acs/{hashlib.sha256(listing).hexdigest()}.files.json").write_bytes(listing)
    elif attack == "misnamed":
        shutil.copyfile(mpath, reg.root / f"manifests/us/puf/{sha}.json")
    elif attack == "tmp":
        (reg.root / "manifests/us/acs/.pedata-tmp-123-abc").write_bytes(b"{")
    elif attack == "tombstone":  # revokes bytes no manifest describes, signed by the real revoker key
        from dvc_pedata.model.documents import Tombstone

        evil = hashlib.sha256(b"never published").hexdigest()
        ts = Tombstone(new_body("tombstone", artifact_sha256=evil, reason="x", authority="a", date="2026-01-01T00:00:00Z",
                                purge=None), [])
        signing.sign(ts, keys.load_signer("alice"))
        ts.save(reg.root / f"tombstones/{evil}.json")
    full, scoped = verify_both(reg.root, base)
    assert full[0] == 1 and scoped == full, (full, scoped)
    run(["git", "add", "-A"], cwd=reg.root)  # staged: the index differs from the base, the work tree does not from the index
    full, scoped = verify_both(reg.root, base)
    assert full[0] == 1 and scoped == full, (full, scoped)
    commit(reg.root, f"{attack}, committed")
    full, scoped = verify_both(reg.root, base)
    assert full[0] == 1 and scoped[0] == 1 and set(scoped[1]) <= set(full[1]), (full, scoped)


def _certified_release(reg, pins) -> str:
    rel = Release(new_body("release", namespace="us", version="1.0.0", status="certified", compat_mode="both",
                           notice={"type": "release", "summary": "x", "date": "2026-01-01"}, pins={"cps": pins["cps"]},
                           source_channel=None, certified_for=None, previous=None, expires=None), [])
    signing.sign(rel, keys.load_signer("alice"))
    rel.save(reg.release_path("us", "1.0.0"))
    c = commit(reg.root, "certify 1.0.0")
    run(["git", "tag", "-a", "us/v1.0.0", "-m", tag_message("us", "1.0.0", "releases/us/1.0.0.json", rel.digest), c], cwd=reg.root)
    return c


def test_a_moved_release_tag_is_seen_though_no_file_changed(verified):
    reg, _, pins = verified
    _certified_release(reg, pins)
    write_channel(reg, "us", "latest", {"cps": add_manifest(reg, "us", "cps", b"cps v2")})
    base = commit(reg.root, "later work")
    assert _real("verify", cwd=reg.root).ok
    msg = run(["git", "tag", "-l", "--format=%(contents)", "us/v1.0.0"], cwd=reg.root).stdout
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", msg, base], cwd=reg.root)  # re-pointed at a later commit
    full, scoped = verify_both(reg.root, base)
    assert full[0] == 1 and scoped == full
    assert any("tag us/v1.0.0 moved" in p for p in scoped[1]), scoped
    # the same tag at the right commit with a message naming another digest
    first = run(["git", "rev-list", "-n", "1", "HEAD~1"], cwd=reg.root).stdout.strip()
    run(["git", "tag", "-f", "-a", "us/v1.0.0", "-m", tag_message("us", "1.0.0", "releases/us/1.0.0.json", "0" * 64), first], cwd=reg.root)
    full, scoped = verify_both(reg.root, base)
    assert full[0] == 1 and scoped == full and any("names release digest 000000000000" in p for p in scoped[1]), scoped


def test_verify_help_names_the_modes():
    res = _real("verify", "--help", cwd=Path("."))
    assert res.ok and "--full" in res.stdout and "verified commit" in res.stdout
