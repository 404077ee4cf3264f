"""``pedata revoke``, ``pedata revocations`` and ``pedata status``."""

from __future__ import annotations

import argparse
import sys

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("revoke", help="revoke an artifact's bytes with a signed tombstone (optionally purge them)")
    p.add_argument("ref", metavar="REF", help="pedata://ns/name@ref or a bare sha256")
    p.add_argument("--reason", help="why the bytes are taken back (required unless resuming a purge)")
    p.add_argument("--authority", help="who withdrew them, e.g. the statistics office (required unless resuming a purge)")
    add_list_flag(p, "--sign", metavar="KEY",
                  help="revoker keys (several after one flag, or repeated; required); add certifier keys to re-sign releases that pin it")
    p.add_argument("--purge", action="store_true", help="delete the bytes from every remote, mirror and local cache")
    p.add_argument("--no-commit", action="store_true", help="write and stage, do not commit")
    add_json_flag(p)
    p.set_defaults(func=_revoke)

    r = sub.add_parser("revocations", help="the revocation list (sha256, reason, authority, date)")
    r.add_argument("--registry", help="registry checkout or git URL (default: the current one)")
    r.add_argument("--rev", help="git revision of the registry")
    add_json_flag(r)
    r.set_defaults(func=_revocations)

    s = sub.add_parser("status", help="revoked artifacts among this project's DVC outputs, imports and files from get -o (exit 4 if any)")
    add_json_flag(s)
    s.set_defaults(func=_status)


def _revoke(args: argparse.Namespace) -> int:
    from dvc_pedata.store.revoke import revoke

    res = revoke(args.ref, reason=args.reason, authority=args.authority, sign=args.sign or [], purge=args.purge,
                 commit=not args.no_commit)
    what = "resumed the purge of" if res.resumed else "revoked"
    lines = [f"{what} sha256:{res.sha256} ({res.reason}; {res.authority}, {res.date}) -> {res.tombstone}"]
    for e in res.purged:
        lines.append(f"  {e.status:8} {e.kind} {e.store}: {e.location}" + (f" ({e.reason})" if e.reason else ""))
    for k in res.kept:
        lines.append(f"  kept     {k['path']} (md5 {k['md5']}): {k['reason']}")
    for r in res.releases:
        lines.append(f"  release {r['namespace']}@{r['version']} is now {r['status']}")
    for c in res.channels:
        lines.append(f"  channel {c['namespace']}/{c['channel']} still points at it ({', '.join(c['artifacts'])}):"
                     " 'pedata verify' fails until it moves: promote a replacement, or"
                     f" 'pedata channel drop {c['namespace']} {c['channel']} {' '.join(c['artifacts'])} --sign KEY'")
    if res.commit:
        lines.append(f"  committed {res.commit[:10]}")
    emit(args, res.to_json(), "\n".join(lines))
    failed = [e for e in res.purged if e.status == "failed"]
    if failed and not args.json:
        print(f"pedata: warning: {len(failed)} place(s) could not be purged; recorded in the tombstone", file=sys.stderr)
    return 1 if failed else 0


def _revocations(args: argparse.Namespace) -> int:
    from dvc_pedata.store.revoke import revocations

    items = revocations(args.registry, args.rev)
    emit(args, items, "\n".join(f"{i['sha256']}  {i['date']}  {i['authority']}: {i['reason']}" for i in items) or None)
    return 0


def _status(args: argparse.Namespace) -> int:
    from dvc_pedata.store.placed import project_status

    st = project_status(".")
    text = "\n".join(
        [f"revoked: {i['path']} (sha256 {i['sha256']}) by {i['authority']} on {i['date']}: {i['reason']}; 'dvc pull' cannot fetch it"
         for i in st.tracked]
        + [f"revoked: {i['path']} (sha256 {i['sha256']}, written by pedata get -o from {i['uri']}) by {i['authority']}"
           f" on {i['date']}: {i['reason']}; delete it and stop using it" for i in st.fetched]
    ) or "no revoked artifacts"
    emit(args, st.items, text)
    return 4 if st.items else 0  # like a refused resolution (RevokedError): scripts and CI notice
