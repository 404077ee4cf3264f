"""Build a small copy of the project's example registry and certify a release of it.

The pipeline files (dvc.yaml, params.yaml, pipeline/generate.py) are the real ones from the top of
this checkout, with a small ``households`` so a real ``dvc repro`` takes about a second. The
release is created with the Python API (Release + signing.sign + an annotated tag
``<ns>/v<version>`` whose message names the release digest), as a certifier would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dvc_pedata.model.documents import Release, new_body
from dvc_pedata.publish.locks import lock
from dvc_pedata.publish.publish import publish
from dvc_pedata.registry.init import init
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust import keys, signing
from dvc_pedata.trust import root as trust
from support.commands import ROOT, commit, run


def set_params(repo: Path, **values: object) -> None:
    text = (repo / "params.yaml").read_text()
    lines = []
    for line in text.splitlines():
        key = line.strip().split(":", 1)[0]
        if line.startswith("  ") and key in values:
            v = values[key]
            line = f"  {key}: {str(v).lower() if isinstance(v, bool) else v}"
        lines.append(line)
    (repo / "params.yaml").write_text("\n".join(lines) + "\n")


def make_example(tmp: Path, *, households: int = 200, deterministic_h5: bool = True, before_repro=None) -> Path:
    """A registry with the example pipeline, built, locked, published and committed."""
    repo = tmp / "registry"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    for rel in ("dvc.yaml", "params.yaml", "pipeline/generate.py"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, repo / rel)
    set_params(repo, households=households, deterministic_h5=deterministic_h5)
    init(repo, str(tmp / "storage"), ["us"])  # setup in-process: the CLI is what the tests assert on
    if before_repro is not None:
        before_repro(repo)
    run(["dvc", "repro", "-q"], cwd=repo)
    lock(repo)
    commit(repo, "pipeline, built and locked")
    publish(root=repo)
    commit(repo, "publish")
    return repo


def certify(repo: Path, version: str = "1.0.0", ns: str = "us") -> str:
    """Sign a certified release of channel latest and tag it; returns the tagged commit."""
    reg = Registry(repo)
    if not reg.root_versions():
        keys.generate("certifier")
        trust.init_root(reg, ["certifier"], {"promoter": ["certifier"], "certifier": ["certifier"], "revoker": ["certifier"]})
    ch = reg.load_channel(ns, "latest")
    assert ch is not None
    body = new_body(
        "release", namespace=ns, version=version, status="certified", compat_mode="both",
        notice={"type": "release", "summary": f"{ns} {version}", "date": "2026-01-01"}, pins=dict(ch.artifacts),
        source_channel={"name": "latest", "version": ch.version, "digest": ch.digest},
        certified_for=None, previous=None, expires=None,
    )
    rel = Release(body, [])
    signing.sign(rel, keys.load_signer("certifier"))
    rel.save(reg.release_path(ns, version))
    sha = commit(repo, f"certify {ns} {version}")
    # the message as `pedata certify` writes it (docs/releases.md): replay follows no other tag
    message = (f"pedata release {ns}@{version}\n\nfile: releases/{ns}/{version}.json\n"
               f"release-digest: sha256:{rel.digest}\n")
    run(["git", "tag", "-a", "-m", message, f"{ns}/v{version}", sha], cwd=repo)
    return sha


def pins(repo: Path, version: str = "1.0.0", ns: str = "us") -> dict:
    return json.loads((repo / "releases" / ns / f"{version}.json").read_text())["signed"]["pins"]
