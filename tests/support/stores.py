"""A published, trusted registry with a certified release, for revoke / fsck / gc / mirror tests.

Real git, real DVC (a two-output pipeline), the real ``pedata publish``, ``promote`` and
``certify``; the trust root is written with the Python API (alice: every role; carol: revoker
only; bob: promoter only).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.commands import dvc_cmd, run, run_pedata

GEN = """import random, sys
random.seed(open(sys.argv[2]).read().strip())
open(sys.argv[1], 'wb').write(random.randbytes(int(sys.argv[3])))
"""


@dataclass
class Store:
    root: Path
    storage: Path  # the local DVC remote folder ("storage")
    env: dict[str, str]

    def pedata(self, *args: str, env: dict[str, str] | None = None):
        return run_pedata(*args, cwd=self.root, env={**self.env, **(env or {})})

    def doc(self, rel: str) -> dict:
        return json.loads((self.root / rel).read_text())

    def pin(self, name: str, channel: str = "latest") -> dict:
        return self.doc(f"channels/us/{channel}.json")["signed"]["artifacts"][name]

    def md5(self, sha256: str) -> str:
        path = next((self.root / "manifests").glob(f"us/*/{sha256}.json"))
        return json.loads(path.read_text())["digest"]["md5"]

    def object(self, storage: Path, sha256: str) -> Path:
        md5 = self.md5(sha256)
        return storage / "files" / "md5" / md5[:2] / md5[2:]

    def commit(self, msg: str) -> None:
        run(["git", "add", "-A"], cwd=self.root)
        run(["git", "commit", "-qm", msg], cwd=self.root)

    def rebuild(self, seed: str) -> None:
        (self.root / "seed_people.txt").write_text(seed + "\n")
        run([*dvc_cmd(), "repro", "-q"], cwd=self.root, env=self.env)
        res = self.pedata("publish")
        assert res.ok, res.stderr
        self.commit(f"publish {seed}")


def build_store(base: Path) -> Store:
    from dvc_pedata.registry.repo import Registry
    from dvc_pedata.trust import keys
    from dvc_pedata.trust import root as trust

    root = base / "registry"
    root.mkdir(parents=True)
    env = {"PEDATA_STORAGE_DIR": str(base / "storage")}
    run(["git", "init", "-q", "-b", "main"], cwd=root)
    assert run_pedata("init", "-n", "us", cwd=root, env=env).ok
    (root / "gen.py").write_text(GEN)
    (root / "seed_people.txt").write_text("A\n")
    (root / "seed_tax.txt").write_text("T\n")
    py = sys.executable
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  people:\n"
        f"    cmd: {py} gen.py people.bin seed_people.txt 5000\n"
        "    deps: [gen.py, seed_people.txt]\n"
        "    outs: [people.bin]\n"
        "  tax:\n"
        f"    cmd: {py} gen.py tax.bin seed_tax.txt 3000\n"
        "    deps: [gen.py, seed_tax.txt]\n"
        "    outs: [tax.bin]\n"
        "artifacts:\n  people:\n    path: people.bin\n  tax:\n    path: tax.bin\n"
    )
    run([*dvc_cmd(), "repro", "-q"], cwd=root, env=env)
    res = run_pedata("publish", cwd=root, env=env)
    assert res.ok, res.stderr
    for name in ("alice", "bob", "carol"):
        keys.generate(name)
    reg = Registry(root)
    trust.init_root(reg, ["alice"], {"promoter": ["alice", "bob"], "certifier": ["alice"], "revoker": ["alice", "carol"]})
    store = Store(root, next((base / "storage").iterdir()), env)
    store.commit("publish A, trust root")
    res = store.pedata("promote", "us", "--sign", "alice", "--branch", "main-next", "--json")
    assert res.ok, res.stderr
    run(["git", "checkout", "-q", "main"], cwd=root)
    run(["git", "merge", "-q", "--ff-only", "main-next"], cwd=root)
    res = store.pedata("certify", "us", "1.0.0", "--sign", "alice", "--notice", "first release")
    assert res.ok, res.stderr
    return store


def copy_store(template: Store, template_keys: Path, dest: Path) -> Store:
    """A private copy of a built store (registry, its storage, and the keys), cheaper than a rebuild.

    The storage path (in ``.dvc/config.local``, where ``pedata init`` keeps a machine-local
    remote) is absolute, so it is rewritten to the copy's.
    """
    import os
    import shutil

    base = template.root.parent
    shutil.copytree(base, dest, symlinks=True)
    for cfg in (dest / "registry" / ".dvc").glob("config*"):
        cfg.write_text(cfg.read_text().replace(str(base), str(dest)))
    keys_dir = Path(os.environ["PEDATA_KEYS_DIR"])
    shutil.copytree(template_keys, keys_dir, dirs_exist_ok=True)
    storage = dest / template.storage.relative_to(base)
    return Store(dest / "registry", storage, {"PEDATA_STORAGE_DIR": str(dest / "storage")})


@pytest.fixture(scope="session")
def store_template(tmp_path_factory):
    """Built once: keys go to the template's own folder, copied into each test's key folder."""
    base = tmp_path_factory.mktemp("store-template")
    keys = base / "keys"
    import os

    old = os.environ.get("PEDATA_KEYS_DIR")
    os.environ["PEDATA_KEYS_DIR"] = str(keys)
    try:
        store = build_store(base / "t")
    finally:
        if old is None:
            del os.environ["PEDATA_KEYS_DIR"]
        else:
            os.environ["PEDATA_KEYS_DIR"] = old
    return store, keys


@pytest.fixture
def store(store_template, tmp_path) -> Store:
    return copy_store(*store_template, tmp_path / "copy")
