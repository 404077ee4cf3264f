"""Schema and input differences between two manifests, as data, text and pull-request markdown."""

from __future__ import annotations

from typing import Any

from dvc_pedata.model.companion import Reader
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.fields import complete_schema


def _fields(s: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in s.get("fields", [])}


def _stats(s: dict[str, Any], name: str) -> Any:
    return s.get("stats", {}).get(name)


def diff_manifests(a: Manifest, b: Manifest, read: Reader | None = None, read_b: Reader | None = None) -> dict[str, Any]:
    """Columns added / removed / retyped / renamed, row counts per entity, inputs and params.

    A rename is a removed and an added column with the same type and identical footer statistics
    (min, max, null count): the data stayed, only the name moved. ``read`` (``read_b`` for ``b``,
    default ``read``) reads a wide table's complete field list (:mod:`.fieldsfile`), so every
    column is compared. A manifest from before field lists that has more than 256 columns lists
    only the first 256: a column it does not list may still be there, so it is never reported
    added or removed against it, and ``columns.complete`` is false unless the fingerprints (over
    every name and type, in order) agree.
    """
    sa = complete_schema(a, read)
    sb = complete_schema(b, read if read_b is None else read_b)
    fa, fb = _fields(sa), _fields(sb)
    partial_a, partial_b = bool(sa.get("fields_truncated")), bool(sb.get("fields_truncated"))
    same_columns = sa.get("fingerprint") is not None and sa.get("fingerprint") == sb.get("fingerprint")
    removed = [n for n in fa if n not in fb and not partial_b]
    added = [n for n in fb if n not in fa and not partial_a]
    renamed = []
    for old in list(removed):
        for new in added:
            same_type = fa[old]["type"] == fb[new]["type"]
            st_a, st_b = _stats(sa, old), _stats(sb, new)
            if same_type and st_a is not None and st_a == st_b:
                renamed.append({"from": old, "to": new, "type": fb[new]["type"]})
                removed.remove(old)
                added.remove(new)
                break
    retyped = [
        {"name": n, "from": fa[n]["type"], "to": fb[n]["type"]} for n in fa if n in fb and fa[n]["type"] != fb[n]["type"]
    ]
    rows: dict[str, dict[str, Any]] = {}
    ea, eb = sa.get("entities", {}), sb.get("entities", {})
    for ent in sorted(set(ea) | set(eb)):
        ra, rb = ea.get(ent, {}).get("rows"), eb.get(ent, {}).get("rows")
        if ra != rb:
            rows[ent] = {"from": ra, "to": rb}
    if sa.get("rows") != sb.get("rows") and not rows:
        rows["(table)"] = {"from": sa.get("rows"), "to": sb.get("rows")}
    deps_a = {d["path"]: d for d in a.inputs.get("deps", [])}
    deps_b = {d["path"]: d for d in b.inputs.get("deps", [])}
    inputs = [
        {"path": p, "from": deps_a.get(p, {}).get("md5"), "to": deps_b.get(p, {}).get("md5")}
        for p in sorted(set(deps_a) | set(deps_b))
        if deps_a.get(p, {}).get("md5") != deps_b.get(p, {}).get("md5")
    ]
    params = []
    pa, pb = a.inputs.get("params", {}), b.inputs.get("params", {})
    for f in sorted(set(pa) | set(pb)):
        va, vb = pa.get(f, {}), pb.get(f, {})
        for k in sorted(set(va) | set(vb)):
            if va.get(k) != vb.get(k):
                params.append({"file": f, "key": k, "from": va.get(k), "to": vb.get(k)})
    return {
        "a": {"name": f"{a.namespace}/{a.name}", "sha256": a.sha256},
        "b": {"name": f"{b.namespace}/{b.name}", "sha256": b.sha256},
        "same_bytes": a.sha256 == b.sha256,
        "columns": {"added": added, "removed": removed, "retyped": retyped, "renamed": renamed,
                    "complete": same_columns or not (partial_a or partial_b)},
        "rows": rows,
        "inputs": inputs,
        "params": params,
        "size": {"from": a.size, "to": b.size},
    }


INCOMPLETE = "a manifest lists only its first columns (written before complete field lists): columns past them are not compared"


def is_empty(d: dict[str, Any]) -> bool:
    c = d["columns"]
    return not any([c["added"], c["removed"], c["retyped"], c["renamed"], d["rows"], d["inputs"], d["params"]])


def render_text(d: dict[str, Any]) -> str:
    lines = [f"--- {d['a']['name']} sha256:{d['a']['sha256'][:12]}", f"+++ {d['b']['name']} sha256:{d['b']['sha256'][:12]}"]
    c = d["columns"]
    lines += [f"+ column {n}" for n in c["added"]]
    lines += [f"- column {n}" for n in c["removed"]]
    lines += [f"~ column {r['name']}: {r['from']} -> {r['to']}" for r in c["retyped"]]
    lines += [f"~ column {r['from']} renamed to {r['to']}" for r in c["renamed"]]
    lines += [f"~ rows {e}: {v['from']} -> {v['to']}" for e, v in d["rows"].items()]
    lines += [f"~ input {i['path']}: md5 {i['from']} -> {i['to']}" for i in d["inputs"]]
    lines += [f"~ param {p['file']}:{p['key']}: {p['from']!r} -> {p['to']!r}" for p in d["params"]]
    if not c.get("complete", True):
        lines.append(f"! {INCOMPLETE}")
    if is_empty(d):
        lines.append("no schema, row-count or input changes" + (" (same bytes)" if d["same_bytes"] else ""))
    return "\n".join(lines)


def summarise(d: dict[str, Any]) -> str:
    """One line for a list: the column, row, input and parameter changes of a diff."""
    c = d["columns"]
    parts = []
    if c["added"]:
        parts.append("+ columns " + ", ".join(c["added"]))
    if c["removed"]:
        parts.append("- columns " + ", ".join(c["removed"]))
    parts += [f"column {r['name']}: {r['from']} -> {r['to']}" for r in c["retyped"]]
    parts += [f"column {r['from']} renamed to {r['to']}" for r in c["renamed"]]
    parts += [f"rows {'' if e == '(table)' else e + ' '}{v['from']} -> {v['to']}" for e, v in d["rows"].items()]
    if d["inputs"]:
        parts.append(f"{len(d['inputs'])} input{'s' if len(d['inputs']) != 1 else ''} changed")
    if d["params"]:
        parts.append(f"{len(d['params'])} param{'s' if len(d['params']) != 1 else ''} changed")
    return "; ".join(parts) or "no schema, row-count or input changes"


def render_markdown(d: dict[str, Any]) -> str:
    """A compact pull-request comment: one table of changes."""
    out = [f"### `{d['b']['name']}`: `{d['a']['sha256'][:12]}` → `{d['b']['sha256'][:12]}`", ""]
    rows: list[tuple[str, str, str]] = []
    c = d["columns"]
    rows += [("column added", f"`{n}`", "") for n in c["added"]]
    rows += [("column removed", f"`{n}`", "") for n in c["removed"]]
    rows += [("column retyped", f"`{r['name']}`", f"`{r['from']}` → `{r['to']}`") for r in c["retyped"]]
    rows += [("column renamed", f"`{r['from']}`", f"→ `{r['to']}`") for r in c["renamed"]]
    rows += [("rows", e, f"{v['from']} → {v['to']}") for e, v in d["rows"].items()]
    rows += [("input", f"`{i['path']}`", f"`{str(i['from'])[:8]}` → `{str(i['to'])[:8]}`") for i in d["inputs"]]
    rows += [("param", f"`{p['file']}:{p['key']}`", f"`{p['from']}` → `{p['to']}`") for p in d["params"]]
    if not c.get("complete", True):
        out += [f"> {INCOMPLETE}.", ""]
    if not rows:
        out.append("No schema, row-count or input changes.")
        return "\n".join(out)
    out += ["| change | what | detail |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c_} |" for a, b, c_ in rows]
    return "\n".join(out)
