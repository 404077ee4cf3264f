"""``pedata cite``, ``pedata export`` and ``pedata import-bundle``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit, warn
from dvc_pedata.cli.readonly import add_registry_flag, registry_root
from dvc_pedata.model import layout
from dvc_pedata.model.names import LATEST


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("cite", help="cite a release: CITATION.cff, BibTeX, SWHIDs, TRO or a PolicyEngine bundle block")
    c.add_argument("ref", metavar="NS@VERSION", help="a release: us@1.0.0, us@v1.0.0 or its tag us/v1.0.0")
    c.add_argument("--format", default="cff", choices=["cff", "bibtex", "swhid", "tro", "policyengine"])
    c.add_argument("-o", "--output", metavar="FILE", help="write to FILE (policyengine: also <ns>.trace.tro.jsonld next to it)")
    c.add_argument("--dataset", metavar="NAME", help="policyengine: the certified dataset (default: the first HDF5 pin)")
    c.add_argument("--base-url", metavar="URL", help="policyengine: https URL serving the DVC remote, for TRO locations")
    add_registry_flag(c)
    c.set_defaults(func=_cite)
    e = sub.add_parser("export", help="export a release as Croissant 1.1 JSON-LD or a Frictionless datapackage.json")
    e.add_argument("ref", metavar="NS@VERSION", help="a release: us@1.0.0, us@v1.0.0 or its tag us/v1.0.0")
    e.add_argument("--format", required=True, choices=["croissant", "datapackage"])
    e.add_argument("-o", "--output", metavar="DIR", help="folder to write croissant.json / datapackage.json into")
    add_registry_flag(e)
    e.set_defaults(func=_export)
    b = sub.add_parser("import-bundle", help="record a PolicyEngine bundle manifest's datasets as external pins")
    b.add_argument("manifest", metavar="MANIFEST.json")
    b.add_argument("--namespace", required=True, metavar="NS")
    b.add_argument("--country", help="which data_releases entry (default: NS, or the only one)")
    b.add_argument("--channel", default="bundle", help="channel that pins them (default: bundle)")
    add_list_flag(b, "--sign", metavar="KEY", help="promoter keys to sign the channel (several after one flag, or repeated)")
    add_json_flag(b)
    b.set_defaults(func=_import)


def _write(path: str | None, data: bytes) -> None:
    from dvc_pedata.base.atomic import write_if_changed

    if path is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        write_if_changed(Path(path), data)


def _cited(ref: str, args: argparse.Namespace):  # noqa: ANN202 - a citation.Cited
    from dvc_pedata.registry.repo import Registry
    from dvc_pedata.releases.catalog import parse_ref
    from dvc_pedata.releases.citation import gather

    ns, version = parse_ref(ref)
    return gather(Registry.find(registry_root(args)), ns, version)


def _json_bytes(obj: object) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _cite(args: argparse.Namespace) -> int:
    from dvc_pedata.releases import citation

    if args.output and Path(args.output).is_dir():
        from dvc_pedata.errors import UsageError

        raise UsageError(f"-o {args.output}: is a folder; give a file name")
    c = _cited(args.ref, args)
    if args.format == "cff":
        _write(args.output, citation.to_cff(c).encode())
    elif args.format == "bibtex":
        _write(args.output, citation.to_bibtex(c).encode())
    elif args.format == "swhid":
        _write(args.output, citation.to_swhid_text(c).encode())
    elif args.format == "tro":
        from dvc_pedata.releases.tro import trov_tro

        _write(args.output, _json_bytes(trov_tro(c)))
    else:
        from dvc_pedata.external.bundle import policyengine_export

        data, tro = policyengine_export(c, dataset=args.dataset, base_url=args.base_url)
        if args.output is None:
            sys.stdout.write(data.decode())
        else:
            out = Path(args.output)
            _write(str(out), data)
            tro_path = out.parent / f"{c.ns}.trace.tro.jsonld"
            _write(str(tro_path), _json_bytes(tro))
            print(f"wrote {out} and {tro_path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from dvc_pedata.releases.export import croissant, datapackage

    c = _cited(args.ref, args)
    doc, fname = (croissant(c), "croissant.json") if args.format == "croissant" else (datapackage(c), "datapackage.json")
    if args.output is None:
        sys.stdout.write(_json_bytes(doc).decode())
        return 0
    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        from dvc_pedata.errors import UsageError

        raise UsageError(f"-o {folder}: not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    _write(str(folder / fname), _json_bytes(doc))
    print(f"wrote {folder / fname}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from dvc_pedata.external.bundle import import_bundle

    res = import_bundle(args.manifest, args.namespace, country=args.country, channel=args.channel, sign=args.sign)
    text = (f"imported {len(res.pins)} external artifacts into channel {res.namespace}/{res.channel} "
            f"(version {res.version})" + (f", commit {res.commit}" if res.commit else ", nothing new"))
    emit(args, res.to_json(), text + "\n" + "\n".join(f"  {n}  sha256:{s}" for n, s in sorted(res.pins.items())))
    if not args.sign and res.channel != LATEST and res.commit:
        from dvc_pedata.registry.repo import Registry

        if Registry.find(".").root_versions():  # verify demands the promoter threshold on this channel
            rel = layout.channel(res.namespace, res.channel)
            warn(f"{rel} is unsigned, and this registry has a trust root: pedata verify fails and the channel"
                 f" does not resolve until promoters sign it (pedata sign {rel} --sign KEY, then commit)")
    return 0
