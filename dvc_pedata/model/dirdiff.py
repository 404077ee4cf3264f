"""``pedata diff`` of two directory artifacts: files added, removed, changed, and schema changes.

Works from the manifests' verified file lists only (no payload is read): a changed file is a path
present in both with a different sha256; its schema diff compares the two files' layouts (the
per-layout schema entries) with :func:`schema_diff.diff_manifests`, and its row count comes from
its own entry.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.listing import file_view
from dvc_pedata.model.merkle import FileEntry
from dvc_pedata.model.schema_diff import diff_manifests


def diff_directories(a: Manifest, b: Manifest, ea: list[FileEntry], eb: list[FileEntry]) -> dict[str, Any]:
    fa, fb = {e.path: e for e in ea}, {e.path: e for e in eb}
    changed = []
    for path in sorted(set(fa) & set(fb)):
        x, y = fa[path], fb[path]
        if x.sha256 == y.sha256:
            continue
        d = diff_manifests(file_view(a, x), file_view(b, y))
        changed.append({
            "path": path, "from": x.sha256, "to": y.sha256, "size": {"from": x.size, "to": y.size},
            "rows": {"from": x.rows, "to": y.rows}, "columns": d["columns"],
        })
    return {
        "a": {"name": f"{a.namespace}/{a.name}", "sha256": a.sha256, "files": len(ea)},
        "b": {"name": f"{b.namespace}/{b.name}", "sha256": b.sha256, "files": len(eb)},
        "same_bytes": a.sha256 == b.sha256,
        "files": {
            "added": sorted(set(fb) - set(fa)),
            "removed": sorted(set(fa) - set(fb)),
            "changed": changed,
            "unchanged": sum(1 for p in set(fa) & set(fb) if fa[p].sha256 == fb[p].sha256),
        },
        "rows": {"from": a.schema.get("rows"), "to": b.schema.get("rows")},
        "size": {"from": a.size, "to": b.size},
    }


def _col_lines(c: dict[str, Any]) -> list[str]:
    return ([f"+ column {n}" for n in c["added"]] + [f"- column {n}" for n in c["removed"]]
            + [f"~ column {r['name']}: {r['from']} -> {r['to']}" for r in c["retyped"]]
            + [f"~ column {r['from']} renamed to {r['to']}" for r in c["renamed"]])


def render_text(d: dict[str, Any]) -> str:
    lines = [f"--- {d['a']['name']} sha256:{d['a']['sha256'][:12]} ({d['a']['files']} files)",
             f"+++ {d['b']['name']} sha256:{d['b']['sha256'][:12]} ({d['b']['files']} files)"]
    f = d["files"]
    lines += [f"+ file {p}" for p in f["added"]]
    lines += [f"- file {p}" for p in f["removed"]]
    for c in f["changed"]:
        rows = f", rows {c['rows']['from']} -> {c['rows']['to']}" if c["rows"]["from"] != c["rows"]["to"] else ""
        lines.append(f"~ file {c['path']}: sha256 {c['from'][:12]} -> {c['to'][:12]}{rows}")
        lines += ["    " + x for x in _col_lines(c["columns"])]
    lines.append(f"{len(f['added'])} added, {len(f['removed'])} removed, {len(f['changed'])} changed, {f['unchanged']} unchanged")
    return "\n".join(lines)


def render_markdown(d: dict[str, Any]) -> str:
    f = d["files"]
    out = [f"### `{d['b']['name']}`: `{d['a']['sha256'][:12]}` → `{d['b']['sha256'][:12]}`", "",
           f"{len(f['added'])} added, {len(f['removed'])} removed, {len(f['changed'])} changed, {f['unchanged']} unchanged", ""]
    rows = [("added", p, "") for p in f["added"]] + [("removed", p, "") for p in f["removed"]]
    for c in f["changed"]:
        detail = "; ".join(_col_lines(c["columns"]))
        if c["rows"]["from"] != c["rows"]["to"]:
            detail = "; ".join(x for x in (detail, f"rows {c['rows']['from']} → {c['rows']['to']}") if x)
        rows.append(("changed", c["path"], detail))
    if rows:
        out += ["| change | file | detail |", "|---|---|---|"] + [f"| {a} | `{b}` | {c} |" for a, b, c in rows]
    return "\n".join(out)


