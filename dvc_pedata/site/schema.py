"""The schema section of an artifact page: one file's schema, or one block per layout of a folder.

A file's manifest carries ``schema.fields``/``schema.entities``; a directory manifest
(:mod:`.dirmanifest`) carries ``schema.layouts``, one entry per group of files that share a schema
fingerprint, with the file count, total rows per entity and the full schema of one example file.
Both render with the same facts list, entities table and columns table.

Every value passes through :func:`e` (``html.escape`` with quotes): file paths, column names and
entity names come from the publisher's files.
"""

from __future__ import annotations

import html
from typing import Any

from dvc_pedata.model.documents import Manifest


def e(value: Any) -> str:
    """HTML-escape anything for text *and* attribute contexts (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def badge_role(role: Any) -> str:
    return f'<span class="badge badge-role">{e(role)}</span>' if role else ""


def _plural(n: Any, word: str) -> str:
    return f"{e(n)} {word}" + ("" if n == 1 else "s")


Fact = tuple[str, str, str]  # (label, value as HTML escaped by the caller, CSS class of the <dd> or "")


def _dl(facts: list[Fact]) -> str:
    items = "".join(f"<dt>{label}</dt><dd" + (f' class="{cls}"' if cls else "") + f">{value}</dd>" for label, value, cls in facts)
    return f'<dl class="facts">{items}</dl>'


def _format(fmt: Any, media_type: Any) -> str:
    return f'{e(fmt)} <span class="muted">({e(media_type)})</span>'


def _schema_facts(s: dict[str, Any], rows_label: str) -> list[Fact]:
    out = []
    if s.get("rows") is not None:
        out.append((rows_label, e(s["rows"]), "rows"))
    if s.get("weight_column"):
        out.append(("weight column", f"<code>{e(s['weight_column'])}</code>", "weight-column"))
    if s.get("fingerprint"):
        out.append(("schema fingerprint", f"<code>{e(s['fingerprint'])}</code>", ""))
    return out


def _entities(ents: dict[str, Any], heading: str, totals: dict[str, Any] | None = None, files: Any = None) -> str:
    """Entity, key, rows, weight; with ``totals`` (a folder's layout) rows over all its files first."""
    if not ents and not totals:
        return ""
    rows_head = (f'<th class="num">rows (all {_plural(files, "file")})</th><th class="num">rows in example</th>'
                 if totals is not None else '<th class="num">rows</th>')
    out = [f'{heading}<table class="entities"><thead><tr><th>entity</th><th>key</th>{rows_head}<th>weight</th></tr>'
           "</thead><tbody>"]
    for ent in sorted(set(ents) | set(totals or {})):
        info = ents.get(ent) if isinstance(ents.get(ent), dict) else {}
        rows = f'<td class="num">{e(info.get("rows") if info.get("rows") is not None else "")}</td>'
        if totals is not None:
            rows = f'<td class="num">{e(totals.get(ent, ""))}</td>' + rows
        out.append(f'<tr><td>{e(ent)}</td><td><code>{e(info.get("key") or "")}</code></td>{rows}'
                   f'<td>{"<code>" + e(info["weight"]) + "</code>" if info.get("weight") else ""}</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def _columns(s: dict[str, Any], heading: str) -> str:
    fields = s.get("fields") or []
    if not fields:
        return ""
    out = [f'{heading}<table class="schema"><thead><tr><th class="num">#</th><th>column</th><th>type</th>'
           '<th>entity</th><th>role</th><th>references</th><th>nullable</th></tr></thead><tbody>']
    for i, f in enumerate(fields, 1):
        role = f.get("role")
        cls = ' class="weight"' if role == "weight" else ""
        out.append(f'<tr{cls}><td class="num">{i}</td><td><code>{e(f.get("name"))}</code></td><td>{e(f.get("type"))}</td>'
                   f'<td>{e(f.get("entity") or "")}</td><td>{badge_role(role)}</td>'
                   f'<td>{e(f.get("references") or "")}</td><td>{"yes" if f.get("nullable") else "no"}</td></tr>')
    out.append("</tbody></table>")
    if s.get("fields_truncated"):
        more = "their complete list is named by the manifest" if s.get("fields_sidecar") else "the manifest summarises them by the fingerprint only"
        out.append(f'<p class="muted">{e(s.get("field_count", 0) - len(fields))} more columns: {more}.</p>')
    return "\n".join(out)


def _layout(i: int, g: dict[str, Any]) -> str:
    """One layout of a folder: its files, the example file, rows per entity, the example's columns."""
    example = g.get("schema") if isinstance(g.get("schema"), dict) else {}
    files = g.get("files")
    facts: list[Fact] = [("files", e(files), "file-count"), ("format", _format(g.get("format"), g.get("media_type")), ""),
                         ("example file", f"<code>{e(g.get('example'))}</code>", "example")]
    facts += _schema_facts({**example, "rows": g.get("rows"), "fingerprint": g.get("fingerprint")},
                           f"rows (all {_plural(files, 'file')})")
    parts = [f'<section class="layout" data-layout="{i}"><h3>Layout {i}: {_plural(files, e(g.get("format")) + " file")}</h3>',
             _dl(facts),
             _entities(example.get("entities") or {}, "<h4>Entities</h4>", g.get("entities") or {}, files),
             _columns(example, "<h4>Columns</h4>") or '<p class="muted">No column schema for files of this format.</p>',
             "</section>"]
    return "\n".join(p for p in parts if p)


def schema_html(m: Manifest, schema: dict[str, Any] | None = None) -> str:
    """The facts and tables of a manifest's schema (per layout for a directory artifact).

    ``schema`` is the complete schema when the caller read a wide table's field list
    (:func:`dvc_pedata.model.fields.complete_schema`); default: the schema as the manifest stores it.
    """
    s = m.schema if schema is None or m.format == "directory" else schema
    facts: list[Fact] = [("sha256", f"<code>{e(m.sha256)}</code>", ""), ("format", _format(m.format, m.body.get("media_type")), ""),
                         ("size", f"{e(m.size)} bytes", ""), ("licence", e(m.licence or "unspecified"), "")]
    if m.format != "directory":
        return "\n".join(p for p in (_dl(facts + _schema_facts(s, "rows")),
                                     _entities(s.get("entities") or {}, "<h3>Entities</h3>"),
                                     _columns(s, "<h3>Columns</h3>")) if p)
    facts.append(("files", e(s.get("file_count")), "file-count"))
    facts += _schema_facts({"rows": s.get("rows"), "fingerprint": s.get("fingerprint")}, "rows (all files)")
    layouts = [g for g in s.get("layouts") or [] if isinstance(g, dict)]
    intro = ('<p class="muted">Files whose schemas agree share a layout; each layout shows the schema of one '
             "example file and the row counts of all its files.</p>")
    return "\n".join([_dl(facts), intro, *(_layout(i, g) for i, g in enumerate(layouts))])
