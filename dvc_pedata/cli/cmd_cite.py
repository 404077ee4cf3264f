"""``pedata cite``, ``pedata export`` and ``pedata import-bundle``."""

from __future__ import annotations

import argparse
import sys

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit, warn
from dvc_pedata.cli.readonly import add_registry_flag


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


def _render(out, announce: bool) -> None:  # noqa: ANN001 - a releases.cite.Output
    """Standard output, or the files written (and, if ``announce``, which)."""
    from dvc_pedata.releases.cite import write_output

    if out.stdout is not None:
        sys.stdout.write(out.stdout.decode("utf-8"))
        return
    written = write_output(out)
    if announce:
        print("wrote " + (", ".join(written[:-1]) + " and " if len(written) > 1 else "") + written[-1])


def _cite(args: argparse.Namespace) -> int:
    if args.format == "policyengine":
        from dvc_pedata.external.bundle import policyengine_cite

        out = policyengine_cite(args.ref, args.output, args.registry, policyengine_version=args.policyengine_version,
                                model_package=args.model_package, bundle_version=args.bundle_version,
                                dataset=args.dataset, base_url=args.base_url, sign=args.sign)
    else:
        from dvc_pedata.releases.cite import cite_output

        out = cite_output(args.ref, args.format, args.output, args.registry)
    _render(out, announce=args.format == "policyengine")
    return 0


def _export(args: argparse.Namespace) -> int:
    from dvc_pedata.releases.cite import export_output

    _render(export_output(args.ref, args.format, args.output, args.registry), announce=True)
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
    for w in res.warnings:
        warn(w)
    return 0
