"""Building manifests (schema sidecars) from what DVC, the file footers and the locks say.

A manifest holds no wall-clock time (git holds the time), so rebuilding the same bytes from the
same recipe reproduces the manifest byte for byte. A table wider than
``model.fields.INLINE_FIELDS`` keeps a summary inline and its complete field list in a
content-addressed companion file (:mod:`dvc_pedata.fieldsfile`), written before the manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.base.hashing import FileDigest
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import digest
from dvc_pedata.model.documents import Manifest, new_body
from dvc_pedata.model.dvcfacts import OutLike
from dvc_pedata.model.fields import cap_schema, split
from dvc_pedata.model.locks import load_inputs_lock
from dvc_pedata.sidecar.common import FIELD_LIMIT

TABULAR_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".h5": "hdf5", ".hdf5": "hdf5", ".csv": "csv"}
LOCK_FILES = (layout.INPUTS_LOCK, layout.DEPS_LOCK)


def detect_format(path: Path | str) -> str:
    # Path.suffix's rule on a str: a folder of 50,000 files paid 0.6 s for pathlib's parsing here
    name = str(path).rpartition("/")[2]
    i = name.rfind(".")
    return TABULAR_SUFFIXES.get(name[i:].lower() if 0 < i < len(name) - 1 else "", "binary")


def describe_file(path: Path | str, meta: dict[str, Any], limit: int | None = FIELD_LIMIT) -> tuple[str, str, dict[str, Any]]:
    """(format, media type, schema) of a single file, read from its metadata only.

    Per-column lists are capped at ``limit`` entries (``None``: complete, what publishing needs).
    """
    fmt = meta.get("format") or detect_format(path)
    if fmt == "binary":
        return "binary", meta.get("media_type", "application/octet-stream"), {}
    if fmt == "json":  # named and checked (filekind.py), but no schema is read from it
        return "json", meta.get("media_type", "application/json"), {}
    from dvc_pedata.sidecar import (
        describe,  # lazy: pyarrow/h5py; only the paths that read payloads pay for them
    )

    side = describe(Path(path), fmt, meta, limit=limit)
    return side.format, side.media_type, side.schema


def lock_digests(root: Path) -> dict[str, str | None]:
    """sha256 of each lock file (None when absent): the environment and inputs a build used."""
    out: dict[str, str | None] = {}
    for rel in LOCK_FILES:
        p = root / rel
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
    return out


def raw_input_digests(root: Path) -> dict[tuple[str, str | None], str]:
    """(path, md5) -> sha256 from ``locks/inputs.manifest.json``, when the inputs lock exists."""
    p = root / layout.INPUTS_LOCK
    if not p.is_file():
        return {}

    doc = load_inputs_lock(p.read_bytes(), source=layout.INPUTS_LOCK)
    return {(i["path"], i.get("md5")): i["sha256"] for i in doc["inputs"]}


@dataclass(frozen=True)
class LockState:
    """What every manifest of one publish takes from the lock files, read once."""

    raw: dict[tuple[str, str | None], str]  # raw_input_digests
    digests: dict[str, str | None]  # lock_digests


def read_locks(root: Path) -> LockState:
    """The inputs lock parsed and checked (a broken one raises here), and every lock file's sha256."""
    return LockState(raw_input_digests(root), lock_digests(root))


def build_inputs(root: Path, out: OutLike, locks: LockState | None = None) -> dict[str, Any]:
    """Deps (with the inputs lock's sha256 where its md5 is the one ``dvc.lock`` recorded: a
    stale lock must not lend an edited input its old sha256), params and the locks' digests.

    ``locks`` is :func:`read_locks` of ``root`` when the caller already read them (a publish reads
    them once for all its artifacts)."""
    if locks is None:
        locks = read_locks(root)
    raw = locks.raw
    deps = []
    for dep in out.deps:
        entry = {"path": dep["path"], "md5": dep.get("md5"), "size": dep.get("size")}
        sha256 = raw.get((dep["path"], dep.get("md5"))) if dep.get("md5") else None
        if sha256:
            entry["sha256"] = sha256
        deps.append(entry)
    digests = locks.digests
    params = {f: dict(sorted(v.items())) for f, v in sorted(out.params.items())}
    return {
        "deps": deps,
        "params": params,
        "locks": digests,
        "composite_digest": digest({"deps": deps, "params": params, "locks": digests}),
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
    companions: bool = True,
    locks: LockState | None = None,
) -> tuple[Manifest, dict[str, bytes]]:
    """Assemble and validate the manifest for one artifact version.

    Returns the manifest and the companion files to write before it (``{registry path: bytes}``:
    a wide table's complete field list, see :mod:`dvc_pedata.fieldsfile`). ``described`` is the
    file's complete (format, media type, schema) when the caller already read it
    (``describe_file(..., limit=None)``). ``companions=False`` (a record that is not stored as a
    manifest, e.g. an adoption) caps the lists at ``FIELD_LIMIT`` inline instead. ``locks``: see
    :func:`build_inputs`.
    """
    fmt, media_type, schema = described or describe_file(root / out.path, meta, limit=None)
    extra: dict[str, bytes] = {}
    if schema:
        if companions:
            schema, extra = split(namespace, name, schema)
        else:
            schema = cap_schema(schema, FIELD_LIMIT)
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
        inputs=build_inputs(root, out, locks),
        producer=producer,
        licence=licence,
    )
    manifest = Manifest(body)
    manifest.validate(f"manifest for {namespace}/{name}")
    return manifest, extra
