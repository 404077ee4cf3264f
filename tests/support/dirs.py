"""A registry whose artifact ``local_areas`` is a DVC-tracked folder of small PolicyEngine HDF5 files.

The folder is a real ``dvc.yaml`` stage out (so DVC writes a ``.dir`` object), generated from
``params.json``: ``constituency/E14<nnnnnn>.h5`` in one layout and ``district/D<nnn>.h5`` in a second
layout (one extra variable), plus two byte-identical files (DVC stores them as one object).
``track_times: true`` in the params stamps HDF5 object times into the files (bytes differ per build);
``jitter: REL`` perturbs ``household_weight`` by up to REL relative, differently on each build.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from support.commands import dvc_cmd, run, run_pedata

GEN_H5 = r'''
import json, os, h5py, numpy as np
p = json.load(open("params.json"))
out = "local_areas"
for sub in ("constituency", "district"):
    os.makedirs(f"{out}/{sub}", exist_ok=True)
def write(path, seed, extra):
    rng = np.random.default_rng(seed)
    n = 3 + seed % 5
    with h5py.File(path, "w", track_order=True, libver="latest") as h:
        for name, arr in [("person_id", np.arange(n)), ("household_id", np.arange(2)),
                          ("person_household_id", np.arange(n) % 2), ("age", rng.integers(0, 90, n)),
                          ("household_weight", rng.random(2))] + ([("council_tax", rng.random(2))] if extra else []):
            if name == "household_weight" and p.get("jitter"):  # unseeded: a different rounding each build
                arr = arr * (1 + p["jitter"] * np.random.default_rng().random(arr.shape))
            h.create_dataset(f"{name}/2024", data=arr, track_times=p.get("track_times", False))
bump, extra = p.get("bump", []), p.get("extra", [])
for i in range(p["constituencies"]):
    write(f"{out}/constituency/E14{i:06d}.h5", i + (1001 if i in bump else 0), i in extra)
for i in range(p["districts"]):
    write(f"{out}/district/D{i:03d}.h5", 10_000 + i, True)
if p["districts"]:
    import shutil
    shutil.copyfile(f"{out}/district/D000.h5", f"{out}/district/D000_copy.h5")
'''

DVC_YAML = """stages:
  build:
    cmd: {py} gen_h5.py
    deps: [gen_h5.py, params.json]
    outs: [local_areas]
artifacts:
  local_areas:
    path: local_areas
    type: dataset
    meta: {{pedata: {{namespace: uk, layout: policyengine, licence: CC-BY-4.0}}}}
"""


@dataclass
class DirRegistry:
    origin: Path
    env: dict[str, str]

    def build(self, **params: object) -> None:
        base = {"constituencies": 8, "districts": 2}
        (self.origin / "params.json").write_text(json.dumps({**base, **params}))
        run([*dvc_cmd(), "repro", "-q"], cwd=self.origin, env=self.env)

    def publish(self, *args: str) -> dict:
        res = run_pedata("publish", "--json", *args, cwd=self.origin, env=self.env)
        assert res.ok, res
        run(["git", "add", "-A"], cwd=self.origin)
        run(["git", "commit", "-q", "-m", "publish", "--allow-empty"], cwd=self.origin)
        return json.loads(res.stdout)

    def manifest(self, sha256: str) -> dict:
        return json.loads((self.origin / f"manifests/uk/local_areas/{sha256}.json").read_text())


def make_registry(base: Path, remote=None, config: dict | None = None, **params: object) -> DirRegistry:
    """``pedata init`` a registry (namespace ``uk``), with ``remote`` as the DVC default if given."""
    origin = base / "origin"
    origin.mkdir(parents=True)
    env = {"PEDATA_STORAGE_DIR": str(base / "storage"), "PEDATA_CACHE_DIR": str(base / "publisher-cache"),
           "PEDATA_KEYS_DIR": str(base / "keys")}
    run(["git", "init", "-q", "-b", "main"], cwd=origin)
    # consumers import from clones, which read the remote from the committed config: the folder is
    # declared the shared remote (init's default keeps a machine-local folder in .dvc/config.local)
    assert run_pedata("init", "-n", "uk", "--remote", str(base / "storage" / "origin"), cwd=origin, env=env).ok
    if remote is not None:
        run([*dvc_cmd(), "remote", "remove", "storage"], cwd=origin)
        remote.configure(origin, "storage", default=True)
    if config:
        cfg = json.loads((origin / "pedata.json").read_text())
        cfg.update(config)
        (origin / "pedata.json").write_text(json.dumps(cfg, indent=2))
    (origin / "gen_h5.py").write_text(GEN_H5)
    (origin / "dvc.yaml").write_text(DVC_YAML.format(py=sys.executable))
    reg = DirRegistry(origin, env)
    reg.build(**params)
    run(["git", "add", "-A"], cwd=origin)
    run(["git", "commit", "-q", "-m", "pipeline"], cwd=origin)
    return reg


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def storage_dir(reg: DirRegistry) -> Path:
    """The local DVC remote folder ``pedata init`` made."""
    return next((Path(reg.env["PEDATA_STORAGE_DIR"])).iterdir())


def object_path(storage: Path, md5: str) -> Path:
    return storage / "files" / "md5" / md5[:2] / md5[2:]


def snippet() -> str:
    """The standard-library digest snippet, taken from docs/directory-artifacts.md as published."""
    doc = (Path(__file__).resolve().parents[2] / "docs/directory-artifacts.md").read_text()
    block = doc.split("<!-- snippet: directory-digest -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    return block


def snippet_digest(folder: Path) -> str:
    proc = run([sys.executable, "-I", "-c", snippet(), str(folder)], cwd=folder.parent)
    return proc.stdout.strip()


def latest_pin(reg: DirRegistry) -> dict:
    return json.loads((reg.origin / "channels/uk/latest.json").read_text())["signed"]["artifacts"]["local_areas"]


def sign_release(origin: Path, keys: Path, version: str, pins: dict, status: str = "certified") -> None:
    """A certified release written with the Python API (as tests/test_verify.py does)."""
    from dvc_pedata.model.documents import Release, new_body
    from dvc_pedata.trust.keys import load_signer
    from dvc_pedata.trust.signing import sign

    body = new_body(
        "release", namespace="uk", version=version, status=status, compat_mode="both",
        notice={"type": "release", "summary": f"local areas {version}", "date": "2025-01-01"},
        pins=pins, source_channel=None, certified_for=None, previous=None, expires=None,
    )
    doc = Release(body, [])
    sign(doc, load_signer(str(keys / "alice.key")))
    (origin / "releases/uk").mkdir(parents=True, exist_ok=True)
    (origin / f"releases/uk/{version}.json").write_bytes(doc.to_bytes())


def trust_init(reg: DirRegistry) -> Path:
    """alice holds every role (root 1, never expires); returns the keys folder."""
    keys = Path(reg.env["PEDATA_KEYS_DIR"])
    env = reg.env
    for args in (("key", "generate", "alice"), ("trust", "init", "--root", "alice", "--expires", "never")):
        res = run_pedata(*args, cwd=reg.origin, env=env)
        assert res.ok, (args, res)
    return keys


def write_tombstone(origin: Path, keys: Path, sha256: str, reason: str = "licence withdrawn") -> None:
    """A signed tombstone written with the Python API (until ``pedata revoke`` lands in main)."""
    from dvc_pedata.model.documents import Tombstone, new_body
    from dvc_pedata.trust.keys import load_signer
    from dvc_pedata.trust.signing import sign

    doc = Tombstone(new_body("tombstone", artifact_sha256=sha256, reason=reason, authority="ONS",
                             date="2025-02-01T00:00:00Z"), [])
    sign(doc, load_signer(str(keys / "alice.key")))
    (origin / "tombstones").mkdir(exist_ok=True)
    (origin / f"tombstones/{sha256}.json").write_bytes(doc.to_bytes())


def certify(reg: DirRegistry, version: str = "2.0.0") -> None:
    """``pedata promote`` latest to next, then ``pedata certify`` (signs, commits, tags uk/v<version>)."""
    res = run_pedata("promote", "uk", "--sign", "alice", "--no-commit", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    run(["git", "commit", "-q", "-m", "promote uk next"], cwd=reg.origin)
    res = run_pedata("certify", "uk", version, "--sign", "alice", "--notice", f"local areas {version}", cwd=reg.origin, env=reg.env)
    assert res.ok, res
