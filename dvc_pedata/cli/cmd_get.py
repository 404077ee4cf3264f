"""``pedata get``, ``pedata import`` and ``pedata audit``: the consumer's side of a registry.

No DVC import at module level: a warm-cache ``pedata get`` must not pay for it.
"""

from __future__ import annotations

import argparse
import sys

from dvc_pedata.cli.output import add_json_flag, emit, print_json, warn


def _resolver_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI", help="pedata://<namespace>/<name>@<ref> (ref: sha256:<hex>, a channel, v<semver>)")
    p.add_argument("--registry", help="registry checkout or git URL (default: the registry containing the current folder)")
    p.add_argument("--rev", help="git branch, tag or commit of the registry to read")
    p.add_argument("--trusted-root", metavar="DIGEST", help="accept only a trust chain starting at this root-1 digest")


def register(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("get", help="resolve a URI to verified bytes (cached by sha256)")
    _resolver_flags(g)
    g.add_argument("-o", "--out", metavar="PATH", help="also place the bytes at PATH (a file or a folder)")
    g.add_argument("--link", choices=["auto", "reflink", "hardlink", "copy"], default="auto",
                   help="how -o places cache objects: reflink, read-only hardlink or copy (auto: the cheapest safe one)")
    g.add_argument("--force", action="store_true", help="with -o: replace files that hold other bytes (refused otherwise)")
    g.add_argument("--offline", action="store_true", help="never touch the network; fail if the bytes are not cached")
    g.add_argument("--require-signed", action="store_true",
                   help="refuse unsigned channels (latest) instead of warning (also: PEDATA_REQUIRE_SIGNED=1)")
    add_json_flag(g)
    g.set_defaults(func=_get)

    i = sub.add_parser("import", help="dvc import an artifact at its release tag, then check its sha256")
    _resolver_flags(i)
    i.add_argument("-o", "--out", metavar="PATH", required=True, help="where the imported file goes in this DVC project")
    add_json_flag(i)
    i.set_defaults(func=_import)

    a = sub.add_parser("audit", help="show the access log of resolutions (local, or the registry's remote trail)")
    a.add_argument("--since", metavar="TIME", help="only entries from TIME on (YYYY-MM-DD, or an ISO time: UTC unless it has an offset)")
    a.add_argument("--remote", action="store_true",
                   help="read the registry's append-only audit trail in its DVC remote (audit/), not this machine's log")
    a.add_argument("--registry", metavar="PATH|URL",
                   help="with --remote: the registry checkout or git URL (default: $PEDATA_REGISTRY, else the one containing the current folder)")
    add_json_flag(a)
    a.set_defaults(func=_audit)


def _get(args: argparse.Namespace) -> int:
    from dvc_pedata.resolver.resolve import resolve

    res = resolve(args.uri, args.registry, args.rev, offline=args.offline, trusted_root=args.trusted_root,
                  require_signed=args.require_signed)
    for w in res.warnings:
        warn(w)
    assert res.path is not None
    data = res.to_json()
    shown = res.path
    if args.out:
        from dvc_pedata.resolver.materialise import place

        placed = place(res, args.out, args.link, force=args.force)
        for w in placed.warnings:
            warn(w)
        shown = placed.path
        data["out"], data["link"] = str(shown), placed.used
        from dvc_pedata.store.placed import record

        record(shown, res.uri, res.sha256, res.registry, res.rev)  # for pedata status (after the bytes are in place)
    emit(args, data, str(shown))
    return 0


def _import(args: argparse.Namespace) -> int:
    from dvc_pedata.resolver.dvcimport import import_uri

    imp = import_uri(args.uri, args.out, args.registry, args.rev, trusted_root=args.trusted_root)
    for w in imp.resolution.warnings:
        warn(w)
    emit(args, imp.to_json(), f"imported {imp.resolution.uri} -> {imp.out} (sha256 {imp.resolution.sha256} verified, dvc file {imp.dvcfile.name}, rev {imp.rev})")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from dvc_pedata.resolver.audit import audit_entries

    entries = audit_entries(args.since, remote=args.remote, registry=args.registry)
    if args.json:
        print_json(entries)
        return 0
    for e in entries:
        sys.stdout.write(f"{e.get('time')}  {e.get('user')}  {e.get('uri')}  sha256:{str(e.get('sha256'))[:12]}  {e.get('source')}\n")
    return 0
