"""``pedata lock``: the raw inputs and the build environment a release was built from.

Two files, both git-tracked and reviewed like code:

- ``locks/inputs.manifest.json`` — every raw input a stage reads that no stage produces: where it
  comes from (``source``), its sha256 (our identity), size, DVC md5 (how the remote stores it) and
  when it was first locked at these bytes (``retrieved_at``; kept while the bytes are unchanged,
  so re-locking an unchanged pipeline rewrites nothing). Params files are not inputs: their values
  are part of each stage's recorded params.
- ``locks/deps.lock.yaml`` — the Python version and every installed distribution with its
  version and, where pip knows it, a hash (see :func:`package_hash`). No clock time inside, so the
  file changes only when the environment does.

``manifest.raw_input_digests`` and ``manifest.lock_digests`` read these files; replay restores and
checks inputs by them and reports the environment's drift from them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic, gitio
from dvc_pedata.base.hashing import FileDigest, hash_file
from dvc_pedata.base.timeutil import now
from dvc_pedata.base.walk import entries_below
from dvc_pedata.errors import NotFoundError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import pretty_bytes
from dvc_pedata.model.locks import load_inputs_lock
from dvc_pedata.registry.repo import Registry

INPUTS_LOCK = layout.INPUTS_LOCK
DEPS_LOCK = layout.DEPS_LOCK


@dataclass
class LockResult:
    inputs: list[dict[str, Any]]
    packages: int
    written: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"inputs": self.inputs, "packages": self.packages, "written": self.written}


# -- inputs -----------------------------------------------------------------------------------------
def raw_inputs(stages: list[Any]) -> list[dict[str, Any]]:
    """Deps no pipeline stage produces, plus the outs of data-source (``dvc add``/import) stages.

    Returns ``{"path", "dvc_md5", "data_source"}`` entries, sorted by path.
    """
    produced: set[str] = set()
    found: dict[str, dict[str, Any]] = {}
    for st in stages:
        if st.data_source or st.import_url:
            for out in st.outs:
                found[out["path"]] = {"path": out["path"], "dvc_md5": out["md5"], "dvcfile": st.dvcfile, "import_url": st.import_url}
        else:
            produced.update(o["path"] for o in st.outs)
    for st in stages:
        for dep in st.deps:
            p = dep["path"]
            if p in found or any(p == o or p.startswith(o + "/") for o in produced):
                continue
            found[p] = {"path": p, "dvc_md5": None, "dvcfile": None, "import_url": None}
    return [found[k] for k in sorted(found)]


def _expand(root: Path, rel: str) -> list[str]:
    """A folder input is locked file by file (sha256 is defined for bytes, not folders)."""
    p = root / rel
    if not p.is_dir():
        return [rel]
    inside = rel.rstrip("/")
    return sorted(f"{inside}/{r}" for r, entry in entries_below(str(p)) if entry.is_file())  # a link to a file counts


def _source(root: Path, rel: str, item: dict[str, Any], tracked: set[str], remote: str | None) -> str:
    if item["import_url"]:
        return str(item["import_url"])
    if item["dvcfile"]:
        return f"dvc://{remote or 'default'}/{item['dvcfile']}"
    if rel in tracked or not ignored(root, rel):
        return f"git:{rel}"  # committed with the recipe (or about to be): the commit holds it
    return f"file:{rel}"


def ignored(root: Path, rel: str) -> bool:
    """True if git ignores ``rel`` (so it does not travel with the commit)."""
    return bool(gitio.git(root, "check-ignore", "--", rel, check=False).strip())


def build_inputs_lock(reg: Registry, stages: list[Any], remote: str | None, previous: dict[str, Any] | None,
                      hasher: Any = None) -> dict[str, Any]:
    """The inputs lock document for the workspace; ``retrieved_at`` kept for unchanged bytes.

    ``hasher(root, rels) -> {rel: FileDigest}`` with md5, for every raw input file at once (a
    folder input is thousands of files: hashed on every core). Default: read every file;
    ``publish`` passes its sha256 memo's :meth:`HashState.hash_many` so unchanged inputs are not
    read again."""
    old = {i["path"]: i for i in (previous or {}).get("inputs", []) if isinstance(i, dict) and "path" in i}
    tracked = set(gitio.git(reg.root, "ls-files").splitlines())
    stamp = now().strftime("%Y-%m-%dT%H:%M:%SZ")
    files: list[tuple[str, dict[str, Any]]] = []
    for item in raw_inputs(stages):
        expanded = _expand(reg.root, item["path"])
        for rel in expanded:
            if expanded == [item["path"]] and not os.path.isfile(f"{reg.root}/{rel}"):  # a folder's are files
                raise NotFoundError(
                    f"raw input {rel} is missing from the workspace: run 'dvc pull' (or 'dvc checkout') before 'pedata lock'"
                )
            files.append((rel, item))
    digests = (hasher or _hash_every)(reg.root, [rel for rel, _ in files])
    entries = []
    for rel, item in files:
        fd = digests[rel]
        prev = old.get(rel)
        kept = prev.get("retrieved_at") if prev and prev.get("sha256") == fd.sha256 else None
        entries.append(
            {
                "path": rel,
                "source": _source(reg.root, rel, item, tracked, remote),
                "sha256": fd.sha256,
                "size": fd.size,
                "md5": fd.md5,
                "retrieved_at": kept or stamp,
            }
        )
    return {"kind": "inputs-lock", "schema_version": 1, "inputs": entries}


def _hash_every(root: Path, rels: list[str]) -> dict[str, FileDigest]:
    """sha256 and md5 of every file, read afresh (``pedata lock`` is exact: no memo)."""
    return {rel: hash_file(root / rel, md5=True) for rel in rels}


# -- environment ------------------------------------------------------------------------------------
def package_hash(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """``(hash, origin)`` for an installed distribution.

    ``origin`` says what the hash is:
    - ``"archive"``: pip's ``direct_url.json`` records the hash of the wheel/sdist it installed
      from a URL or file (``archive_info.hashes``) — the same value a ``--require-hashes``
      requirements file pins.
    - ``"record"``: otherwise, sha256 of the distribution's ``RECORD`` file. RECORD lists the
      sha256 of every file pip installed, so this fingerprints the installed contents exactly
      (it is not the hash of the wheel on PyPI).
    - ``(None, None)``: editable or source-tree installs and distributions without RECORD.
    """
    raw = dist.read_text("direct_url.json")
    if raw:
        try:
            info = json.loads(raw)
        except ValueError:
            info = {}
        archive = info.get("archive_info") or {}
        hashes = archive.get("hashes") or {}
        if "sha256" in hashes:
            return f"sha256:{hashes['sha256']}", "archive"
        if isinstance(archive.get("hash"), str) and "=" in archive["hash"]:
            algo, _, value = archive["hash"].partition("=")
            return f"{algo}:{value}", "archive"
        if "dir_info" in info:
            return None, None
    record = dist.read_text("RECORD")
    if record:
        return "sha256:" + hashlib.sha256(record.encode()).hexdigest(), "record"
    return None, None


def environment() -> dict[str, Any]:
    """The running interpreter and every installed distribution (name-sorted, de-duplicated)."""
    packages: dict[str, dict[str, Any]] = {}
    for dist in metadata.distributions():
        name, version = _name_version(dist)
        if not name:
            continue
        key = name.lower().replace("_", "-").replace(".", "-")
        if key in packages:  # the first on sys.path wins, as for imports
            continue
        digest, origin = package_hash(dist)
        packages[key] = {"name": key, "version": version, "hash": digest, "hash_origin": origin}
    return {
        "kind": "deps-lock",
        "schema_version": 1,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": f"{sys.platform}-{platform.machine()}",
        },
        "packages": [packages[k] for k in sorted(packages)],
    }


def _name_version(dist: metadata.Distribution) -> tuple[str, str | None]:
    """``Name`` and ``Version`` from the metadata file's header block alone.

    ``dist.metadata`` parses the whole file with the email parser, long description included,
    and ``dist.version`` parses it again: 0.4 s for 200 packages, on every first publish. The two
    fields are single-line headers before the first blank line (core metadata spec); anything
    else falls back to the full parse."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key in ("Name", "Version") and key not in found:
            found[key] = value.strip()
    if "Name" in found and "Version" in found:
        return found["Name"], found["Version"]
    meta = dist.metadata
    return (meta["Name"] or "").strip(), meta["Version"]


def dump_yaml(doc: dict[str, Any]) -> bytes:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue().encode()








def environment_diff(locked: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """What differs between a locked environment and ``current``: python, then each package.

    The interpreter: its version (``what: python``), and its implementation and platform when
    the lock records them (``what: implementation`` / ``platform``: wheels differ across both).
    A package is ``added`` (installed, not in the lock), ``removed`` (locked, not installed),
    re-versioned (``version``) or re-hashed (``hash``: same version, other contents, compared
    only when both hashes have the same origin).
    """
    out: list[dict[str, Any]] = []
    lp, cp = locked.get("python") or {}, current.get("python") or {}
    if lp.get("version") != cp.get("version"):
        out.append({"what": "python", "locked": lp.get("version"), "current": cp.get("version")})
    for key in ("implementation", "platform"):
        if lp.get(key) is not None and lp.get(key) != cp.get(key):
            out.append({"what": key, "locked": lp.get(key), "current": cp.get(key)})
    lk = {p["name"]: p for p in locked.get("packages") or [] if isinstance(p, dict) and "name" in p}
    ck = {p["name"]: p for p in current.get("packages") or []}
    for name in sorted(set(lk) | set(ck)):
        a, b = lk.get(name), ck.get(name)
        if a is None:
            out.append({"what": "package", "name": name, "change": "added", "current": ck[name]["version"]})
        elif b is None:
            out.append({"what": "package", "name": name, "change": "removed", "locked": a.get("version")})
        elif a.get("version") != b["version"]:
            out.append({"what": "package", "name": name, "change": "version", "locked": a.get("version"), "current": b["version"]})
        elif a.get("hash") and b["hash"] and a.get("hash") != b["hash"] and a.get("hash_origin") == b["hash_origin"]:
            out.append({"what": "package", "name": name, "change": "hash", "locked": a.get("hash"), "current": b["hash"]})
    return out


# -- the command ------------------------------------------------------------------------------------
def lock(root: Path | str = ".") -> LockResult:
    """Write both locks for the registry at ``root`` (unchanged files are not rewritten)."""
    reg = Registry.find(root)
    from dvc_pedata.dvcio.pipeline import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        pipeline_stages,
    )

    stages = pipeline_stages(reg.root)
    path = reg.root / INPUTS_LOCK
    previous = load_inputs_lock(path.read_bytes()) if path.is_file() else None
    inputs = build_inputs_lock(reg, stages, reg.config.get("remote"), previous)
    env = environment()
    written = []
    if atomic.write_if_changed(path, pretty_bytes(inputs)):
        written.append(INPUTS_LOCK)
    if atomic.write_if_changed(reg.root / DEPS_LOCK, dump_yaml(env)):
        written.append(DEPS_LOCK)
    gitio.add(reg.root, [INPUTS_LOCK, DEPS_LOCK])
    return LockResult(inputs["inputs"], len(env["packages"]), written)

