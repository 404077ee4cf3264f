"""``pedata certify`` and ``pedata retire``: the release lifecycle."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, add_list_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certify", help="certify a signed channel as a release: sign, commit, tag <ns>/v<version>")
    p.add_argument("namespace", metavar="NS")
    p.add_argument("version", metavar="VERSION", help="semver, greater than every earlier release of NS")
    p.add_argument("--from", dest="source", default="next", help="channel to certify (default: next)")
    add_list_flag(p, "--sign", metavar="KEY", required=True, help="certifier keys (several after one flag, or repeated)")
    p.add_argument("--compat-mode", default="backward", choices=["forward", "backward", "both", "break"],
                   help="compatibility with the previous release (default: backward; break needs --notice)")
    p.add_argument("--notice", metavar="TEXT", help="release notice shown to users")
    p.add_argument("--certified-for", metavar="PACKAGE==VERSION", help="the model package this data is certified for")
    p.add_argument("--status", default="certified", choices=["provisional", "certified"])
    p.add_argument("--expires", metavar="DURATION", help="expiry of a provisional release (default 30d)")
    p.add_argument("--no-gto-tag", action="store_true", help="do not create the GTO tag <ns>@v<version>")
    add_json_flag(p)
    p.set_defaults(func=_certify)
    r = sub.add_parser("retire", help="retire a release with a withdrawal notice (status retired)")
    r.add_argument("namespace", metavar="NS")
    r.add_argument("version", metavar="VERSION")
    add_list_flag(r, "--sign", metavar="KEY", required=True, help="certifier keys (several after one flag, or repeated)")
    r.add_argument("--notice", required=True, metavar="TEXT", help="why the release is withdrawn")
    add_json_flag(r)
    r.set_defaults(func=_retire)


def _certify(args: argparse.Namespace) -> int:
    from dvc_pedata.releases.certify import certify

    res = certify(args.namespace, args.version, sign=args.sign, source=args.source, compat_mode=args.compat_mode,
                  notice=args.notice, certified_for=args.certified_for, status=args.status,
                  expires=args.expires, gto_tag=not args.no_gto_tag)
    emit(args, res.to_json(), res.text())
    return 0


def _retire(args: argparse.Namespace) -> int:
    from dvc_pedata.releases.certify import retire

    res = retire(args.namespace, args.version, sign=args.sign, notice=args.notice)
    emit(args, res.to_json(), f"retired {res.release.namespace}@{res.release.version} (commit {res.commit})")
    return 0
