"""Would ``pedata replay`` be able to rebuild this release? ``certify`` asks before it signs.

A release is a promise that its bytes can be rebuilt (``replay NS@VERSION --policy strict``
checks out the release's commit, restores raw inputs by ``locks/inputs.manifest.json`` and forces
``dvc repro``). A certified release whose commit lacks what replay needs can never keep that
promise, and finding out years later is too late. The release's commit is HEAD plus the release
file, so the checks read HEAD (committed state, not the work tree):

- the inputs lock is committed and parses;
- every pin whose manifest names a producer stage (bytes this registry's pipeline built) is an
  output of a stage of the pipeline at HEAD;
- every raw input of that pipeline (a dependency no stage produces, or a ``dvc add``-ed file) has an
  entry in the lock, with the md5 HEAD's ``dvc.lock`` records for it (a stale lock makes replay
  refuse the input as tampered).

Pins without a producer stage (external pins, adopted or hand-registered bytes) have nothing to
replay and are not judged here. A registry that does not promise replays opts out in pedata.json:
``"replay": {"enabled": false}`` (``lineage --lint`` honours the same setting).
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import PedataError
from dvc_pedata.model.locks import load_inputs_lock
from dvc_pedata.publish.locks import INPUTS_LOCK, raw_inputs
from dvc_pedata.registry.repo import Registry

OPT_OUT = "set \"replay\": {\"enabled\": false} in pedata.json if this registry does not promise replays"


def replay_enabled(reg: Registry) -> bool:
    setting = reg.config.get("replay") or {}
    return setting.get("enabled", True) is not False


def refuse_unreplayable(reg: Registry, ns: str, version: str, pins: dict[str, dict[str, Any]]) -> None:
    """Raise :class:`PedataError` (one line: what is missing and how to fix it) unless replay could
    rebuild release ``ns@version`` of ``pins`` from HEAD."""
    if not replay_enabled(reg):
        return
    built = {}
    for name, pin in sorted(pins.items()):
        m = reg.load_manifest(ns, name, pin["sha256"])
        producer = m.producer if isinstance(m.producer, dict) else {}
        if producer.get("stage") and isinstance(m.body.get("path"), str):
            built[name] = m.body["path"]
    if not built:
        return
    what = f"release {ns}@{version} could not be replayed from this commit"
    data = gitio.show(reg.root, "HEAD", INPUTS_LOCK)
    if data is None:
        raise PedataError(f"{what}: HEAD has no committed {INPUTS_LOCK} (run 'pedata lock' or 'pedata publish', "
                          f"commit the locks, then certify; or {OPT_OUT})")
    lock = load_inputs_lock(data, f"{INPUTS_LOCK} at HEAD")
    from dvc_pedata.dvcio.pipeline import (
        pipeline_stages,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    stages = pipeline_stages(reg.root, rev=gitio.head(reg.root))
    outs = {o["path"] for s in stages for o in s.outs}
    for name, path in built.items():
        if path not in outs:
            raise PedataError(f"{what}: pin {name!r} ({path}) is not an output of any stage of the pipeline at HEAD "
                              f"(commit dvc.yaml and dvc.lock; or {OPT_OUT})")
    locked = {e["path"]: e for e in lock["inputs"]}
    recorded = {d["path"]: d.get("md5") for s in stages for d in s.deps}
    for item in raw_inputs(stages):
        p = item["path"]
        entry = locked.get(p)
        if entry is None and not any(k.startswith(p.rstrip("/") + "/") for k in locked):
            raise PedataError(f"{what}: raw input {p} is not in {INPUTS_LOCK} at HEAD (run 'pedata lock', commit, "
                              f"then certify; or {OPT_OUT})")
        md5 = item["dvc_md5"] or recorded.get(p)
        if entry is not None and md5 and not md5.endswith(".dir") and entry.get("md5") and entry["md5"] != md5:
            raise PedataError(f"{what}: {INPUTS_LOCK} at HEAD is stale for {p} (md5 {entry['md5']}, dvc.lock records "
                              f"{md5}); run 'pedata lock', commit, then certify")
