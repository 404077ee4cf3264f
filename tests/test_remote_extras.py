"""A registry whose DVC remote needs a plugin that is not installed: one line naming what to install.

``dvc-azure`` is really absent from the test environment. ``dvc-s3`` is installed (the S3 tests
need it), so its absence is made real for one subprocess: a ``dvc_s3`` package earlier on
``PYTHONPATH`` that fails to import, exactly what DVC's filesystem registry sees when the plugin
was never installed.
"""

from __future__ import annotations

import os
import sys

import pytest
from support.commands import ROOT, assert_one_line_error, dvc_cmd, run, run_pedata


@pytest.fixture
def registry(tmp_path):
    reg = tmp_path / "reg"
    reg.mkdir()
    env = {"PEDATA_STORAGE_DIR": str(tmp_path / "storage")}
    run(["git", "init", "-q", "-b", "main"], cwd=reg)
    assert run_pedata("init", "-n", "us", cwd=reg, env=env).ok
    (reg / "x.txt").write_text("hello\n")
    (reg / "dvc.yaml").write_text(
        f"stages:\n  x:\n    cmd: {sys.executable} -c \"open('out.txt','w').write(open('x.txt').read())\"\n"
        "    deps: [x.txt]\n    outs: [out.txt]\nartifacts:\n  x:\n    path: out.txt\n"
    )
    run([*dvc_cmd(), "repro", "-q"], cwd=reg, env=env)
    assert run_pedata("publish", cwd=reg, env=env).ok
    run(["git", "add", "-A"], cwd=reg)
    run(["git", "commit", "-q", "-m", "publish"], cwd=reg)
    return reg


def use_remote(reg, name: str, url: str) -> None:
    run([*dvc_cmd(), "remote", "add", "-d", name, url], cwd=reg)
    cfg = (reg / "pedata.json").read_text().replace('"remote": "storage"', f'"remote": "{name}"')
    (reg / "pedata.json").write_text(cfg)
    run(["git", "commit", "-q", "-am", f"remote {name}"], cwd=reg)


def test_missing_azure_plugin(registry):
    use_remote(registry, "az", "azure://container/path")
    res = run_pedata("get", "pedata://us/x@latest", cwd=registry)
    assert_one_line_error(res, "azure remote", "dvc-azure is not installed: pip install dvc-azure")


def test_missing_s3_extra_names_pedatas_extra(registry, tmp_path):
    shadow = tmp_path / "shadow"
    (shadow / "dvc_s3").mkdir(parents=True)
    (shadow / "dvc_s3" / "__init__.py").write_text("raise ImportError(\"No module named 'dvc_s3'\")\n")
    use_remote(registry, "s3r", "s3://bucket/path")
    env = {"PYTHONPATH": os.pathsep.join([str(shadow), str(ROOT)])}
    res = run_pedata("get", "pedata://us/x@latest", cwd=registry, env=env)
    assert_one_line_error(res, "s3 remote", "dvc-s3 is not installed: pip install 'dvc-pedata[s3]'")
    res = run_pedata("publish", cwd=registry, env=env)
    assert_one_line_error(res, "pip install 'dvc-pedata[s3]'")
