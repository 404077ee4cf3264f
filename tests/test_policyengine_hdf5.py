"""PolicyEngine's real HDF5 layout: the template dataset ``policyengine-italy`` ships
(``policyengine_it/data/storage/country_template_dataset.h5``: ids and links under ``eternity``,
``household_weight/2022``, ``salary/2022-01``) publishes with ``layout: policyengine`` through the
real CLI and DVC pipeline; its manifest names the entities, the ``eternity`` ids and each
variable's periods exactly as h5py reports them; ``pedata schema`` prints the periods.

The wheel is fetched from the package index once (tests/pe_wheels.py: ``pip download --no-deps``
into a cache folder): installing it would pull policyengine-core and an old pandas, and only its
data file is needed."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from support.commands import ROOT, run, run_pedata
from support.pe_wheels import wheel_member

from dvc_pedata.sidecar.pe_periods import is_period

MEMBER = "policyengine_it/data/storage/country_template_dataset.h5"


@pytest.fixture(scope="session")
def template_h5(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("it") / "country_template_dataset.h5"
    out.write_bytes(wheel_member("policyengine-italy", "0.16.3", MEMBER))
    return out


def h5py_layout(path: Path) -> dict[str, dict[str, tuple[int, ...]]]:
    """{variable: {period: shape}} as h5py reports the file."""
    found: dict[str, dict[str, tuple[int, ...]]] = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            var, _, period = name.rpartition("/")
            found.setdefault(var, {})[period] = obj.shape

    with h5py.File(path, "r") as fh:
        fh.visititems(visit)
    return found


DVC_YAML = """
stages:
  copy:
    cmd: python -c "import shutil; shutil.copyfile('template.h5', 'it.h5')"
    deps: [template.h5]
    outs: [it.h5]
artifacts:
  template:
    path: it.h5
    type: dataset
    meta: {pedata: {namespace: it, layout: policyengine}}
"""


def test_real_template_publishes_with_policyengine_layout(template_h5, git_repo, tmp_path, monkeypatch):
    layout = h5py_layout(template_h5)
    assert layout == {"household_id": {"eternity": (2,)}, "household_weight": {"2022": (2,)},
                      "person_household_id": {"eternity": (3,)}, "person_household_role": {"eternity": (3,)},
                      "person_id": {"eternity": (3,)}, "salary": {"2022-01": (3,)}}  # the file as shipped
    monkeypatch.setenv("PEDATA_STORAGE_DIR", str(tmp_path / "storage"))
    repo = git_repo
    assert run_pedata("init", "-n", "it", cwd=repo).ok
    (repo / "template.h5").write_bytes(template_h5.read_bytes())
    (repo / "dvc.yaml").write_text(DVC_YAML)
    run(["dvc", "repro", "-q"], cwd=repo)
    res = run_pedata("publish", "--json", cwd=repo)
    assert res.ok, res.stderr
    sha = json.loads((repo / "channels/it/latest.json").read_text())["signed"]["artifacts"]["template"]["sha256"]
    m = json.loads((repo / f"manifests/it/template/{sha}.json").read_text())
    s = m["schema"]
    assert m["format"] == "hdf5" and s["format_details"]["layout"] == "policyengine"
    assert s["entities"] == {"person": {"rows": 3, "key": "person_id", "weight": None},
                             "household": {"rows": 2, "key": "household_id", "weight": "household_weight"}}
    variables = s["format_details"]["variables"]
    assert {v: d["periods"] for v, d in variables.items()} == {v: sorted(p) for v, p in layout.items()}
    assert {v: d["shape"] for v, d in variables.items()} == {v: list(next(iter(p.values()))) for v, p in layout.items()}
    assert variables["person_id"]["periods"] == variables["household_id"]["periods"] == ["eternity"]
    assert {f["name"]: (f["entity"], f["role"]) for f in s["fields"]} == {
        "household_id": ("household", "id"), "household_weight": ("household", "weight"),
        "person_household_id": ("person", "link"), "person_household_role": ("person", None),
        "person_id": ("person", "id"), "salary": ("person", None)}
    assert s["format_details"]["periods"] == ["2022", "2022-01", "eternity"]
    # the schema text lists each variable's periods
    res = run_pedata("schema", f"pedata://it/template@sha256:{sha}", cwd=repo)
    assert res.ok, res.stderr
    text = res.stdout.splitlines()
    assert "entity household: 2 rows (key household_id, weight household_weight)" in text
    table = text[text.index(next(line for line in text if line.startswith("column"))):]
    assert [line.split()[0] + " " + line[line.index("["):] for line in table] == [
        "column [periods]", "household_id [eternity]", "household_weight [2022]", "person_household_id [eternity]",
        "person_household_role [eternity]", "person_id [eternity]", "salary [2022-01]"]


def test_without_a_declared_layout_eternity_is_a_period_not_a_variable(template_h5):
    from dvc_pedata.sidecar import describe

    s = describe(template_h5, "hdf5", {}).schema
    assert s["format_details"]["layout"] == "policyengine"
    assert [f["name"] for f in s["fields"]] == ["household_id", "household_weight", "person_household_id",
                                               "person_household_role", "person_id", "salary"]


@pytest.mark.parametrize("text,ok", [
    ("eternity", True), ("ETERNITY", True), ("2022", True), ("2022-01", True), ("2022-1", True),
    ("2022-01-15", True), ("year:2022", True), ("year:2022:3", True), ("month:2022-02:3", True),
    ("year:2022-02", True), ("day:2022-01-01:5", True),
    ("month:2022", False), ("2022-13", False), ("year:2022:x", False), ("week:2022", False), ("salary", False),
    ("2022-02-30", False), ("year:2022:3:1", False),
])
def test_period_strings_policyengine_accepts(text, ok):
    assert is_period(text) is ok


def test_year_only_files_describe_to_the_committed_bytes(tmp_path):
    """The example registry's PolicyEngine-layout HDF5 (periods: years only), rebuilt from its real
    pipeline and parameters, describes to exactly the schema its committed manifest holds (written
    before this reader knew other period strings). The committed manifest predates wide-table
    capping, so the rebuilt one's complete schema is compared, without the companion-file keys."""
    from support.example import make_example

    from dvc_pedata.model.canonical import canonical_bytes
    from dvc_pedata.model.companion import registry_reader
    from dvc_pedata.model.documents import Manifest
    from dvc_pedata.model.fields import complete_schema

    def manifest(repo: Path) -> tuple[dict, dict]:
        [path] = [p for p in (repo / "manifests/us/us_microdata_2024").glob("*.json") if len(p.stem) == 64]
        body = json.loads(path.read_text())
        return body, complete_schema(Manifest(body), registry_reader(repo))

    committed, committed_schema = manifest(ROOT)
    repo = make_example(tmp_path, households=2000)
    rebuilt, rebuilt_schema = manifest(repo)
    assert rebuilt["digest"]["sha256"] == committed["digest"]["sha256"]  # the same HDF5 bytes
    companion = ("fields_sidecar", "fields_sidecar_sha256", "fields_truncated")
    assert canonical_bytes({k: v for k, v in rebuilt_schema.items() if k not in companion}) == \
        canonical_bytes({k: v for k, v in committed_schema.items() if k not in companion})
    assert committed_schema["format_details"]["periods"] == ["2024"]
