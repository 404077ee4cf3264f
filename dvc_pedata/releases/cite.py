"""What ``pedata cite`` and ``pedata export`` produce: the bytes, and where they go.

Everything is computed (and every output path checked) before anything is written; the CLI
prints :attr:`Output.stdout` or calls :func:`write_output`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from dvc_pedata.base.atomic import write_if_changed
from dvc_pedata.errors import UsageError
from dvc_pedata.registry.checkout import registry_root
from dvc_pedata.registry.repo import Registry
from dvc_pedata.releases.catalog import parse_ref
from dvc_pedata.releases.citation import Cited, gather, to_bibtex, to_cff, to_swhid_text
from dvc_pedata.releases.export import croissant, datapackage
from dvc_pedata.releases.tro import trov_tro

CITE_FORMATS = ("cff", "bibtex", "swhid", "tro")
EXPORT_FORMATS = ("croissant", "datapackage")


@dataclass
class Output:
    """Bytes for standard output, or files to write (``folder`` is created first)."""

    stdout: bytes | None = None
    files: list[tuple[Path, bytes]] = field(default_factory=list)
    folder: Path | None = None


def json_bytes(obj: object) -> bytes:
    """Two-space indented JSON in the document's own key order, UTF-8, with a trailing newline."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def cited(ref: str, registry: str | None = None) -> Cited:
    """Everything a citation of release ``ref`` (``us@1.0.0``, ``us@v1.0.0``, ``us/v1.0.0``) needs,
    from ``registry`` (a checkout or git URL; default ``$PEDATA_REGISTRY``, else the current one)."""
    ns, version = parse_ref(ref)
    return gather(Registry.find(registry_root(registry)), ns, version)


def check_output_file(output: str | None) -> None:
    """``-o`` names a file to write, not a folder."""
    if output and Path(output).is_dir():
        raise UsageError(f"-o {output}: is a folder; give a file name")


def cite_output(ref: str, fmt: str, output: str | None = None, registry: str | None = None) -> Output:
    """A citation of release ``ref`` in ``fmt`` (cff, bibtex, swhid, tro): for stdout, or the file ``output``."""
    check_output_file(output)
    c = cited(ref, registry)
    if fmt == "cff":
        data = to_cff(c).encode()
    elif fmt == "bibtex":
        data = to_bibtex(c).encode()
    elif fmt == "swhid":
        data = to_swhid_text(c).encode()
    elif fmt == "tro":
        data = json_bytes(trov_tro(c))
    else:
        raise UsageError(f"unknown citation format {fmt!r}: use one of {', '.join(CITE_FORMATS)}")
    return Output(stdout=data) if output is None else Output(files=[(Path(output), data)])


def export_output(ref: str, fmt: str, output: str | None = None, registry: str | None = None) -> Output:
    """Release ``ref`` as Croissant (``croissant.json``) or a Frictionless ``datapackage.json``:
    for stdout, or that file in the folder ``output`` (created if missing)."""
    c = cited(ref, registry)
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    doc, fname = (croissant(c), "croissant.json") if fmt == "croissant" else (datapackage(c), "datapackage.json")
    if output is None:
        return Output(stdout=json_bytes(doc))
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"-o {folder}: not a folder")
    return Output(files=[(folder / fname, json_bytes(doc))], folder=folder)


def write_output(out: Output) -> list[str]:
    """Write ``out``'s files (atomically, skipping identical content); returns their paths in order."""
    if out.folder is not None:
        out.folder.mkdir(parents=True, exist_ok=True)
    for path, data in out.files:
        write_if_changed(path, data)
    return [str(path) for path, _ in out.files]
