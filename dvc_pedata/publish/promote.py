"""``pedata promote``: move pins from one channel to another as a signed, reviewable git commit.

The target channel gets version + 1 with ``prev`` chained, is signed by the promoter's key, and is
committed on a new branch; the printed markdown is the pull-request body (what moves, from which
sha256 to which, and the schema diff), so a reviewer sees the change before it lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.timeutil import expires_in
from dvc_pedata.errors import NotFoundError, PedataError, SignatureError
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Channel
from dvc_pedata.model.names import LATEST
from dvc_pedata.model.schema_diff import diff_manifests, render_markdown
from dvc_pedata.publish.channels import _next_position, advance
from dvc_pedata.registry import gitlock
from dvc_pedata.registry.lock import registry_lock
from dvc_pedata.registry.refs import manifest_for_pin
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.revoked import RevokedIndex, refuse_upload
from dvc_pedata.trust.signing import check_threshold
from dvc_pedata.trust.signing import sign as sign_doc


@dataclass
class Move:
    name: str
    before: str | None
    after: str
    diff: dict[str, Any] | None = None


@dataclass
class PromoteResult:
    namespace: str
    source: str
    target: str
    version: int
    digest: str
    branch: str | None
    commit: str | None
    moves: list[Move] = field(default_factory=list)
    signature_status: list[str] = field(default_factory=list)
    path: str = ""
    previous_branch: str | None = None  # where the user was (promote checks out its own branch); not in to_json()

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace, "from": self.source, "to": self.target, "version": self.version,
            "digest": self.digest, "branch": self.branch, "commit": self.commit, "path": self.path,
            "moves": [{"name": m.name, "from": m.before, "to": m.after} for m in self.moves],
            "signature_problems": self.signature_status,
        }


@dataclass
class PromotePlan:
    """A promotion checked and signed in memory: what ``apply_promote`` writes and commits."""

    reg: Registry
    ns: str
    source: str
    target: str
    doc: Any  # the signed Channel
    rel: str
    moves: list[Move]
    branch: str | None  # where the commit goes (None: --no-commit)
    trust_root: Any


def plan_promote(reg: Registry, ns: str, source: str, target: str, *, signers: list[Any], trust_root: Any,
                 only: list[str] | None, branch: str | None, expires: str | None, commit: bool) -> PromotePlan:
    """Every check ``promote`` makes, the channel version signed, and the moves with their schema
    diffs; writes nothing. Called under the registry lock."""
    src = reg.load_channel(ns, source)
    if src is None:
        raise NotFoundError(f"no channel {ns}/{source} to promote from")
    names = list(only) if only else sorted(src.artifacts)
    missing = [n for n in names if n not in src.artifacts]
    if missing:
        raise NotFoundError(f"channel {ns}/{source} has no artifact {missing[0]!r}")
    pins = {n: src.artifacts[n] for n in names}
    tombstones = RevokedIndex(reg)  # a revoked pin is never signed into another channel
    for n in names:
        refuse_upload(tombstones, f"channel {ns}/{source} artifact {n!r}", sha256=pins[n].get("sha256"),
                      action="promote",
                      hint=f"drop it first (pedata channel drop {ns} {source} {n} --sign KEY) or promote the others with --only")
    rel = reg.rel(reg.channel_path(ns, target))
    old = reg.load_channel(ns, target)
    pending = _interrupted(reg, ns, target, rel, old, pins, replace=not only, branch=branch) if commit else None
    if pending is not None:  # finish what a killed run of this promotion left uncommitted
        old, doc = pending
    else:
        doc = advance(reg, ns, target, pins, replace=not only, expires=expires_in(expires))
    if doc is None:
        raise PedataError(f"channel {ns}/{target} already pins exactly these artifacts; nothing to promote")
    for s in signers:
        sign_doc(doc, s)
    moves = []
    for n in sorted(doc.artifacts):
        before = old.artifacts.get(n) if old else None
        after = doc.artifacts[n]
        if before == after:
            continue
        d = None
        if before is not None:
            d = diff_manifests(manifest_for_pin(reg, ns, n, before), manifest_for_pin(reg, ns, n, after),
                               registry_reader(reg.root))
        else:
            manifest_for_pin(reg, ns, n, after)  # the pin must name a real manifest
        moves.append(Move(n, before["sha256"] if before else None, after["sha256"], d))
    if pending is None and gitio.is_dirty(reg.root, [rel]):
        raise PedataError(f"{rel} has uncommitted changes; commit or discard them before promoting")
    br = None
    if commit:
        br = branch or f"promote/{ns}-{target}-v{doc.version}"
        gitio.check_user_rev(br, "branch name")  # never an option to git checkout -b
        if gitio.current_branch(reg.root) != br and gitio.git(reg.root, "rev-parse", "--verify", "-q", f"refs/heads/{br}", check=False):
            raise PedataError(f"branch {br!r} already exists: another promotion to version {doc.version} is under way")
    return PromotePlan(reg, ns, source, target, doc, rel, moves, br, trust_root)


def apply_promote(todo: PromotePlan) -> PromoteResult:
    """Switch to the promotion's branch (unless a killed run of it already did), write the channel,
    commit it; every git write is marked so a killed run's git locks can be cleared next time."""
    reg, doc, br = todo.reg, todo.doc, todo.branch
    sha = None
    with gitlock.git_writes(reg):
        if br is not None and gitio.current_branch(reg.root) != br:
            gitio.git(reg.root, "checkout", "-q", "-b", br)
        doc.save(reg.root / todo.rel)
        if br is not None:
            sha = gitio.commit(reg.root, f"Promote {todo.ns}: {todo.source} -> {todo.target} (version {doc.version})", [todo.rel])
        else:
            gitio.add(reg.root, [todo.rel])
    problems = check_threshold(doc, todo.trust_root, "promoter", todo.ns)
    return PromoteResult(todo.ns, todo.source, todo.target, doc.version, doc.digest, br, sha, todo.moves, problems, todo.rel)


def promote(
    namespace: str,
    source: str = LATEST,
    target: str = "next",
    *,
    sign: list[str],
    only: list[str] | None = None,
    branch: str | None = None,
    expires: str | None = None,
    commit: bool = True,
    root: Path | str = ".",
) -> PromoteResult:
    """Write ``channels/<ns>/<target>.json`` from ``source``'s pins, signed, on a new branch."""
    from dvc_pedata.trust.root import (  # lazy: cryptography; only signed refs and signing pay for it
        load_role_signers,
    )

    try:  # where the user was, to say how to get back
        previous = gitio.current_branch(gitio.toplevel(Path(root)))
    except PedataError:
        previous = None
    reg = Registry.find(root)
    ns = reg.namespace(namespace)
    if source == target:
        raise PedataError("--from and --to name the same channel")
    if not sign:
        raise SignatureError("promote needs --sign KEY (a promoter key)")
    signers, trust_root = load_role_signers(reg, sign, "promoter")
    with registry_lock(reg.state_dir, wait=False):
        # git locks a killed run of ours left behind (.git/index.lock) would fail every git write
        gitlock.recover(reg)
        todo = plan_promote(reg, ns, source, target, signers=signers, trust_root=trust_root, only=only,
                            branch=branch, expires=expires, commit=commit)
        result = apply_promote(todo)
    result.previous_branch = previous
    return result


def _interrupted(reg: Registry, ns: str, target: str, rel: str, current: Any, pins: dict[str, Any], *,
                 replace: bool, branch: str | None) -> tuple[Any, Any] | None:
    """``(committed channel, document to commit)`` when a run of this same promotion was killed
    after writing the channel but before committing it, else None.

    That state is exact: the promotion's own branch is checked out, the work-tree channel is
    uncommitted, it is the next version after the committed one (``prev`` chained to it) and it
    pins exactly what this promotion pins. Its signatures are made again by the given keys.
    """
    if current is None or not gitio.is_dirty(reg.root, [rel]):
        return None
    if gitio.current_branch(reg.root) != (branch or f"promote/{ns}-{target}-v{current.version}"):
        return None
    data = gitio.show(reg.root, "HEAD", rel)
    committed = Channel.from_bytes(data, f"HEAD:{rel}") if data is not None else None
    if (current.version, current.prev) != _next_position(reg, ns, target, committed):
        return None
    want = dict(pins) if replace or committed is None else {**committed.artifacts, **pins}
    if current.artifacts != dict(sorted(want.items())):
        return None
    return committed, Channel(dict(current.body), [])


def pr_body(res: PromoteResult) -> str:
    """Markdown for the pull request: the moves, their schema diffs, and what CI will check."""
    lines = [
        f"## Promote `{res.namespace}`: `{res.source}` → `{res.target}` (version {res.version})",
        "",
        f"Channel document `{res.path}`, digest `{res.digest}`.",
        "",
        "| artifact | from sha256 | to sha256 |",
        "|---|---|---|",
    ]
    for m in res.moves:
        lines.append(f"| `{m.name}` | {('`' + m.before + '`') if m.before else '(new)'} | `{m.after}` |")  # whole: reviewers compare them
    for m in res.moves:
        if m.diff is not None:
            lines += ["", render_markdown(m.diff)]
    lines += ["", "Signatures: " + ("promoter threshold met." if not res.signature_status else "; ".join(res.signature_status)
                                   + " — add signatures with `pedata sign " + res.path + " --sign KEY`."),
              "", "CI runs `pedata verify` on this branch: signatures, version chain, pins and manifests."]
    return "\n".join(lines)
