"""``pedata mirror``, ``pedata fsck`` and ``pedata gc``: store maintenance."""

from __future__ import annotations

import argparse
import sys

from dvc_pedata.cli.output import add_json_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("mirror", help="copy every pinned, unrevoked payload to another DVC remote (sha256-checked)")
    m.add_argument("--to", required=True, metavar="REMOTE", help="destination DVC remote name")
    m.add_argument("--from", dest="source", metavar="REMOTE", help="source remote (default: pedata.json remote)")
    m.add_argument("--namespace", metavar="NS", help="only this namespace's pins")
    m.add_argument("--deep", action="store_true",
                   help="also hash the objects already in the destination and replace those with the wrong sha256")
    add_json_flag(m)
    m.set_defaults(func=_mirror)

    f = sub.add_parser("fsck", help="check every pinned payload is in each store; report missing, corrupt, revoked")
    f.add_argument("--remote", metavar="NAME", help="check only this DVC remote (default: remote and mirrors)")
    f.add_argument("--namespace", metavar="NS", help="only this namespace's pins")
    f.add_argument("--deep", action="store_true", help="hash the stored bytes, not just their size; also re-hash the local resolver cache")
    add_json_flag(f)
    f.set_defaults(func=_fsck)

    g = sub.add_parser("gc", help="delete objects no channel, release or manifest in history references")
    g.add_argument("--remote", metavar="NAME", help="DVC remote (default: pedata.json remote)")
    g.add_argument("--dry-run", action="store_true", help="list orphans, delete nothing")
    add_json_flag(g)
    g.set_defaults(func=_gc)


def _mirror(args: argparse.Namespace) -> int:
    from dvc_pedata.store.mirror import mirror

    rep = mirror(args.to, namespace=args.namespace, source=args.source, deep=args.deep)
    lines = [f"{i.status:8} {i.uri}" + (f" -> {i.url}" if i.url and i.status in ("copied", "repaired") else "")
             + (f" ({i.reason})" if i.reason else "") for i in rep.items]
    lines.append(f"mirror {rep.source} -> {rep.target}: {rep.count('copied')} copied, {rep.count('repaired')} repaired"
                 f" ({rep.bytes_copied} bytes), {rep.count('present')} already present{' (re-hashed)' if args.deep else ''},"
                 f" {rep.count('revoked')} revoked skipped, {rep.count('failed')} failed")
    emit(args, rep.to_json(), "\n".join(lines))
    return 0 if rep.ok else 1


def _fsck(args: argparse.Namespace) -> int:
    from dvc_pedata.store.fsck import fsck

    rep = fsck(".", args.remote, deep=args.deep, namespace=args.namespace)
    if args.json:
        emit(args, rep.to_json(), None)
    else:
        for f in rep.findings:
            print(str(f))
        summary = f"{len(rep.findings)} problem(s)" if rep.findings else "OK"
        cache = f"; cache: {rep.cache['objects']} objects, {rep.cache['trees']} trees re-hashed" if rep.cache is not None else ""
        print(f"pedata fsck: {summary} ({rep.checked} checks in {', '.join(rep.remotes)}{', deep' if rep.deep else ''}{cache})",
              file=sys.stderr if rep.findings else sys.stdout)
    return 0 if rep.ok else 1


def _gc(args: argparse.Namespace) -> int:
    from dvc_pedata.store.gc import gc

    rep = gc(".", args.remote, dry_run=args.dry_run)
    lines = [f"{o.status:8} {o.url} ({o.size if o.size is not None else '?'} bytes)" + (f": {o.reason}" if o.reason else "")
             for o in rep.orphans]
    verb = "would reclaim" if rep.dry_run else "reclaimed"
    lines.append(f"gc {rep.remote}: {len(rep.orphans)} orphan(s), {rep.kept} kept, {verb} {rep.bytes_reclaimed} bytes")
    emit(args, rep.to_json(), "\n".join(lines))
    return 0 if rep.ok else 1
