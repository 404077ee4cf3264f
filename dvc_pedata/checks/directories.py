"""``pedata verify``: every directory manifest's file list belongs to its directory digest.

The listing (inline, or the content-addressed ``<digest>.files.json`` beside the manifest) must
exist, hash to the digest the manifest names, and have a Merkle digest equal to the manifest's
``digest.sha256`` — otherwise a ``;path=`` resolution could be pointed at the wrong bytes.
Stray ``.files.json`` files that no manifest names are reported too.
"""

from __future__ import annotations

from typing import Any

from ..errors import PedataError


def run(ctx: Any) -> None:
    from ..dirmanifest import SIDECAR_SUFFIX, is_directory, load_listing

    root = ctx.reg.root

    def read(rel: str) -> bytes | None:
        try:
            return (root / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    named: set[str] = set()
    for rel, m in sorted(ctx.manifests.items()):
        if not is_directory(m):
            continue
        ctx.counts["directory listings"] += 1
        files = m.body.get("files") or {}
        if files.get("sidecar"):
            named.add(f"manifests/{m.namespace}/{m.name}/{files['sidecar']}")
        try:
            load_listing(m, read)
        except PedataError as exc:
            ctx.violation(rel, exc.message)
    for p in sorted((root / "manifests").glob(f"*/*/*{SIDECAR_SUFFIX}")):
        rel = p.relative_to(root).as_posix()
        if rel not in named:
            ctx.violation(rel, "a directory file list that no manifest names")
