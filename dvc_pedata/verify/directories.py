"""``pedata verify``: every directory manifest's file list belongs to its directory digest.

The listing (inline, or the content-addressed ``<digest>.files.json`` beside the manifest) must
exist, hash to the digest the manifest names, and have a Merkle digest equal to the manifest's
``digest.sha256`` — otherwise a ``;path=`` resolution could be pointed at the wrong bytes.
Stray ``.files.json`` files that no manifest names are reported too.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.errors import PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.companion import FILES, registry_reader
from dvc_pedata.model.listing import is_directory, load_listing, members_with


def run(ctx: Any) -> None:
    root = ctx.reg.root
    read = registry_reader(root)

    named: set[str] = set()
    for rel, m in sorted(ctx.manifests.items()):
        if not is_directory(m):
            continue
        ctx.counts["directory listings"] += 1
        files = m.body.get("files") or {}
        if files.get("sidecar"):
            named.add(layout.companion(m.namespace, m.name, files["sidecar"]))
        try:
            load_listing(m, read)
        except PedataError as exc:
            ctx.violation(rel, exc.message)
    revoked = {t.artifact_sha256 for t in ctx.tombstones.values()}
    if revoked:
        _check_revoked_members(ctx, revoked)
    scope = getattr(ctx, "scope", None)
    for rel in FILES.strays(root, named) if scope is None else scope.strays(FILES.suffix, named):
        ctx.violation(rel, "a directory file list that no manifest names")


def _check_revoked_members(ctx: Any, revoked: set[str]) -> None:
    """A release pinning a directory that holds a revoked file must be ``unreproducible``."""
    read = registry_reader(ctx.reg.root)
    for rel, r in sorted(ctx.releases.items()):
        if r.status == "unreproducible":
            continue
        for name, pin in sorted(r.pins.items()):
            m = ctx.manifest_for(r.namespace, name, pin["sha256"])
            if m is None:
                continue
            try:
                bad = [p for sha in revoked for p in members_with(m, read, sha)]
            except PedataError:
                continue  # reported above
            if bad:
                ctx.violation(rel, f"pins directory {name!r} whose file {sorted(bad)[0]} is revoked, but its status is {r.status}, not unreproducible")
