"""`pedata site`: the static catalogue, built from documents only, escaped, checked in a real browser.

The "example-like" registry is this repository's own example registry (its dvc.yaml, dvc.lock,
manifests and channel) copied into a fresh git repository, then given a history the example does
not have yet: a trust root, releases in every status, a second version of one artifact with a
renamed and an added column, git tags, and a tombstone. Free-text fields carry HTML/script so any
missed escape shows up. No payload exists anywhere in it, nor a DVC cache or remote: the site must
not need one. Citations must equal ``pedata cite`` output; the lineage SVG is Graphviz's, rebuilt
through an allowlist.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.commands import ROOT, commit, run, run_pedata

from dvc_pedata.lineage import graph as lineage
from dvc_pedata.model.documents import Manifest, Release, Tombstone, new_body
from dvc_pedata.publish.channels import advance, pin_of
from dvc_pedata.registry.repo import Registry
from dvc_pedata.releases.swhid import blob_id
from dvc_pedata.site.render import build_site, lineage_html, safe_svg
from dvc_pedata.trust import keys, signing
from dvc_pedata.trust import root as trust

pytestmark = pytest.mark.slow  # browser tests: `pytest -m 'not slow'` is the fast lane

SCRIPT_NOTICE = 'Adds income <script>alert("pwned")</script> & "quotes"'
EVIL_REASON = "Licence withdrawn <img src=x onerror=alert(1)> by the provider"
EVIL_DESC = "Person table </title><script>alert(2)</script>"
EVIL_HISTORY = "Rerun differs <script>alert(3)</script>"
CERTIFIED_AT = "2025-06-01T12:30:00Z"
SCREENSHOTS = ROOT / "reports" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _variant(reg: Registry, base: Manifest, tag: bytes, mutate) -> dict:
    """A new version of ``base`` (fake bytes ``tag``): same artifact, schema changed by ``mutate``."""
    body = copy.deepcopy(base.body)
    body["digest"] = {"sha256": hashlib.sha256(tag).hexdigest(), "md5": hashlib.md5(tag).hexdigest()}
    mutate(body["schema"])
    m = Manifest(body)
    m.save(reg.manifest_path(m.namespace, m.name, m.sha256))
    return pin_of(m.sha256, m.digest, m.size)


def _release(reg: Registry, version: str, status: str, pins: dict, summary: str, date: str, previous: str | None,
             **extra: object) -> None:
    ch = reg.load_channel("us", "next")
    body = new_body("release", namespace="us", version=version, status=status, compat_mode="backward",
                    notice={"type": "release", "summary": summary, "date": date}, pins=pins,
                    source_channel={"name": "next", "version": ch.version, "digest": ch.digest},
                    certified_for={"package": "policyengine-us", "version": "1.0.0"}, previous=previous, expires=None,
                    **extra)
    rel = Release(body, [])
    signing.sign(rel, keys.load_signer("alice"))
    rel.save(reg.release_path("us", version))
    commit(reg.root, f"release us {version}")
    run(["git", "tag", "-a", f"us/v{version}", "-m", f"pedata release us@{version}"], cwd=reg.root)


def _promote(reg: Registry, pins: dict) -> None:
    doc = advance(reg, "us", "next", pins, replace=True)
    assert doc is not None
    signing.sign(doc, keys.load_signer("alice"))
    doc.save(reg.channel_path("us", "next"))
    commit(reg.root, "promote next")


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> Registry:
    """The example registry's documents, with releases in every status, tags and a revocation."""
    repo = tmp_path_factory.mktemp("example") / "registry"
    repo.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PEDATA_KEYS_DIR", str(repo.parent / "keys"))
        run(["git", "init", "-q", "-b", "main"], cwd=repo)
        (repo / ".dvc").mkdir()
        shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
        for f in ("dvc.lock", "params.yaml"):
            shutil.copy(ROOT / f, repo / f)
        shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
        cfg = json.loads((ROOT / "pedata.json").read_text())
        cfg["title"] = "Example US microdata registry"
        cfg["citation"] = {"authors": ["PolicyEngine data team"]}
        (repo / "pedata.json").write_text(json.dumps(cfg, indent=2))
        for folder in ("manifests", "channels"):
            shutil.copytree(ROOT / folder, repo / folder)
        reg = Registry(repo)
        keys.generate("alice")
        trust.init_root(reg, ["alice"], {"promoter": ["alice"], "certifier": ["alice"], "revoker": ["alice"]})
        commit(repo, "example registry")
        latest = reg.load_channel("us", "latest").artifacts
        ecps = reg.load_manifest("us", "enhanced_cps_2024", latest["enhanced_cps_2024"]["sha256"])
        hh = reg.load_manifest("us", "cps_households_2024", latest["cps_households_2024"]["sha256"])

        old_hh = _variant(reg, hh, b"households, old licence", lambda s: s.update(rows=1990))
        _promote(reg, {"enhanced_cps_2024": latest["enhanced_cps_2024"]})
        _release(reg, "0.8.0", "retired", {"enhanced_cps_2024": latest["enhanced_cps_2024"]}, "First cut", "2025-01-10", None)
        _promote(reg, {**latest, "cps_households_2024": old_hh})
        _release(reg, "0.9.0", "unreproducible", {**latest, "cps_households_2024": old_hh}, "Adds households", "2025-03-01", "0.8.0",
                 certified_at="2025-03-01T09:00:00Z",
                 status_history=[{"status": "unreproducible", "date": "2025-04-02", "reason": EVIL_HISTORY}])
        _promote(reg, latest)
        _release(reg, "1.0.0", "certified", dict(latest), "Certified for policyengine-us 1.0", "2025-06-01", "0.9.0",
                 certified_at=CERTIFIED_AT)

        def rename_and_add(schema: dict) -> None:
            for f in schema["fields"]:
                if f["name"] == "age":
                    f["name"] = "age_years"
            schema["fields"].append({"name": "wealth", "type": "double", "entity": "person", "nullable": True,
                                     "references": None, "role": None})
            schema["stats"]["age_years"] = schema["stats"].pop("age")
            schema["rows"] = schema["entities"]["person"]["rows"] = 5000

        new_ecps = _variant(reg, ecps, b"enhanced cps v2", rename_and_add)
        _promote(reg, {**latest, "enhanced_cps_2024": new_ecps})
        _release(reg, "1.1.0", "provisional", {**latest, "enhanced_cps_2024": new_ecps}, SCRIPT_NOTICE, "2025-09-01", "1.0.0")

        t = Tombstone(new_body("tombstone", artifact_sha256=old_hh["sha256"], reason=EVIL_REASON,
                               authority="Data provider <legal@example.org>", date="2025-05-01T00:00:00Z"))
        signing.sign(t, keys.load_signer("alice"))
        t.save(reg.tombstone_path(old_hh["sha256"]))
        commit(repo, "revoke old households")
    return reg


@pytest.fixture(scope="module")
def site(example: Registry, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    res = run_pedata("site", "-o", str(out), "--json", cwd=example.root)
    assert res.ok, res.stderr
    pages = json.loads(res.stdout)["pages"]
    assert {"index.html", "revocations.html", "us/enhanced_cps_2024.html", "us/cps_households_2024.html"} <= set(pages)
    return out


# -- without a browser --------------------------------------------------------------------------
def test_example_registry_builds_without_payload_cache_or_remote(tmp_path):
    """This checkout's example registry, with its DVC remote deleted and no cache: every page builds.

    Lineage reads the stage graph through DVC, which is fine as long as DVC only parses files: a
    fetch or pull would fail here (nothing to fetch from), and the guards make any attempt fatal.
    """
    repo = tmp_path / "registry"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    for f in ("dvc.yaml", "dvc.lock", "params.yaml", "pedata.json"):
        shutil.copy(ROOT / f, repo / f)
    for folder in ("manifests", "channels", "releases", "tombstones", "trust"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, repo / folder)
    remote = tmp_path / "deleted-remote"
    (repo / ".dvc").mkdir()
    (repo / ".dvc" / "config").write_text(f'[core]\n    remote = storage\n[\'remote "storage"\']\n    url = {remote}\n')
    commit(repo, "example registry documents only")
    out = tmp_path / "site"
    code = ("from pathlib import Path; import dvc.repo; from dvc_pedata import dvcio\n"
            "def refuse(*a, **k): raise SystemExit('the site build tried to fetch a payload')\n"
            "dvc.repo.Repo.fetch = dvc.repo.Repo.pull = refuse; dvcio.pull = refuse\n"
            "from dvc_pedata.registry.repo import Registry; from dvc_pedata.site.render import build_site\n"
            f"r = build_site(Registry(Path({str(repo)!r})), Path({str(out)!r}))\n"
            "assert r.problems == [], r.problems\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    assert not remote.exists(), "the DVC remote was created or written"
    cache = repo / ".dvc" / "cache"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*")), "a payload reached the DVC cache"
    assert not (repo / "data").exists(), "a payload was checked out"
    names = {p.parent.parent.name + "/" + p.parent.name for p in (ROOT / "manifests").glob("*/*/*.json")}
    for n in names:
        assert (out / f"{n}.html").is_file(), n
    html = (out / "us" / "enhanced_cps_2024.html").read_text()
    assert "pedata get pedata://us/enhanced_cps_2024@latest" in html
    assert 'data-node="generate"' in html and 'data-node="data/persons.parquet"' in html


def test_wide_artifact_page_lists_every_column_from_its_field_list(tmp_path, monkeypatch):
    """The example pipeline's HDF5 (31 variables) and parquet (22 columns) are wider than a
    manifest lists inline: their pages still show every column, read from the field list file."""
    import re

    import h5py
    import pyarrow.parquet as pq
    from support.example import make_example

    monkeypatch.setenv("PEDATA_KEYS_DIR", str(tmp_path / "keys"))
    repo = make_example(tmp_path, households=50)
    out = tmp_path / "site"
    res = run_pedata("site", "-o", str(out), cwd=repo)
    assert res.ok, res.stderr
    with h5py.File(repo / "data/us_microdata.h5") as fh:
        variables = sorted(fh)
    expected = {"us/us_microdata_2024": variables,
                "us/enhanced_cps_2024": [f.name for f in pq.read_schema(repo / "data/persons.parquet")]}
    for page, names in expected.items():
        manifest = json.loads(next((repo / "manifests" / page).glob("*[0-9a-f].json")).read_text())
        assert len(manifest["schema"]["fields"]) < len(names) and manifest["schema"]["fields_sidecar"]
        html = (out / f"{page}.html").read_text()
        table = html.split('<table class="schema">', 1)[1].split("</table>", 1)[0]
        shown = re.findall(r'<td class="num">\d+</td><td><code>([^<]+)</code>', table)
        assert sorted(shown) == sorted(names), page
        assert "more columns" not in html


def test_untrusted_text_is_escaped(site):
    art = (site / "us" / "enhanced_cps_2024.html").read_text()
    assert "<script>alert" not in art and 'onerror=alert' not in art
    assert "Adds income &lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;" in art
    rev = (site / "revocations.html").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in rev and "<img" not in rev
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert text.count("<script") == 1 and 'src="' in text.split("<script", 1)[1][:40], page


def test_description_from_dvc_yaml_is_escaped(example, tmp_path):
    """``desc`` in dvc.yaml is free text too (index and artifact page, title context included)."""
    repo = tmp_path / "registry"
    shutil.copytree(example.root, repo, symlinks=True)
    text = (repo / "dvc.yaml").read_text()
    (repo / "dvc.yaml").write_text(text.replace(
        "desc: Synthetic person-level US microdata (CPS-like), one row per person with the ids of every entity",
        f"desc: '{EVIL_DESC}'"))
    res = build_site(Registry(repo), tmp_path / "site")
    assert res.problems == []
    for page in ("index.html", "us/enhanced_cps_2024.html"):
        text = (tmp_path / "site" / page).read_text()
        assert "Person table &lt;/title&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in text
        assert "alert(2)</script>" not in text and text.split("</head>")[0].count("</title>") == 1


def _snippet(page: str, cls: str) -> str:
    import html as htmlmod
    import re

    return htmlmod.unescape(re.search(rf'<div class="snippet {cls}">.*?<pre id="[^"]+">(.*?)</pre>', page, re.S).group(1))


def test_citations_match_git(site, example):
    """SWHIDs are checked against git itself; CITATION.cff parses as YAML with the right fields."""
    from ruamel.yaml import YAML

    art = (site / "us" / "cps_households_2024.html").read_text()
    tag_obj = run(["git", "rev-parse", "refs/tags/us/v1.0.0"], cwd=example.root).stdout.strip()
    commit_id = run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=example.root).stdout.strip()
    tree = run(["git", "rev-parse", f"{commit_id}^{{tree}}"], cwd=example.root).stdout.strip()
    sha = example.load_release("us", "1.0.0").pins["cps_households_2024"]["sha256"]
    mpath = example.manifest_path("us", "cps_households_2024", sha)
    blob = run(["git", "hash-object", str(mpath)], cwd=example.root).stdout.strip()
    assert blob_id(mpath.read_bytes()) == blob
    for swhid in (f"swh:1:rel:{tag_obj}", f"swh:1:rev:{commit_id}", f"swh:1:dir:{tree}", f"swh:1:cnt:{blob}"):
        assert swhid in _snippet(art, "cite-swhid"), swhid
    cff = YAML(typ="safe", pure=True).load(_snippet(art, "cite-cff"))
    tag_day = run(["git", "for-each-ref", "--format=%(taggerdate:short)", "refs/tags/us/v1.0.0"], cwd=example.root).stdout.strip()
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "dataset" and cff["version"] == "1.0.0"
    assert cff["date-released"] == tag_day and cff["authors"] == [{"name": "PolicyEngine data team"}]
    assert {"type": "swh", "value": f"swh:1:rel:{tag_obj}", "description": "annotated git tag us/v1.0.0 (the release)"} in cff["identifiers"]
    assert f"cps_households_2024 sha256:{sha}" in cff["abstract"]
    assert _snippet(art, "cite-bibtex").startswith("@misc{us_1_0_0,")


@pytest.mark.parametrize("fmt,cls", [("cff", "cite-cff"), ("bibtex", "cite-bibtex"), ("swhid", "cite-swhid")])
def test_page_citation_is_pedata_cite_output(site, example, fmt, cls):
    """The page and ``pedata cite`` print the very same text for the release the page cites."""
    for name, version in (("cps_households_2024", "1.0.0"), ("enhanced_cps_2024", "1.0.0")):
        res = run_pedata("cite", f"us@{version}", "--format", fmt, cwd=example.root)
        assert res.ok, res.stderr
        assert _snippet((site / "us" / f"{name}.html").read_text(), cls) == res.stdout, (name, fmt)


def test_release_rows_show_certified_at_and_status_history(site):
    art = (site / "us" / "cps_households_2024.html").read_text()
    row = art.split('<tr data-version="1.0.0">', 1)[1].split("</tr>", 1)[0]
    assert f'<time datetime="{CERTIFIED_AT}" title="{CERTIFIED_AT}">2025-06-01</time>' in row
    row = art.split('<tr data-version="0.9.0">', 1)[1].split("</tr>", 1)[0]
    assert '<ul class="status-history"><li><span class="history-status">unreproducible</span> 2025-04-02' in row
    assert "Rerun differs &lt;script&gt;alert(3)&lt;/script&gt;" in row and "alert(3)</script>" not in art


EVIL_NAME = 'x"><script>alert(4)</script><img src=x onerror=alert(5)>'


def _evil_graph() -> lineage.Graph:
    """A graph whose stage name, command and artifact path carry markup (lineage takes them from dvc.yaml)."""
    g = lineage.Graph()
    g.nodes["stage:dvc.yaml:" + EVIL_NAME] = {"id": "stage:dvc.yaml:" + EVIL_NAME, "type": "stage", "name": EVIL_NAME,
                                              "cmd": "echo '</text><script>alert(6)</script>'", "frozen": False}
    for p in ("in.csv", "data/" + EVIL_NAME):
        g.nodes["artifact:" + p] = {"id": "artifact:" + p, "type": "artifact", "path": p, "sha256": None}
    g.edges = [{"from": "artifact:in.csv", "to": "stage:dvc.yaml:" + EVIL_NAME, "type": "used"},
               {"from": "stage:dvc.yaml:" + EVIL_NAME, "to": "artifact:data/" + EVIL_NAME, "type": "generated"}]
    return g


def _assert_inert(text: str) -> None:
    """Parsed as HTML (what a browser does): no active element, no handler, no style, no script URL."""
    from html.parser import HTMLParser

    seen: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            seen.append((tag, attrs))

    Tags().feed(text)
    assert seen
    for tag, attrs in seen:
        assert tag not in ("script", "img", "foreignobject", "style", "iframe", "object"), tag
        for k, v in attrs:
            assert not k.startswith("on") and k != "style", (tag, k)
            assert not (v or "").strip().lower().startswith("javascript:"), (tag, k, v)


@pytest.mark.parametrize("with_dot", [True, False])
def test_lineage_rendering_escapes_document_names(monkeypatch, with_dot):
    """Graphviz SVG (or the list without it) never lets a stage or artifact name become markup."""
    if with_dot and shutil.which("dot") is None:
        pytest.fail("Graphviz 'dot' is not installed (make setup-system)")
    if not with_dot:
        monkeypatch.setattr(lineage, "render_svg", lambda dot: None)
    out = lineage_html(_evil_graph(), "artifact:in.csv", {"artifact:in.csv": "../us/in.html"})
    assert out.startswith("<svg") == with_dot, out[:200]
    _assert_inert(out)
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in out and "alert(6)&lt;/script&gt;" in out
    assert 'data-node="x&quot;&gt;&lt;script&gt;' in out and '<a href="../us/in.html">' in out


def test_svg_allowlist_strips_active_content():
    """Even an SVG with scripts, handlers and foreign content comes out inert."""
    svg = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
           b'onload="alert(1)" width="10pt" style="x"><script>alert(2)</script><g class="node" onclick="alert(3)">'
           b'<title>artifact:in.csv</title><a xlink:href="javascript:alert(4)"><text x="1" onmouseover="alert(5)">hi</text></a>'
           b'<foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject><style>*{}</style>'
           b'<set attributeName="onload" to="alert(6)"/><animate attributeName="href" to="javascript:alert(7)"/></g></svg>')
    out = safe_svg(svg, _evil_graph(), "", {})
    assert "alert" not in out and "javascript" not in out and "style" not in out and "<a" not in out
    assert out.startswith('<svg xmlns="http://www.w3.org/2000/svg" role="img"') and 'data-node="in.csv"' in out


def test_schema_diff_between_consecutive_releases(site):
    art = (site / "us" / "enhanced_cps_2024.html").read_text()
    changes = art.split('id="changes"', 1)[1].split('id="lineage"', 1)[0]
    assert "1.0.0 → 1.1.0" in changes and "column renamed" in changes and "<code>age</code>" in changes
    assert "→ age_years" in changes and "column added" in changes and "<code>wealth</code>" in changes
    assert "4941 → 5000" in changes


def test_refuses_to_overwrite_a_foreign_folder(example, tmp_path):
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("precious")
    res = run_pedata("site", "-o", str(tmp_path / "thesis"), cwd=example.root)
    assert res.returncode != 0 and "was not written by 'pedata site'" in res.stderr
    assert (tmp_path / "thesis" / "chapter1.tex").read_text() == "precious"
    out = tmp_path / "again"
    build_site(example, out)
    (out / "stale.html").write_text("old")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*.html")}
    build_site(example, out)  # our own folder: replaced whole, and the same documents give the same bytes
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*.html")} == {k: v for k, v in before.items() if k.name != "stale.html"}
    assert not list(tmp_path.glob(".again*"))  # no temporary folders left behind


# -- in a real browser --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    # playwright is in the `test` extra: if it is missing the setup is broken, so fail, do not skip
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (make setup-system, as root)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _page(browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("request", lambda r: None if r.url.startswith("file://") else problems.append(f"network: {r.url}"))
    return page, problems


def test_browser_index_to_artifact_schema_badges_citation(browser, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, problems = _page(browser)
    page.goto((site / "index.html").as_uri())
    assert page.title() == "Catalogue"
    assert page.locator("header.site .brand").inner_text() == "Example US microdata registry"
    row = page.locator('tr[data-artifact="us/enhanced_cps_2024"]')
    assert "1.1.0" in row.inner_text() and row.locator(".badge-provisional").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)

    row.get_by_role("link", name="enhanced_cps_2024").click()
    page.wait_for_load_state()
    assert page.url.endswith("/us/enhanced_cps_2024.html")
    assert page.locator("h1").inner_text() == "enhanced_cps_2024"
    assert page.locator("p.lede").inner_text().startswith("Synthetic person-level US microdata")
    # status badges: every release and its status
    statuses = {r.get_attribute("data-version"): r.locator(".badge").first.inner_text()
                for r in page.locator("table.releases tbody tr").all()}
    assert statuses == {"1.1.0": "provisional", "1.0.0": "certified", "0.9.0": "unreproducible", "0.8.0": "retired"}
    # schema table of the cited (certified 1.0.0) version: columns, types, entity, weight, rows
    schema = page.locator("table.schema tbody tr")
    assert schema.count() == 22
    cells = {r.locator("td").nth(1).inner_text(): [c.inner_text() for c in r.locator("td").all()] for r in schema.all()}
    assert cells["person_id"][2:5] == ["int64", "person", "id"]
    assert cells["age"][2] == "int16"
    weight_rows = page.locator("table.schema tr.weight")
    assert {r.locator("td").nth(1).inner_text() for r in weight_rows.all()} == {"person_weight", "household_weight"}
    assert page.locator("dd.weight-column").inner_text() == "person_weight"
    assert page.locator("dd.rows").inner_text() == "4941"
    assert page.locator("table.entities tbody tr").first.inner_text().split("\t")[:3] == ["person", "person_id", "4941"]
    # the notice with <script> renders as text, and never ran
    notice = page.locator('table.releases tr[data-version="1.1.0"] td.notice').inner_text()
    assert notice == f"release: {SCRIPT_NOTICE}"
    assert page.locator("script").count() == 1
    # citation text, fetch lines, lineage
    assert page.locator('table.releases tr[data-version="1.0.0"] td.certified-at').inner_text() == "2025-06-01"
    history = page.locator('table.releases tr[data-version="0.9.0"] ul.status-history li').inner_text()
    assert history == f"unreproducible 2025-04-02: {EVIL_HISTORY}"
    cff = page.locator(".cite-cff pre").inner_text()
    assert 'title: "us microdata, release 1.0.0"' in cff and 'version: "1.0.0"' in cff and "swh:1:rel:" in cff
    assert page.locator(".cite-bibtex pre").inner_text().startswith("@misc{us_1_0_0,")
    assert page.locator(".get-shell pre").inner_text() == "pedata get pedata://us/enhanced_cps_2024@v1.0.0"
    assert "dvc_pedata.get_path('pedata://us/enhanced_cps_2024@v1.0.0')" in page.locator(".get-python pre").inner_text()
    svg = page.locator(".lineage svg")
    assert svg.locator('[data-node="generate"]').count() == 1 and svg.locator('[data-node="data/persons.parquet"]').count() == 1
    page.locator(".get-shell button.copy").click()
    # the label changes when the clipboard promise settles, not on click: wait for it
    # (and read it in that same evaluation: it reverts to "Copy" 1.5 s later, which a loaded
    # machine can reach before a second read)
    label = page.wait_for_function(
        "() => { const t = document.querySelector('.get-shell button.copy').textContent; return t !== 'Copy' && t; }",
        timeout=5000,
    ).json_value()
    assert label in ("Copied", "Selected: press Ctrl+C")
    page.screenshot(path=str(SCREENSHOTS / "artifact.png"), full_page=True)

    # a sibling artifact through the lineage graph's link, then the revocations page
    svg.locator('a:has([data-node="data/households.csv"])').click()
    page.wait_for_load_state()
    assert page.url.endswith("/us/cps_households_2024.html")
    badges = page.locator('table.releases tr[data-version="0.9.0"] .badge').all_inner_texts()
    assert badges == ["unreproducible", "revoked"]
    page.get_by_role("link", name="Revocations").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/revocations.html")
    assert page.locator("td.reason").inner_text() == EVIL_REASON
    assert page.locator("img").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "revocations.png"), full_page=True)
    assert problems == []
    page.close()
