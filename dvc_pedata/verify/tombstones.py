"""``pedata verify`` checks for tombstones beyond signatures (which verify.py already checks).

A tombstone must revoke bytes the registry knows (a manifest names the sha256), and once
committed its reason, authority and date never change: only its purge record may grow, because
a consumer who purged on the first version must be able to trust that it still means the same.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.model import layout

FIXED = ("artifact_sha256", "reason", "authority", "date")


def run(ctx: Any) -> None:
    known = {m.sha256 for m in ctx.manifests.values()}
    for rel, ts in ctx.tombstones.items():
        if ts.artifact_sha256 not in known:
            ctx.violation(rel, f"revokes sha256 {ts.artifact_sha256[:12]}…, which no manifest describes")
    first: dict[str, Any] = {}
    for e in ctx.history:
        if not e.path.startswith(layout.TOMBSTONES + "/") or e.doc is None:
            continue
        if e.path not in first:
            first[e.path] = e.doc
            continue
        was = first[e.path]
        for key in FIXED:
            if e.doc.body.get(key) != was.body.get(key):
                ctx.violation(e.path, f"{key} changed after the tombstone was committed (was {was.body.get(key)!r})", e.commit)
    for rel, ts in ctx.tombstones.items():
        was = first.get(rel)
        if was is not None:
            for key in FIXED:
                if ts.body.get(key) != was.body.get(key):
                    ctx.violation(rel, f"{key} changed after the tombstone was committed (was {was.body.get(key)!r})")
