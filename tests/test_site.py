"""`pedata site`: the static catalogue, built from documents only, escaped, checked in a real browser.

The "example-like" registry is this repository's own example registry (its dvc.yaml, dvc.lock,
manifests and channel) copied into a fresh git repository, then given a history the example does
not have yet: a trust root, releases in every status, a second version of one artifact with a
renamed and an added column, git tags, and a tombstone. Free-text fields carry HTML/script so any
missed escape shows up. No payload exists anywhere in it: the site must not need one.
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
from conftest import ROOT, run, run_pedata

from dvc_pedata import keys, signing, trust
from dvc_pedata.channels import advance, pin_of
from dvc_pedata.documents import Manifest, Release, Tombstone, new_body
from dvc_pedata.registry import Registry
from dvc_pedata.site import build_site, git_blob_sha1

SCRIPT_NOTICE = 'Adds income <script>alert("pwned")</script> & "quotes"'
EVIL_REASON = "Licence withdrawn <img src=x onerror=alert(1)> by the provider"
EVIL_DESC = "Person table </title><script>alert(2)</script>"
SCREENSHOTS = ROOT / "reports" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def commit(repo: Path, msg: str) -> str:
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-qm", msg], cwd=repo)
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def _variant(reg: Registry, base: Manifest, tag: bytes, mutate) -> dict:
    """A new version of ``base`` (fake bytes ``tag``): same artifact, schema changed by ``mutate``."""
    body = copy.deepcopy(base.body)
    body["digest"] = {"sha256": hashlib.sha256(tag).hexdigest(), "md5": hashlib.md5(tag).hexdigest()}
    mutate(body["schema"])
    m = Manifest(body)
    m.save(reg.manifest_path(m.namespace, m.name, m.sha256))
    return pin_of(m.sha256, m.digest, m.size)


def _release(reg: Registry, version: str, status: str, pins: dict, summary: str, date: str, previous: str | None) -> None:
    ch = reg.load_channel("us", "next")
    body = new_body("release", namespace="us", version=version, status=status, compat_mode="backward",
                    notice={"type": "release", "summary": summary, "date": date}, pins=pins,
                    source_channel={"name": "next", "version": ch.version, "digest": ch.digest},
                    certified_for={"package": "policyengine-us", "version": "1.0.0"}, previous=previous, expires=None)
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
        _release(reg, "0.9.0", "unreproducible", {**latest, "cps_households_2024": old_hh}, "Adds households", "2025-03-01", "0.8.0")
        _promote(reg, latest)
        _release(reg, "1.0.0", "certified", dict(latest), "Certified for policyengine-us 1.0", "2025-06-01", "0.9.0")

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
def test_example_registry_itself_builds_without_dvc_or_payloads(tmp_path):
    """The real example registry (this checkout): no payload, no DVC import, every artifact paged."""
    out = tmp_path / "site"
    code = ("import sys; from pathlib import Path; from dvc_pedata.registry import Registry; "
            "from dvc_pedata.site import build_site; "
            f"r = build_site(Registry(Path({str(ROOT)!r})), Path({str(out)!r})); "
            "assert not any(m == 'dvc' or m.startswith('dvc.') for m in sys.modules), 'dvc imported'; "
            "print(len(r.pages))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    names = {p.parent.parent.name + "/" + p.parent.name for p in (ROOT / "manifests").glob("*/*/*.json")}
    for n in names:
        assert (out / f"{n}.html").is_file(), n
    html = (out / "us" / "enhanced_cps_2024.html").read_text()
    assert "pedata get pedata://us/enhanced_cps_2024@latest" in html


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


def test_citations_match_git(site, example):
    """SWHIDs are checked against git itself; CITATION.cff parses as YAML with the right fields."""
    from ruamel.yaml import YAML

    art = (site / "us" / "cps_households_2024.html").read_text()
    tag_obj = run(["git", "rev-parse", "refs/tags/us/v1.0.0"], cwd=example.root).stdout.strip()
    commit_id = run(["git", "rev-parse", "us/v1.0.0^{commit}"], cwd=example.root).stdout.strip()
    tree = run(["git", "rev-parse", f"{commit_id}:manifests/us/cps_households_2024"], cwd=example.root).stdout.strip()
    sha = example.load_release("us", "1.0.0").pins["cps_households_2024"]["sha256"]
    mpath = example.manifest_path("us", "cps_households_2024", sha)
    blob = run(["git", "hash-object", str(mpath)], cwd=example.root).stdout.strip()
    assert git_blob_sha1(mpath.read_bytes()) == blob
    for swhid in (f"swh:1:rel:{tag_obj}", f"swh:1:rev:{commit_id}", f"swh:1:dir:{tree}", f"swh:1:cnt:{blob}"):
        assert swhid in art, swhid
    import html as htmlmod
    import re

    cff_text = htmlmod.unescape(re.search(r'<div class="snippet cite-cff">.*?<pre id="[^"]+">(.*?)</pre>', art, re.S).group(1))
    cff = YAML(typ="safe", pure=True).load(cff_text)
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "dataset" and cff["version"] == "1.0.0"
    assert cff["date-released"] == "2025-06-01" and cff["authors"] == [{"name": "PolicyEngine data team"}]
    assert {"type": "swh", "value": f"swh:1:rel:{tag_obj}", "description": "release tag us/v1.0.0"} in cff["identifiers"]
    assert "@misc{us_cps_households_2024_1_0_0," in art


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
    cff = page.locator(".cite-cff pre").inner_text()
    assert 'title: "us/enhanced_cps_2024"' in cff and 'version: "1.0.0"' in cff and "swh:1:rel:" in cff
    assert page.locator(".cite-bibtex pre").inner_text().startswith("@misc{us_enhanced_cps_2024_1_0_0,")
    assert page.locator(".get-shell pre").inner_text() == "pedata get pedata://us/enhanced_cps_2024@v1.0.0"
    assert "dvc_pedata.get_path('pedata://us/enhanced_cps_2024@v1.0.0')" in page.locator(".get-python pre").inner_text()
    svg = page.locator(".lineage svg")
    assert svg.locator('[data-node="generate"]').count() == 1 and svg.locator('[data-node="data/persons.parquet"]').count() == 1
    page.locator(".get-shell button.copy").click()
    assert page.locator(".get-shell button.copy").inner_text() in ("Copied", "Selected: press Ctrl+C")
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
