"""``pedata publish``."""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit, warn


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="register pipeline outputs: manifests, channel latest, dvc push")
    p.add_argument("paths", nargs="*", metavar="PATH", help="DVC outputs to publish (default: dvc.yaml artifacts)")
    p.add_argument("--namespace", "-n", help="namespace (default: the artifact's meta, else the registry default)")
    p.add_argument("--remote", "-r", help="DVC remote to push to (default: the registry's)")
    p.add_argument("--no-push", action="store_true", help="do not push payloads (offline dry registration)")
    add_json_flag(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from dvc_pedata.publish.publish import publish

    res = publish(args.paths, args.namespace, push=not args.no_push, remote=args.remote)
    lines = []
    for a in res.artifacts:
        state = "new manifest" if a.manifest_created else "unchanged"
        lines.append(f"{a.namespace}/{a.name}  sha256:{a.sha256}  {a.size} bytes  ({state})")
    for rel in res.locks_written:
        lines.append(f"recorded {rel}")
    for ns, version in sorted(res.channels.items()):
        lines.append(f"channel {ns}/latest -> version {version}")
    if not res.channels:
        lines.append("channel latest unchanged")
    for w in res.warnings:
        warn(w)
    emit(args, res.to_json(), "\n".join(lines))
    return 0
