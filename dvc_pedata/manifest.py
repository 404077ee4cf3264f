"""Building manifests (schema sidecars) from what DVC, the file footers and the locks say.

A manifest holds no wall-clock time (git holds the time), so rebuilding the same bytes from the
same recipe reproduces the manifest byte for byte.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .canonical import digest
from .documents import Manifest, new_body
from .dvcio_types import OutLike
from .hashing import FileDigest

TABULAR_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".h5": "hdf5", ".hdf5": "hdf5", ".csv": "csv"}
LOCK_FILES = ("locks/inputs.manifest.json", "locks/deps.lock.yaml")


def detect_format(path: Path) -> str:
    return TABULAR_SUFFIXES.get(Path(path).suffix.lower(), "binary")


def describe_file(path: Path, meta: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(format, media type, schema) of a single file, read from its metadata only."""
    fmt = meta.get("format") or detect_format(path)
    if fmt == "binary":
        return "binary", meta.get("media_type", "application/octet-stream"), {}
    from .sidecar import describe

    side = describe(Path(path), fmt, meta)
    return side.format, side.media_type, side.schema


def lock_digests(root: Path) -> dict[str, str | None]:
    """sha256 of each lock file (None when absent): the environment and inputs a build used."""
    out: dict[str, str | None] = {}
    for rel in LOCK_FILES:
        p = root / rel
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


def raw_input_digests(root: Path) -> dict[str, str]:
    """path -> sha256 from ``locks/inputs.manifest.json``, when the inputs lock exists."""
    p = root / "locks/inputs.manifest.json"
    if not p.is_file():
        return {}
    from .locks import load_inputs_lock  # checked like every reader of the lock does

    doc = load_inputs_lock(p.read_bytes(), source="locks/inputs.manifest.json")
    return {i["path"]: i["sha256"] for i in doc["inputs"]}


def build_inputs(root: Path, out: OutLike) -> dict[str, Any]:
    raw = raw_input_digests(root)
    deps = []
    for dep in out.deps:
        entry = {"path": dep["path"], "md5": dep.get("md5"), "size": dep.get("size")}
        if dep["path"] in raw:
            entry["sha256"] = raw[dep["path"]]
        deps.append(entry)
    locks = lock_digests(root)
    params = {f: dict(sorted(v.items())) for f, v in sorted(out.params.items())}
    return {
        "deps": deps,
        "params": params,
        "locks": locks,
        "composite_digest": digest({"deps": deps, "params": params, "locks": locks}),
    }


def producer_of(out: OutLike, git_commit: str | None) -> dict[str, Any]:
    """The stage, command and commit that made ``out`` (shared by file and directory manifests)."""
    return {
        "stage": out.stage,
        "dvcfile": out.dvcfile,
        "cmd": out.cmd,
        "cmd_digest": hashlib.sha256(out.cmd.encode()).hexdigest() if out.cmd else None,
        "git_commit": git_commit,
    }


def build_manifest(
    *,
    root: Path,
    namespace: str,
    name: str,
    out: OutLike,
    file_digest: FileDigest,
    meta: dict[str, Any],
    git_commit: str | None,
    licence: str | None,
    described: tuple[str, str, dict[str, Any]] | None = None,
) -> Manifest:
    """Assemble and validate the manifest for one artifact version.

    ``described`` is the file's (format, media type, schema) when the caller already read it.
    """
    fmt, media_type, schema = described or describe_file(root / out.path, meta)
    producer = producer_of(out, git_commit)
    body = new_body(
        "manifest",
        namespace=namespace,
        name=name,
        path=out.path,
        size=file_digest.size,
        format=fmt,
        media_type=media_type,
        digest={"sha256": file_digest.sha256, "md5": out.md5},
        schema=schema,
        inputs=build_inputs(root, out),
        producer=producer,
        licence=licence,
    )
    manifest = Manifest(body)
    manifest.validate(f"manifest for {namespace}/{name}")
    return manifest
