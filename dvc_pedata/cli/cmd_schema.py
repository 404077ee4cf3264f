"""``pedata schema`` and ``pedata diff``: read manifests, never payloads."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit
from dvc_pedata.cli.readonly import add_registry_flag


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="print an artifact's schema from its manifest (no download)")
    p.add_argument("ref", metavar="REF", help="pedata://ns/name@ref or a manifest file")
    add_registry_flag(p)
    add_json_flag(p)
    p.set_defaults(func=_schema)
    d = sub.add_parser("diff", help="schema, row-count and input differences between two artifacts")
    d.add_argument("a", metavar="A")
    d.add_argument("b", metavar="B")
    d.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    add_registry_flag(d)
    d.set_defaults(func=_diff)


def format_schema(m, schema=None) -> str:  # noqa: ANN001 - a Manifest, its complete schema
    if m.format == "directory":  # layouts, not columns: model/listing.py
        from dvc_pedata.model.listing import format_text

        return format_text(m)
    s = m.schema if schema is None else schema
    lines = [
        f"{m.namespace}/{m.name}  sha256:{m.sha256}",
        f"format: {m.format} ({m.body['media_type']})  size: {m.size} bytes  licence: {m.licence or 'unspecified'}",
    ]
    if s.get("rows") is not None:
        lines.append(f"rows: {s['rows']}")
    for ent, e in sorted(s.get("entities", {}).items()):
        extra = ", ".join(f"{k} {v}" for k, v in (("key", e.get("key")), ("weight", e.get("weight"))) if v)
        lines.append(f"entity {ent}: {e.get('rows')} rows" + (f" ({extra})" if extra else ""))
    if s.get("weight_column"):
        lines.append(f"weight column: {s['weight_column']}")
    fields = s.get("fields", [])
    if fields:
        width = max(len(f["name"]) for f in fields)
        tw = max(len(f["type"]) for f in fields)
        lines.append("")
        # HDF5 in PolicyEngine's layout: each variable's periods (eternity, 2022, 2022-01, ...)
        variables = (s.get("format_details") or {}).get("variables") or {}
        has_periods = any(v.get("periods") for v in variables.values() if isinstance(v, dict))
        lines.append(f"{'column'.ljust(width)}  {'type'.ljust(tw)}  entity / role" + ("  [periods]" if has_periods else ""))
        for f in fields:
            tags = " ".join(x for x in (f.get("entity"), f.get("role"), f.get("references") and "-> " + f["references"]) if x)
            periods = (variables.get(f["name"]) or {}).get("periods") if has_periods else None
            if periods:
                tags = (tags + "  " if tags else "") + "[" + ", ".join(periods) + "]"
            lines.append(f"{f['name'].ljust(width)}  {f['type'].ljust(tw)}  {tags}".rstrip())
        if s.get("fields_truncated"):
            lines.append(f"... {s['field_count'] - len(fields)} more columns (fingerprint {s['fingerprint'][:12]})")
    return "\n".join(lines)


def _schema(args: argparse.Namespace) -> int:
    from dvc_pedata.registry.refs import schema_ref

    m, s = schema_ref(args.ref, args.registry)
    emit(args, {"namespace": m.namespace, "name": m.name, "sha256": m.sha256, "format": m.format,
                "size": m.size, "licence": m.licence, "schema": s}, format_schema(m, s))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from dvc_pedata.cli.output import print_json
    from dvc_pedata.model import dirdiff, schema_diff
    from dvc_pedata.registry.refs import diff_refs

    d = diff_refs(args.a, args.b, args.registry)
    if args.format == "json":
        print_json(d.data)
    else:
        render = dirdiff if d.kind == "directory" else schema_diff
        print(render.render_markdown(d.data) if args.format == "markdown" else render.render_text(d.data))
    return 0
