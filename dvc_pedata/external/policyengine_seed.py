"""``pedata policyengine seed``: put a PolicyEngine bundle's datasets where PolicyEngine looks for them.

``policyengine`` (6.11) ``provenance/dataset_materialization.py`` keeps each certified dataset of
a bundle (``data_releases.<country>.datasets``, plus ``dataset_overlays.<country>``, which its
runtime merges in) at ``<data_dir>/<path>``, and **reuses a file already there when its sha256
equals the certified one**; otherwise it downloads from Hugging Face. Seeding that folder from a
pedata registry therefore makes ``materialize_dataset``, ``ensure_datasets()`` and
``managed_microsimulation()`` run with no Hugging Face access.

For each entry the bundle's sha256 is the name: the registry is searched for a manifest with that
sha256 (``manifests/<ns>/<name>/<sha256>.json``, the entry's country as namespace first), the bytes
are resolved through pedata's resolver (cache, DVC remote, adopted copy, or the external location;
always sha256-verified, tombstones refused) and placed at ``<data_dir>/<path>`` through a temporary
name and a rename (:class:`dvc_pedata.materialise.Materialiser`). An entry's
``metadata_sha256`` names a second file, ``<path>.metadata.json``, seeded the same way.

Outcomes per file: ``placed``; ``present`` (the file already holds those bytes: not touched);
``not-held`` (no manifest in the registry has that sha256); ``conflict`` (the file holds other
bytes: left alone unless ``force``); ``failed`` (held, but the bytes could not be had, e.g.
revoked or the remote is unreachable: the reason is reported). Paths are judged with
PolicyEngine's own rule (relative, no ``..``, no backslash or drive) before anything is written,
and a path that a symlink already in the data folder would lead outside it is refused then too.

The installed bundle is found with ``importlib.util.find_spec`` (which does not import
``policyengine``, whose package import pulls pandas): ``<package>/data/bundle/manifest.json``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.hashing import hash_file
from dvc_pedata.errors import DocumentError, NotFoundError, PedataError, UsageError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import loads_strict
from dvc_pedata.registry.source import open_registry
from dvc_pedata.resolver.materialise import Materialiser
from dvc_pedata.resolver.resolve import resolve

DEFAULT_DATA_DIR = Path("data")  # policyengine's DEFAULT_DATA_DIR, ./data
OUTCOMES = ("placed", "present", "not-held", "conflict", "failed")


@dataclass
class SeedItem:
    country: str
    dataset: str
    path: str  # the repository path, as the bundle states it
    sha256: str
    destination: str
    outcome: str = ""
    source: str | None = None  # where pedata got the bytes (cache, remote, external:hf:…)
    uri: str | None = None  # the pedata URI that served them
    detail: str | None = None


@dataclass
class SeedResult:
    bundle: str
    data_dir: str
    items: list[SeedItem] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for i in self.items if i.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not any(i.outcome in ("conflict", "failed") for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "data_dir": self.data_dir,
                "counts": {o: self.count(o) for o in OUTCOMES}, "items": [asdict(i) for i in self.items]}


def installed_bundle() -> Path:
    """The bundle manifest of the installed ``policyengine`` package (without importing it)."""
    spec = importlib.util.find_spec("policyengine")
    if spec is None or not spec.submodule_search_locations:
        raise NotFoundError("no installed policyengine package (pip install policyengine), or give --bundle FILE")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "bundle" / "manifest.json"
        if path.is_file():
            return path
    raise NotFoundError(f"the installed policyengine package ({', '.join(spec.submodule_search_locations)}) has no"
                        " data/bundle/manifest.json; give --bundle FILE")


def destination(data_dir: Path, path: str, where: str) -> Path:
    """``data_dir/<path>`` by PolicyEngine's rule (``_bundle_destination``), refusing paths that leave it."""
    rel = PurePosixPath(path)
    if (not rel.parts or rel.is_absolute() or ".." in rel.parts or "\\" in path
            or any(PureWindowsPath(p).drive or PureWindowsPath(p).root for p in rel.parts)):
        raise DocumentError(f"{where}: path {path!r} must be relative to its repository (no '..', no backslash)")
    return data_dir.joinpath(*rel.parts)


def _entries(bundle: Any, source: str, countries: list[str] | None) -> list[tuple[str, str, str, str]]:
    """(country, dataset, path, sha256) for every dataset, overlay and metadata file; checked first."""
    if not isinstance(bundle, dict) or not isinstance(bundle.get("data_releases"), dict):
        raise DocumentError(f"{source}: not a PolicyEngine bundle manifest (no data_releases)")
    releases = bundle["data_releases"]
    overlays = bundle.get("dataset_overlays") if isinstance(bundle.get("dataset_overlays"), dict) else {}
    chosen = countries or sorted(releases)
    missing = [c for c in chosen if c not in releases]
    if missing:
        raise NotFoundError(f"{source}: no data release for {', '.join(missing)} (it has: {', '.join(sorted(releases))})")
    out = []
    for country in chosen:
        block = releases[country]
        datasets = block.get("datasets") if isinstance(block, dict) else None
        if not isinstance(datasets, dict):
            raise DocumentError(f"{source}: data_releases.{country} has no datasets")
        merged = {**(overlays.get(country) or {}), **datasets} if isinstance(overlays, dict) else dict(datasets)
        for name, entry in sorted(merged.items()):
            where = f"{source}: {country} dataset {name!r}"
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise DocumentError(f"{where}: entry has no path")
            for sha, path in ((entry.get("sha256"), entry["path"]),
                              (entry.get("metadata_sha256"), entry["path"] + ".metadata.json")):
                if sha is None and path != entry["path"]:
                    continue  # no metadata file
                if not isinstance(sha, str) or len(sha) != 64 or any(ch not in "0123456789abcdef" for ch in sha):
                    raise DocumentError(f"{where}: no valid sha256 for {path}")
                out.append((country, name, path, sha))
    return out


def _holders(view: Any, sha256: str, country: str) -> list[tuple[str, str]]:
    """(namespace, name) of every manifest named by ``sha256``; the country's namespace first."""
    if view.rev is None:
        found = [(p.parent.parent.name, p.parent.name) for p in (view.root / layout.MANIFESTS).glob(f"*/*/{sha256}.json")]
    else:
        found = [(parts[1], parts[2]) for p in gitio.ls_tree(view.root, view.rev, layout.MANIFESTS)
                 if p.endswith(f"/{sha256}.json") and len(parts := p.split("/")) == 4]
    return sorted(set(found), key=lambda h: (h[0] != country, h))  # type: ignore[arg-type]


def seed(bundle_path: Path | None, data_dir: Path = DEFAULT_DATA_DIR, *, registry: str | None = None,
         rev: str | None = None, countries: list[str] | None = None, link: str = "auto",
         force: bool = False, offline: bool = False) -> SeedResult:
    """Place every held dataset of the bundle at ``data_dir/<path>``; see the module docstring."""
    path = bundle_path or installed_bundle()
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    bundle = loads_strict(raw, source=str(path))
    entries = _entries(bundle, str(path), countries)
    plan = [(c, n, p, s, destination(Path(data_dir), p, f"{path}: {c} dataset {n!r}")) for c, n, p, s in entries]
    if Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise UsageError(f"--data-dir {data_dir}: not a folder")
    top = Path(data_dir).resolve()
    for c, n, _p, _s, dest in plan:  # a symlink already in the folder must not lead a write outside it
        if not dest.resolve().is_relative_to(top):
            raise DocumentError(f"{path}: {c} dataset {n!r}: {dest} would be written outside {data_dir}"
                                " (a symlink is in the way); nothing was placed")
    view = open_registry(registry, rev, offline=offline)
    result = SeedResult(str(path), str(data_dir))
    placer = Materialiser(link, force=force)
    for country, name, rel, sha, dest in plan:
        item = SeedItem(country, name, rel, sha, str(dest))
        result.items.append(item)
        if dest.is_file() and hash_file(dest).sha256 == sha:
            item.outcome = "present"
            continue
        holders = _holders(view, sha, country)
        if not holders:
            item.outcome = "not-held"
            continue
        if dest.exists() and not force:
            item.outcome, item.detail = "conflict", f"{dest} holds other bytes; left alone (pass --force to replace it)"
            continue
        ns, held_as = holders[0]
        item.uri = f"pedata://{ns}/{held_as}@sha256:{sha}"
        try:
            res = resolve(item.uri, registry if registry is not None else view.root, rev, offline=offline)
            assert res.path is not None
            dest.parent.mkdir(parents=True, exist_ok=True)
            placer.place(res.path, dest)
        except PedataError as exc:
            item.outcome, item.detail = "failed", exc.message
            continue
        item.outcome, item.source = "placed", res.source
    return result


def report_text(res: SeedResult) -> str:
    """One line per file, then the counts."""
    lines = []
    for i in res.items:
        what = f"{i.country} {i.dataset}: {i.destination}"
        if i.outcome == "placed":
            lines.append(f"placed   {what} (sha256 {i.sha256[:12]}… from {i.uri}, {i.source})")
        elif i.outcome == "present":
            lines.append(f"present  {what} (already holds sha256 {i.sha256[:12]}…)")
        elif i.outcome == "not-held":
            lines.append(f"not held {what} (no artifact with sha256 {i.sha256[:12]}… in the registry)")
        else:
            lines.append(f"{i.outcome:<8} {what}: {i.detail}")
    counts = ", ".join(f"{res.count(o)} {o.replace('-', ' ')}" for o in OUTCOMES)
    lines.append(f"{len(res.items)} files from {res.bundle} into {res.data_dir}: {counts}")
    return "\n".join(lines)
