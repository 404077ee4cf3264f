"""``verify`` for external and adopted pins: an adopted copy must hold the very bytes the pin names.

For every adoption record ``adopted/<ns>/<name>/<sha256>.json``:

* it matches its schema and its name, and the registry has the pinned manifest it names;
* its embedded manifest (the adopted copy's sidecar) describes the same sha256, md5 and size;
* the ``.dvc`` file exists and records the same md5 and size;
* the bytes hash to the sha256: the copy in the workspace or in the local DVC cache is hashed
  through pedata's hash state (keyed by inode, mtime and size, so an unchanged file costs a
  ``stat`` on the next run). Bytes not present locally are checked only with ``verify --remote``
  (present in the remote) and ``--remote --deep`` (streamed from the remote and hashed).

Every pin whose location is ``{"type": "dvc"}`` must match an adoption record's md5, and every
external location must be a well-formed ``hf://`` or ``https://`` location.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.base.hashing import HashState, hash_stream
from dvc_pedata.errors import PedataError
from dvc_pedata.model.documents import Adoption, Manifest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dvc_pedata.verify.core import VerifyOptions


def _dvc_out(ctx: Any, rel: str) -> dict[str, Any] | None:
    from ruamel.yaml import YAML

    path = ctx.reg.root / rel
    if not path.is_file():
        return None
    data = YAML(typ="safe").load(path.read_text())
    outs = (data or {}).get("outs") or []
    return outs[0] if outs and isinstance(outs[0], dict) else {}


def _local_copy(ctx: Any, rec: Any) -> Any:
    root = ctx.reg.root
    for cand in (root / rec.path, root / ".dvc" / "cache" / "files" / "md5" / rec.md5[:2] / rec.md5[2:]):
        if cand.is_file():
            return cand
    return None


def _check_bytes(ctx: Any, rel: str, rec: Any, options: VerifyOptions) -> None:
    local = _local_copy(ctx, rec)
    if local is not None:
        with HashState(ctx.reg.state_dir / "hashes.db") as state:
            fd, _ = state.hash_file(local)
        ctx.counts["adopted bytes hashed"] += 1
        if fd.sha256 != rec.sha256:
            ctx.violation(rel, f"adopted bytes at {ctx.reg.rel(local)} hash to sha256 {fd.sha256[:12]}…, not the pinned {rec.sha256[:12]}…")
        return
    if not options.remote:
        return
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcRepo,
    )

    with DvcRepo(ctx.reg.root) as repo:
        remote = rec.body["remote"]
        try:
            if repo.remote_object_size(rec.md5, remote) is None:
                ctx.violation(rel, f"adopted bytes (md5 {rec.md5}) are missing from DVC remote {remote or 'default'}")
                return
            if options.deep:
                fd = hash_stream(repo.iter_remote_object(rec.md5, remote))
                ctx.counts["adopted bytes hashed"] += 1
                if fd.sha256 != rec.sha256:
                    ctx.violation(rel, f"DVC remote {remote or 'default'} holds bytes for md5 {rec.md5} that hash to {fd.sha256[:12]}…, not the pinned {rec.sha256[:12]}…")
        except PedataError as exc:
            ctx.violation(rel, f"cannot check the adopted bytes in the remote: {exc.message}")


def _check_record(ctx: Any, rel: str, options: VerifyOptions) -> dict[str, str] | None:
    try:
        rec = Adoption.load(ctx.reg.root / rel, rel)
    except PedataError as exc:
        ctx.violation(rel, str(exc).removeprefix(rel + ": "))
        return None
    ctx.counts["adoption"] += 1
    if rel != f"adopted/{rec.namespace}/{rec.name}/{rec.sha256}.json":
        ctx.violation(rel, f"stored under the wrong name: the record adopts {rec.namespace}/{rec.name} sha256 {rec.sha256[:12]}…")
    pinned = ctx.manifest_for(rec.namespace, rec.name, rec.sha256)
    if pinned is None:
        ctx.violation(rel, f"adopts sha256 {rec.sha256[:12]}… but manifests/{rec.namespace}/{rec.name}/{rec.sha256}.json does not exist")
    elif pinned.digest != rec.body["pinned_manifest_sha256"]:
        ctx.violation(rel, f"names manifest {rec.body['pinned_manifest_sha256'][:12]}…, the registry's is {pinned.digest[:12]}…")
    elif pinned.size is not None and pinned.size != rec.size:
        ctx.violation(rel, f"size {rec.size} differs from the pinned manifest's {pinned.size}")
    try:
        m = Manifest.from_obj(rec.body["manifest"], f"{rel} (manifest)")
        if (m.sha256, m.md5, m.size, m.namespace, m.name) != (rec.sha256, rec.md5, rec.size, rec.namespace, rec.name):
            ctx.violation(rel, "its manifest describes other bytes than the record (sha256, md5, size or name differ)")
    except PedataError as exc:
        ctx.violation(rel, str(exc))
    out = _dvc_out(ctx, rec.dvcfile)
    if out is None:
        ctx.violation(rel, f"{rec.dvcfile} is missing: the adopted bytes are not tracked by DVC")
    elif (out.get("md5"), out.get("size")) != (rec.md5, rec.size):
        ctx.violation(rel, f"{rec.dvcfile} records md5 {out.get('md5')} size {out.get('size')}, the record says md5 {rec.md5} size {rec.size}")
    _check_bytes(ctx, rel, rec, options)
    return {rec.sha256: rec.md5}


def run(ctx: Any) -> None:
    from dvc_pedata.resolver.external import (  # lazy: ssl/urllib; only external (hf://, https://) fetches pay for them
        location_of,
    )

    options: VerifyOptions = ctx.options
    adopted: dict[str, str] = {}
    folder = ctx.reg.root / "adopted"
    if folder.is_dir():
        for p in sorted(folder.glob("*/*/*.json")):
            got = _check_record(ctx, p.relative_to(ctx.reg.root).as_posix(), options)
            adopted.update(got or {})
    docs = [(rel, ch.artifacts) for rel, ch in ctx.channels.items()] + [(rel, r.pins) for rel, r in ctx.releases.items()]
    for rel, pins in docs:
        for name, pin in sorted(pins.items()):
            if not pin.get("location"):
                continue
            try:
                loc = location_of(pin["location"])
            except PedataError as exc:
                ctx.violation(rel, f"pin {name!r}: {exc.message}")
                continue
            if loc is not None and loc.type == "dvc" and adopted.get(pin["sha256"]) != loc.md5:
                ctx.violation(rel, f"pin {name!r} names DVC object {loc.md5}, but no adoption record of sha256 {pin['sha256'][:12]}… has that md5")
