"""PolicyEngine wheels from the package index, for tests that need their files but cannot install them.

``policyengine-us``, ``policyengine-uk`` and ``policyengine-italy`` pull policyengine-core and
pinned pandas/numpy stacks: installing them beside this project is out of the question, but their
wheels are plain zip files. :func:`wheel_member` downloads a wheel once (``pip download
--no-deps --only-binary :all:``) into ``PEDATA_TEST_WHEELS`` (else ``~/.cache/pedata-tests/wheels``)
and returns one file's bytes from it. :func:`function_source` takes one top-level function (or
one method of a class) from a module's source, so a test can run PolicyEngine's real code for
exactly that function."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path


def wheel_cache() -> Path:
    cache = Path(os.environ.get("PEDATA_TEST_WHEELS") or Path.home() / ".cache" / "pedata-tests" / "wheels")
    cache.mkdir(parents=True, exist_ok=True)
    return cache


def wheel_path(project: str, version: str) -> Path:
    cache = wheel_cache()
    name = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
    wheel = cache / name
    if not wheel.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        f"{project}=={version}", "-d", str(cache)], check=True, capture_output=True, timeout=600)
    return wheel


def wheel_member(project: str, version: str, member: str) -> bytes:
    with zipfile.ZipFile(wheel_path(project, version)) as zf:
        return zf.read(member)


def function_source(module_source: str, name: str, cls: str | None = None) -> str:
    """The source of top-level function ``name`` (or method ``cls.name``), dedented to top level."""
    tree = ast.parse(module_source)
    body = tree.body
    if cls is not None:
        body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    node = next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == name)
    node.decorator_list = []
    return ast.unparse(node)


def constant(module_source: str, name: str) -> object:
    """The value of a top-level ``NAME = <literal>`` assignment."""
    for node in ast.parse(module_source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)
