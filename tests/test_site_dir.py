"""`pedata site` on a directory artifact: a schema per file layout, and a revoked file inside a folder.

The registry is tests/dir_helpers.py's small one (8 constituency files in one HDF5 layout, 2
district files plus a byte-identical copy in a second layout with an extra ``council_tax``
column), published, certified as uk@2.0.0, then one constituency file is revoked with
``pedata revoke URI;path=FILE``. Row counts follow from the generator: file ``i`` has
``3 + seed % 5`` persons and 2 households.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.commands import run, run_pedata
from support.dirs import DirRegistry, certify, make_registry, trust_init

from dvc_pedata.registry.repo import Registry
from dvc_pedata.site.render import build_site

pytestmark = pytest.mark.slow  # browser tests: `pytest -m 'not slow'` is the fast lane

REVOKED = "constituency/E14000002.h5"


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> tuple[DirRegistry, dict, str]:
    """(registry, the published directory artifact, sha256 of the revoked file)."""
    reg = make_registry(tmp_path_factory.mktemp("sitedir"))
    art = reg.publish()["artifacts"][0]
    trust_init(reg)
    run(["git", "add", "-A"], cwd=reg.origin)
    run(["git", "commit", "-q", "-m", "trust root"], cwd=reg.origin)
    certify(reg)
    entry = next(x for x in reg.manifest(art["sha256"])["files"]["entries"] if x["path"] == REVOKED)
    res = run_pedata("revoke", f"pedata://uk/local_areas@v2.0.0;path={REVOKED}", "--reason", "licence withdrawn",
                     "--authority", "ONS", "--sign", "alice", cwd=reg.origin, env=reg.env)
    assert res.ok, res
    return reg, art, entry["sha256"]


@pytest.fixture(scope="module")
def site(registry, tmp_path_factory) -> Path:
    reg, _, _ = registry
    out = tmp_path_factory.mktemp("site") / "site"
    res = run_pedata("site", "-o", str(out), cwd=reg.origin, env=reg.env)
    assert res.ok and "warning" not in res.stderr, res
    return out


def _section(page: str, start: str, end: str) -> str:
    return page.split(start, 1)[1].split(end, 1)[0]


def test_directory_schema_shows_each_layout(site, registry):
    _, art, _ = registry
    page = (site / "uk" / "local_areas.html").read_text()
    schema = _section(page, '<h2 id="schema">', '<h2 id="changes">')
    assert f"<dt>sha256</dt><dd><code>{art['sha256']}</code></dd>" in schema
    assert '<dt>format</dt><dd>directory <span class="muted">(inode/directory)</span></dd>' in schema
    assert '<dt>files</dt><dd class="file-count">11</dd>' in schema
    assert '<dt>rows (all files)</dt><dd class="rows">47</dd>' in schema
    constituency = _section(schema, '<section class="layout" data-layout="0">', "</section>")
    district = _section(schema, '<section class="layout" data-layout="1">', "</section>")
    assert "<h3>Layout 0: 8 hdf5 files</h3>" in constituency
    assert '<dt>example file</dt><dd class="example"><code>constituency/E14000000.h5</code></dd>' in constituency
    assert '<dt>rows (all 8 files)</dt><dd class="rows">37</dd>' in constituency
    assert '<dt>weight column</dt><dd class="weight-column"><code>household_weight</code></dd>' in constituency
    assert ('<th>entity</th><th>key</th><th class="num">rows (all 8 files)</th><th class="num">rows in example</th>'
            '<th>weight</th>') in constituency
    assert ('<tr><td>household</td><td><code>household_id</code></td><td class="num">16</td><td class="num">2</td>'
            '<td><code>household_weight</code></td></tr>') in constituency
    assert ('<tr><td>person</td><td><code>person_id</code></td><td class="num">37</td><td class="num">3</td>'
            '<td></td></tr>') in constituency
    # the columns table looks like a single file's: weight rows highlighted, roles as badges
    assert ('<tr class="weight"><td class="num">3</td><td><code>household_weight</code></td><td>double</td>'
            '<td>household</td><td><span class="badge badge-role">weight</span></td><td></td><td>no</td></tr>') in constituency
    assert ('<td><code>person_household_id</code></td><td>int64</td><td>person</td>'
            '<td><span class="badge badge-role">link</span></td><td>household.household_id</td>') in constituency
    assert "council_tax" not in constituency
    assert "<h3>Layout 1: 3 hdf5 files</h3>" in district
    assert '<dt>example file</dt><dd class="example"><code>district/D000.h5</code></dd>' in district
    assert ('<tr><td>person</td><td><code>person_id</code></td><td class="num">10</td><td class="num">3</td>'
            '<td></td></tr>') in district
    assert '<td class="num">2</td><td><code>council_tax</code></td><td>double</td><td>household</td>' in district


def test_directory_schema_escapes_file_names_and_columns(registry, tmp_path):
    """Example paths, column and entity names of a folder's layouts come from the publisher's files: escaped."""
    reg, art, _ = registry
    repo = tmp_path / "registry"
    shutil.copytree(reg.origin, repo, symlinks=True)
    path = repo / f"manifests/uk/local_areas/{art['sha256']}.json"
    body = json.loads(path.read_text())
    layout = body["schema"]["layouts"][0]
    layout["example"] = "x/<img src=x onerror=alert(1)>.h5"
    layout["schema"]["fields"][0]["name"] = '"><script>alert(2)</script>'
    layout["entities"] = {"<b>ent</b>": 1}
    path.write_text(json.dumps(body))
    assert build_site(Registry(repo), tmp_path / "site").problems == []
    page = (tmp_path / "site" / "uk" / "local_areas.html").read_text()
    schema = _section(page, '<h2 id="schema">', '<h2 id="changes">')
    assert "<script" not in schema and "<img" not in schema and "<b>" not in schema
    assert '<dd class="example"><code>x/&lt;img src=x onerror=alert(1)&gt;.h5</code></dd>' in schema
    assert "<td><code>&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;</code></td>" in schema
    assert '<tr><td>&lt;b&gt;ent&lt;/b&gt;</td><td><code></code></td><td class="num">1</td>' in schema


def test_revoked_file_inside_a_folder_is_listed_with_its_artifact_and_releases(site, registry):
    _, art, file_sha = registry
    page = (site / "revocations.html").read_text()
    row = _section(page, f'<tr data-sha256="{file_sha}">', "</tr>")
    uri = f"pedata://uk/local_areas@sha256:{art['sha256']};path={REVOKED}"
    assert ('<td><a href="uk/local_areas.html">uk/local_areas</a><div class="revoked-path">'
            f'<span class="badge badge-revoked" data-status="revoked">revoked</span> file <code>{uri}</code></div></td>') in row
    assert f"<td><code>{file_sha}</code></td>" in row
    assert ('<td>uk@2.0.0 <span class="badge badge-unreproducible" data-status="unreproducible">unreproducible'
            f'</span> (holds <code>{REVOKED}</code>)</td>') in row
    assert "unknown" not in row and ">none<" not in row
    # the artifact page says which file of the cited folder was withdrawn and what still resolves
    art_page = (site / "uk" / "local_areas.html").read_text()
    box = _section(art_page, '<div class="revoked-box">', "</div>")
    assert (f"The file <code>{REVOKED}</code> in this folder was revoked on 20") in box
    assert "by ONS: <span class=\"reason\">licence withdrawn</span>." in box
    assert ("A get of the whole folder is refused; every other file still resolves by path: "
            "<code>pedata get &#x27;pedata://uk/local_areas@v2.0.0;path=&lt;file&gt;&#x27;</code>.") in box
