"""``pedata trust state [--reset REGISTRY_ID]``: what this consumer remembers per registry.

Registered as a subcommand of ``pedata trust`` (``cmd_trust`` calls :func:`register_under`);
the state itself is :mod:`dvc_pedata.resolver.state`. Reading never changes it; ``--reset``
forgets one registry on purpose (e.g. after a registry was re-created) and says what it forgot.
"""

from __future__ import annotations

import argparse

from dvc_pedata.cli.output import add_json_flag, emit


def register_under(tsub: argparse._SubParsersAction) -> None:
    st = tsub.add_parser("state", help="show (or reset) what this consumer remembers about each registry")
    st.add_argument("--reset", metavar="REGISTRY_ID",
                    help="forget one registry (the sha256 digest of its trust root 1, as listed)")
    add_json_flag(st)
    st.set_defaults(func=_state)


def _state(args: argparse.Namespace) -> int:
    from dvc_pedata.resolver import state as consumer_state

    if args.reset:
        forgot = consumer_state.reset(args.reset)
        text = (f"forgot registry {args.reset}: its newest root, channel versions and seen revocations"
                if forgot else f"nothing remembered about registry {args.reset}")
        emit(args, {"reset": args.reset, "forgot": forgot}, text)
        return 0
    states = consumer_state.known()
    lines = []
    for st in states:
        lines.append(f"registry {st['registry']}: trust root version {st['root_version']}")
        lines += [f"  channel {name}: version {v}" for name, v in sorted(st["channels"].items())]
        lines += [f"  release {name}: pins sha256:{d}" for name, d in sorted(st.get("releases", {}).items())]
        lines += [f"  revoked {sha}: {note}" for sha, note in sorted(st["tombstones"].items())]
    emit(args, {"state_dir": str(consumer_state.state_dir()), "registries": states},
         "\n".join(lines) or f"no registry remembered yet ({consumer_state.state_dir()})")
    return 0
