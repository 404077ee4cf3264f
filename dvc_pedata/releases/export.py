"""A release as the catalogue formats other tools read: Croissant 1.1 and Frictionless Data Package.

Both are written from the manifests alone (no payload is read) with the standard library. Every
file object carries its sha256 and size, the ``contentUrl``/``path`` is the content-addressed
``pedata://…@sha256:…`` URI that the resolver turns back into the same bytes, and columns keep
their sized Arrow types, entity keys and references.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.model.documents import Manifest
from dvc_pedata.releases.citation import Cited

CROISSANT_MEDIA = {"parquet": "application/x-parquet", "csv": "text/csv", "hdf5": "application/x-hdf5",
                   "directory": "application/x-directory", "binary": "application/octet-stream",
                   "json": "application/json"}
CROISSANT_TYPES = {
    "int8": "cr:Int8", "int16": "cr:Int16", "int32": "cr:Int32", "int64": "cr:Int64",
    "uint8": "cr:UInt8", "uint16": "cr:UInt16", "uint32": "cr:UInt32", "uint64": "cr:UInt64",
    "halffloat": "cr:Float16", "float16": "cr:Float16", "float": "cr:Float32", "float32": "cr:Float32",
    "double": "cr:Float64", "float64": "cr:Float64", "bool": "sc:Boolean", "boolean": "sc:Boolean",
    "string": "sc:Text", "large_string": "sc:Text", "utf8": "sc:Text", "date32[day]": "sc:Date",
}
FRICTIONLESS_TYPES = {"int": "integer", "uint": "integer", "float": "number", "double": "number",
                      "halffloat": "number", "bool": "boolean", "string": "string", "large_string": "string",
                      "utf8": "string", "date32[day]": "date"}


def croissant_type(arrow: str) -> str:
    """Croissant data type of an Arrow type string (sized where Croissant has the size)."""
    if arrow in CROISSANT_TYPES:
        return CROISSANT_TYPES[arrow]
    if arrow.startswith("timestamp"):
        return "sc:DateTime"
    if arrow.startswith("dictionary") or arrow.startswith("large_"):
        return "sc:Text"
    return "sc:Text"


def frictionless_type(arrow: str) -> str:
    for prefix, t in FRICTIONLESS_TYPES.items():
        if arrow == prefix or (prefix in ("int", "uint", "float") and arrow.startswith(prefix)):
            return t
    if arrow.startswith("timestamp"):
        return "datetime"
    return "any"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def _fields_by_entity(m: Manifest, s: dict[str, Any]) -> dict[str | None, list[dict[str, Any]]]:
    out: dict[str | None, list[dict[str, Any]]] = {}
    for f in s.get("fields", []):
        out.setdefault(f.get("entity") if m.format == "hdf5" else None, []).append(f)
    return out


def croissant(c: Cited) -> dict[str, Any]:
    """Croissant 1.1 JSON-LD: one FileObject per artifact, one RecordSet per table (entity for HDF5)."""
    r = c.release
    distribution, record_sets = [], []
    for name, pin in sorted(r.pins.items()):
        m = c.manifests[name]
        s = c.schema(name)  # every column, also of a wide table
        fo_id = f"file/{_slug(name)}"
        fo: dict[str, Any] = {
            "@type": "cr:FileObject", "@id": fo_id, "name": fo_id,
            "description": f"{m.format} artifact {c.ns}/{name}; manifest {c.manifest_paths[name]}",
            "contentUrl": c.uri(name), "encodingFormat": CROISSANT_MEDIA.get(m.format, "application/octet-stream"),
            "sha256": pin["sha256"],
        }
        if pin.get("size") is not None:
            fo["contentSize"] = f"{pin['size']} B"
        distribution.append(fo)
        entities = s.get("entities", {})
        by_entity = _fields_by_entity(m, s)
        for entity, fields in by_entity.items():
            rs_id = _slug(name if entity is None else f"{name}/{entity}")
            ent = entity or (next(iter(entities)) if len(entities) == 1 else None)
            key = (entities.get(ent) or {}).get("key") if ent else None
            rs: dict[str, Any] = {"@type": "cr:RecordSet", "@id": rs_id, "name": rs_id, "field": []}
            for f in fields:
                col = f["name"] if m.format != "hdf5" else f.get("path", f["name"])
                field: dict[str, Any] = {
                    "@type": "cr:Field", "@id": f"{rs_id}/{_slug(f['name'])}", "name": f["name"],
                    "dataType": croissant_type(f["type"]),
                    "source": {"fileObject": {"@id": fo_id}, "extract": {"column": col}},
                }
                if f.get("role"):
                    field["description"] = f"role: {f['role']}" + (f"; entity: {f['entity']}" if f.get("entity") else "")
                ref = f.get("references")
                if ref and "." in ref:
                    target_entity, target_col = ref.split(".", 1)
                    for rs2_name, rs2_fields in by_entity.items():
                        if rs2_name == target_entity and any(x["name"] == target_col for x in rs2_fields):
                            field["references"] = {"field": {"@id": f"{_slug(f'{name}/{target_entity}')}/{_slug(target_col)}"}}
                rs["field"].append(field)
            if key and any(f["name"] == key for f in fields):
                rs["key"] = {"@id": f"{rs_id}/{_slug(key)}"}
            record_sets.append(rs)
    doc: dict[str, Any] = {
        "@context": _croissant_context(),
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.1",
        "name": _slug(f"{c.ns}-microdata-{c.version}"),
        "description": f"{c.title}. Release digest sha256:{r.digest}; git tag {c.tag.name}; status {r.status}.",
        "version": c.version,
        "datePublished": c.date,
        "url": c.swhids.origin if (c.swhids.origin or "").startswith("http") else f"pedata://{c.ns}@v{c.version}",
        "citeAs": f"swh:1:rel:{c.swhids.rel}",
        "distribution": distribution,
        "recordSet": record_sets,
    }
    lic = c.licence()
    if lic:
        doc["license"] = f"https://spdx.org/licenses/{lic}.html"
    return doc


def _croissant_context() -> dict[str, Any]:
    return {
        "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
        "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/",
        "rai": "http://mlcommons.org/croissant/RAI/", "data": {"@id": "cr:data", "@type": "@json"},
        "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "dct": "http://purl.org/dc/terms/",
        "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract", "field": "cr:field",
        "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject", "fileSet": "cr:fileSet",
        "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
        "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField",
        "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
        "repeated": "cr:repeated", "replace": "cr:replace", "sc": "https://schema.org/",
        "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField", "transform": "cr:transform",
        "equivalentProperty": "cr:equivalentProperty", "samplingRate": "cr:samplingRate",
        "arrayShape": "cr:arrayShape", "containedIn": "cr:containedIn", "isArray": "cr:isArray",
    }


def datapackage(c: Cited) -> dict[str, Any]:
    """A Frictionless Data Package: one resource per artifact with ``bytes``, ``hash`` and a table schema."""
    r = c.release
    resources = []
    for name, pin in sorted(r.pins.items()):
        m = c.manifests[name]
        res: dict[str, Any] = {
            "name": name,
            "path": c.uri(name),
            "format": {"binary": "bin", "hdf5": "h5"}.get(m.format, m.format),
            "mediatype": m.body.get("media_type") or "application/octet-stream",
            "hash": f"sha256:{pin['sha256']}",
            "pedata:manifest": c.manifest_paths[name],
        }
        if pin.get("size") is not None:
            res["bytes"] = pin["size"]
        if m.licence:
            res["licenses"] = [{"name": m.licence, "path": f"https://spdx.org/licenses/{m.licence}.html"}]
        s = c.schema(name)  # every column, also of a wide table
        fields = s.get("fields", [])
        if fields and m.format in ("parquet", "csv"):
            schema: dict[str, Any] = {"fields": [
                {"name": f["name"], "type": frictionless_type(f["type"]), "pedata:arrowType": f["type"]}
                | ({"description": f"role: {f['role']}"} if f.get("role") else {})
                for f in fields
            ]}
            ents = s.get("entities", {})
            keys = [e.get("key") for e in ents.values() if e.get("key")]
            if len(keys) == 1 and any(f["name"] == keys[0] for f in fields):
                schema["primaryKey"] = [keys[0]]
            res["profile"] = "tabular-data-resource"
            res["schema"] = schema
        resources.append(res)
    out: dict[str, Any] = {
        "profile": "data-package",
        "name": _slug(f"{c.ns}-microdata").lower(),
        "title": c.title,
        "version": c.version,
        "created": c.tag.tagger_date or c.date,
        "description": f"Release {c.ns}@{c.version}; git tag {c.tag.name} (swh:1:rel:{c.swhids.rel}); "
                       f"release digest sha256:{r.digest}; status {r.status}.",
        "id": f"swh:1:rel:{c.swhids.rel}",
        "resources": resources,
    }
    if c.swhids.origin and c.swhids.origin.startswith("http"):
        out["homepage"] = c.swhids.origin
    lic = c.licence()
    if lic:
        out["licenses"] = [{"name": lic, "path": f"https://spdx.org/licenses/{lic}.html"}]
    return out
