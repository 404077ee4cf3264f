"""Attack review: each test takes the attacker's side through the real CLI (forged documents,
force-pushes, planted symlinks), and checks that pedata refuses in one line and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from support.commands import assert_one_line_error, run_pedata
from test_policyengine_seed import pe_bundle, released  # noqa: F401 - the module-scoped registry fixture


def test_seed_refuses_a_symlink_in_the_data_dir_that_leads_outside(released, tmp_path):  # noqa: F811
    """Someone who can write the data folder plants ``data/us -> /elsewhere``: seeding a bundle whose
    paths go through ``us/`` must not place (or replace) files outside the data folder."""
    bundle_path, bundle = pe_bundle(released, tmp_path)
    ds = bundle["data_releases"]["us"]["datasets"]
    ds.pop("foreign")
    for entry in ds.values():
        entry["path"] = "us/" + entry["path"]
    bundle_path.write_text(json.dumps(bundle, indent=2))
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / Path(ds["micro"]["path"]).name
    victim.write_bytes(b"the user's own file")
    data = tmp_path / "pe-data"
    data.mkdir()
    (data / "us").symlink_to(outside, target_is_directory=True)
    res = run_pedata("policyengine", "seed", "--bundle", bundle_path, "--data-dir", data, "--force", cwd=released)
    assert_one_line_error(res, "outside")
    assert sorted(p.name for p in outside.iterdir()) == [victim.name]
    assert victim.read_bytes() == b"the user's own file"
