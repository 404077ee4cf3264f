"""``pedata cite``, ``pedata export`` and ``pedata import-bundle``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit, warn
from dvc_pedata.cli.readonly import add_registry_flag, registry_root
from dvc_pedata.model import layout


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("cite", help="cite a release: CITATION.cff, BibTeX, SWHIDs, TRO or a PolicyEngine bundle block")
    c.add_argument("ref", metavar="NS@VERSION", help="a release: us@1.0.0, us@v1.0.0 or its tag us/v1.0.0")
    c.add_argument("--format", default="cff", choices=["cff", "bibtex", "swhid", "tro", "policyengine"])
    c.add_argument("-o", "--output", metavar="FILE", help="write to FILE (policyengine: also <ns>.trace.tro.jsonld next to it)")
    c.add_argument("--dataset", metavar="NAME", help="policyengine: the certified dataset (default: the first HDF5 pin)")
    c.add_argument("--base-url", metavar="URL", help="policyengine: https URL serving the DVC remote, for TRO locations")
    add_registry_flag(c)
    c.add_argument("--policyengine-version", metavar="VERSION",
                   help="policyengine: the policyengine release whose bundle carries the block (required by PolicyEngine)")
    c.add_argument("--model-package", metavar="PACKAGE==VERSION",
                   help="policyengine: the model package (default: the release's --certified-for)")
    c.add_argument("--bundle-version", metavar="VERSION", help="policyengine: bundle_version (default: --policyengine-version)")
    add_list_flag(c, "--sign", metavar="KEY",
                  help="policyengine: certifier keys; also write <ns>.trace.tro.dsse.json, a DSSE envelope over the TRO")
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
    b.add_argument("--channel", help="channel that pins them (default: bundle with --sign, else latest)")
    add_list_flag(b, "--sign", metavar="KEY", help="promoter keys to sign the channel (several after one flag, or repeated);"
                                                   " without keys the pins join the unsigned channel latest")
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
        _cite_policyengine(args, c)
    return 0


def _cite_policyengine(args: argparse.Namespace, c) -> None:  # noqa: ANN001 - a citation.Cited
    """The bundle manifest (stdout or -o FILE); with -o also the TRO, and with --sign its DSSE envelope."""
    import re

    from dvc_pedata.errors import UsageError
    from dvc_pedata.external.bundle import policyengine_export

    out = Path(args.output) if args.output else None
    # PolicyEngine's TRO schema admits relative locations of the form [a-z_]+.json only.
    if out is not None and not re.fullmatch(r"[a-z_]+\.json", out.name):
        raise UsageError(f"-o {args.output}: PolicyEngine's TRO schema admits a relative manifest location only as"
                         " [a-z_]+.json; name the file like manifest.json")
    if args.sign and out is None:
        raise UsageError("--sign writes the signed TRO next to the bundle manifest: give -o FILE")
    data, tro = policyengine_export(c, policyengine_version=args.policyengine_version, model_package=args.model_package,
                                    bundle_version=args.bundle_version, dataset=args.dataset, base_url=args.base_url,
                                    manifest_location=out.name if out else "manifest.json")
    if out is None:
        sys.stdout.write(data.decode())
        return
    tro_bytes = _json_bytes(tro)
    envelope = None
    if args.sign:  # keys are checked before anything is written
        from dvc_pedata.releases.tro_sign import dsse_envelope

        envelope = dsse_envelope(c.reg, c.ns, tro_bytes, args.sign, c.release, c.release_path)
    _write(str(out), data)
    tro_path = out.parent / f"{c.ns}.trace.tro.jsonld"
    _write(str(tro_path), tro_bytes)
    written = [str(out), str(tro_path)]
    if envelope is not None:
        dsse_path = out.parent / f"{c.ns}.trace.tro.dsse.json"
        _write(str(dsse_path), envelope)
        written.append(str(dsse_path))
    print("wrote " + ", ".join(written[:-1]) + " and " + written[-1])


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
    from dvc_pedata.external.bundle import LATEST, import_bundle

    res = import_bundle(args.manifest, args.namespace, country=args.country, channel=args.channel, sign=args.sign)
    text = (f"imported {len(res.pins)} external artifacts ({len(res.overlays)} from dataset_overlays) into channel"
            f" {res.namespace}/{res.channel} (version {res.version})" + (f", commit {res.commit}" if res.commit else ", nothing new"))
    lines = [f"  {n}  sha256:{s}" + ("  (overlay)" if n in res.overlays else "") for n, s in sorted(res.pins.items())]
    if res.channel == LATEST:
        lines.append(f"next: promote them to a signed channel (pedata promote {res.namespace} --to bundle --sign KEY)"
                     f" or certify a release from latest (pedata certify {res.namespace} VERSION --from latest --sign KEY)")
    emit(args, res.to_json(), "\n".join([text, *lines]))
    if not args.sign and res.channel != LATEST and res.commit:
        from dvc_pedata.registry.repo import Registry

        if Registry.find(".").root_versions():  # verify demands the promoter threshold on this channel
            rel = layout.channel(res.namespace, res.channel)
            warn(f"{rel} is unsigned, and this registry has a trust root: pedata verify fails and the channel"
                 f" does not resolve until promoters sign it (pedata sign {rel} --sign KEY, then commit)")
    return 0
