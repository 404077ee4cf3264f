"""Broken files a registry's users commit: one line naming the file, never a traceback (issue 17).

``pedata publish`` with a dvc.yaml or dvc.lock that DVC cannot read or that declares nonsense, and
``pedata site`` over a manifest that is valid JSON but no manifest at all. The real CLI in a
subprocess on a copy of the example registry; after each case the good file comes back and the
command works again (nothing was lost or half-written).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.commands import assert_one_line_error, run, run_pedata
from support.example import make_example


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Path:
    return make_example(tmp_path_factory.mktemp("broken"))


@pytest.fixture
def registry(example, tmp_path) -> Path:
    repo = tmp_path / "registry"
    shutil.copytree(example, repo, symlinks=True)
    return repo


def _artifacts_as_list(text: str) -> str:
    return text[: text.index("artifacts:")] + "artifacts:\n  - enhanced_cps_2024\n"


def _meta_pedata_5(text: str) -> str:
    start = text.index("      pedata:\n")
    end = text.index("  us_microdata_2024:")
    return text[:start] + "      pedata: 5\n" + text[end:]


CASES = [
    ("dvc.yaml", lambda t: "stages: [\n", "unable to read: 'dvc.yaml', YAML file structure is corrupted"),
    ("dvc.yaml", _artifacts_as_list, "'./dvc.yaml' validation failed: expected a dictionary for dictionary value @ data['artifacts']"),
    ("dvc.yaml", lambda t: t + "\udcff", "unable to read: 'dvc.yaml', is not valid utf-8"),
    ("dvc.yaml", _meta_pedata_5, "dvc.yaml: artifact 'enhanced_cps_2024': meta.pedata must be a mapping (namespace:, licence:, …), not int 5"),
    ("dvc.lock", lambda t: "schema: [\n", "unable to read: 'dvc.lock', YAML file structure is corrupted"),
    ("dvc.lock", lambda t: t + "\udcff", "unable to read: 'dvc.lock', is not valid utf-8"),
    ("dvc.lock", lambda t: 'schema: "2.0"\nstages: 5\n', "'./dvc.lock' validation failed"),
]


@pytest.mark.parametrize("name, edit, why", CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_publish_with_a_broken_dvc_file_is_one_line_naming_it(registry, name, edit, why):
    path = registry / name
    good = path.read_bytes()
    before = run(["git", "status", "--porcelain"], cwd=registry).stdout
    path.write_bytes(edit(good.decode()).encode("utf-8", "surrogateescape"))
    res = run_pedata("publish", cwd=registry)
    assert_one_line_error(res, why)
    path.write_bytes(good)
    assert run(["git", "status", "--porcelain"], cwd=registry).stdout == before  # nothing written
    res = run_pedata("publish", cwd=registry)
    assert res.ok, res


@pytest.mark.parametrize("body", ["[]\n", '{"digest": 5, "path": "x"}\n', '{"digest": {"sha256": 5}, "path": ["x"]}\n', '"text"\n'])
def test_site_over_a_malformed_manifest_warns_naming_it_and_builds_the_rest(registry, tmp_path, body):
    manifest = next((registry / "manifests/us/enhanced_cps_2024").glob("*.json"))
    rel = manifest.relative_to(registry).as_posix()
    manifest.write_text(body)
    res = run_pedata("site", "-o", str(tmp_path / "site"), cwd=registry)
    assert res.ok and "Traceback" not in res.stderr, res
    assert res.stderr.startswith(f"pedata: warning: {rel}: fails the manifest schema"), res.stderr
    assert (tmp_path / "site/index.html").is_file()
