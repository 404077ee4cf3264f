"""The one-liners of docs/policyengine.md, run against PolicyEngine's real functions.

``policyengine-us`` 2.2.1 and ``policyengine-uk`` 2.151.0 are too heavy to install here
(policyengine-core, pinned pandas and numpy, large parameter trees), so their wheels are fetched
once (tests/support/pe_wheels.py) and the functions that decide what ``dataset=`` and
``POLICYENGINE_UK_DEFAULT_DATASET`` accept are taken from the wheels' source and run as they are:
US ``system._resolve_dataset_path``, UK ``simulation.get_default_dataset_url`` and
``Simulation.build_from_dataset_source``. The UK method is called with a recorder as ``self``:
only the builders it dispatches to (``build_from_file`` / ``build_from_url``, which would load the
data into a simulation) are stood in for, to see which one it picks. The documented lines are read
from the docs and run with this test's release URI in place of the example one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.pe_wheels import constant, function_source, wheel_member
from test_policyengine_seed import released  # noqa: F401 - fixture: a certified release us@1.0.0

import dvc_pedata
from dvc_pedata.base.hashing import hash_file

DOCS = (Path(__file__).resolve().parents[1] / "docs" / "policyengine.md").read_text()
US_URI = "pedata://us/populace_us_2024@v2.2.1"  # the docs' example URIs
UK_URI = "pedata://uk/enhanced_frs_2024_25@v1.58.1"
OURS = "pedata://us/micro@v1.0.0"


def doc_line(fragment: str) -> str:
    """The documented one-liner containing ``fragment`` (from the table's second column)."""
    for row in DOCS.splitlines():
        cells = [c.strip().strip("`") for c in row.split("|")]
        if len(cells) > 2 and fragment in cells[2]:
            return cells[2]
    raise AssertionError(f"docs/policyengine.md has no one-liner with {fragment!r}")


def pinned(repo: Path) -> str:
    """The sha256 release us@1.0.0 pins for micro."""
    return json.loads((repo / "releases/us/1.0.0.json").read_text())["signed"]["pins"]["micro"]["sha256"]


@pytest.fixture(scope="module")
def us_system() -> str:
    return wheel_member("policyengine-us", "2.2.1", "policyengine_us/system.py").decode()


@pytest.fixture(scope="module")
def uk_sources() -> tuple[str, str]:
    sim = wheel_member("policyengine-uk", "2.151.0", "policyengine_uk/simulation.py").decode()
    tbs = wheel_member("policyengine-uk", "2.151.0", "policyengine_uk/tax_benefit_system.py").decode()
    return sim, tbs


def test_us_microsimulation_dataset_one_liner(released, us_system, monkeypatch):  # noqa: F811
    line = doc_line(US_URI).replace(US_URI, OURS)
    assert line == f'Microsimulation(dataset=str(dvc_pedata.get_path("{OURS}")))'
    monkeypatch.chdir(released)
    # the argument exactly as the line computes it
    argument = eval(re.fullmatch(r"Microsimulation\(dataset=(.*)\)", line).group(1), {"dvc_pedata": dvc_pedata})
    assert isinstance(argument, str)
    ns: dict = {"Path": Path}
    exec(function_source(us_system, "_resolve_dataset_path"), ns)  # policyengine-us's own code
    assert ns["_resolve_dataset_path"](argument) == argument  # an existing local path is used as is
    assert hash_file(Path(argument)).sha256 == pinned(released)
    # why str(): policyengine-us intercepts only str; the function cannot take a Path at all
    with pytest.raises(AttributeError):
        ns["_resolve_dataset_path"](Path(argument))
    assert "if dataset is not None and isinstance(dataset, str):" in us_system


class Recorder:
    """``self`` for Simulation.build_from_dataset_source: records the builder it dispatches to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def build_from_file(self, path, **_):  # noqa: ANN001
        self.calls.append(("build_from_file", path))

    def build_from_url(self, url):  # noqa: ANN001
        self.calls.append(("build_from_url", url))

    def _dataset_cache_key(self, source):  # noqa: ANN001
        return None


def uk_functions(uk_sources: tuple[str, str]) -> dict:
    sim, tbs = uk_sources
    ns: dict = {"os": os, "DEFAULT_DATASET_ENV_VAR": constant(tbs, "DEFAULT_DATASET_ENV_VAR"),
                "Union": object, "_url_dataset_cache": {}}
    exec(function_source(sim, "get_default_dataset_url"), ns)
    exec(function_source(sim, "build_from_dataset_source", cls="Simulation"), ns)
    return ns


def test_uk_default_dataset_shell_one_liner(released, uk_sources):  # noqa: F811
    line = doc_line("POLICYENGINE_UK_DEFAULT_DATASET=").replace(UK_URI, OURS)
    assert line == f'export POLICYENGINE_UK_DEFAULT_DATASET="$(pedata get {OURS})"'
    probe = (
        "import os, sys, json\n"
        "from support.pe_wheels import constant, function_source, wheel_member\n"
        "from test_policyengine_entrypoints import Recorder, uk_functions\n"
        "ns = uk_functions((wheel_member('policyengine-uk', '2.151.0', 'policyengine_uk/simulation.py').decode(),"
        " wheel_member('policyengine-uk', '2.151.0', 'policyengine_uk/tax_benefit_system.py').decode()))\n"
        "url = ns['get_default_dataset_url']()\n"
        "rec = Recorder(); ns['build_from_dataset_source'](rec, url)\n"
        "print(json.dumps(rec.calls))\n"
    )
    tests = str(Path(__file__).parent)
    script = f'{line}\n"{sys.executable}" -c "$PROBE"\n'
    env = {**os.environ, "PROBE": probe, "PYTHONPATH": os.pathsep.join([tests, os.environ["PYTHONPATH"]])}
    env.pop("POLICYENGINE_UK_DEFAULT_DATASET", None)
    proc = subprocess.run(["bash", "-euc", script], cwd=released, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    [[builder, path]] = json.loads(proc.stdout)
    assert builder == "build_from_file" and Path(path).is_file()
    assert hash_file(Path(path)).sha256 == pinned(released)


def test_uk_dataset_argument_and_why_not_a_pedata_uri(released, uk_sources, monkeypatch):  # noqa: F811
    line = doc_line(UK_URI + '")))').replace(UK_URI, OURS)
    monkeypatch.chdir(released)
    argument = eval(re.fullmatch(r"Microsimulation\(dataset=(.*)\)", line).group(1), {"dvc_pedata": dvc_pedata})
    ns = uk_functions(uk_sources)
    rec = Recorder()
    ns["build_from_dataset_source"](rec, argument)
    assert rec.calls == [("build_from_file", argument)]
    with pytest.raises(ValueError, match="Only HuggingFace, Google Cloud Storage, and local dataset sources"):
        ns["build_from_dataset_source"](Recorder(), OURS)  # a pedata:// URI is refused: pass the path
    monkeypatch.delenv("POLICYENGINE_UK_DEFAULT_DATASET", raising=False)
    with pytest.raises(ValueError, match="POLICYENGINE_UK_DEFAULT_DATASET"):
        ns["get_default_dataset_url"]()
