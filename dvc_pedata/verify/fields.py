"""``pedata verify``: every file manifest's field list belongs to it.

A wide table's manifest names its complete field list (``<digest>.fields.json`` beside it, see
:mod:`dvc_pedata.fieldsfile`): the file must exist, hash to the digest the manifest names, hold
``field_count`` fields whose fingerprint is the manifest's, and start with the manifest's inline
fields. A manifest whose fields are all inline must have the fingerprint of those fields. Stray
``.fields.json`` files that no manifest names are reported too.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.errors import PedataError
from dvc_pedata.model.companion import FIELDS, registry_reader
from dvc_pedata.model.fields import companion_of, complete_schema, fingerprint


def run(ctx: Any) -> None:
    root = ctx.reg.root
    read = registry_reader(root)
    named: set[str] = set()
    for rel, m in sorted(ctx.manifests.items()):
        s = m.schema
        if not isinstance(s, dict) or m.format == "directory":
            continue
        companion = companion_of(m)
        if companion is not None:
            ctx.counts["field lists"] += 1
            named.add(companion)
            try:
                complete_schema(m, read)
            except PedataError as exc:
                ctx.violation(rel, exc.message)
            continue
        fields = s.get("fields")
        if isinstance(fields, list) and "fingerprint" in s and not s.get("fields_truncated"):
            try:
                actual = fingerprint(fields)
            except (KeyError, TypeError):
                ctx.violation(rel, "schema.fields entries need a name and a type")
                continue
            if actual != s["fingerprint"]:
                ctx.violation(rel, f"schema fingerprint {str(s['fingerprint'])[:12]}… is not the fingerprint of its fields ({actual[:12]}…)")
    scope = getattr(ctx, "scope", None)
    for rel in FIELDS.strays(root, named) if scope is None else scope.strays(FIELDS.suffix, named):
        ctx.violation(rel, "a field list that no manifest names")
