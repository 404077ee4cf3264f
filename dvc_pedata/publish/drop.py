"""``pedata channel drop``: take artifacts out of a channel as a signed, reviewable git commit.

After a revocation, ``verify`` fails while a channel still pins the revoked bytes, and ``latest`` is
otherwise only written by ``publish`` (which refuses revoked bytes, and merges rather than removes).
A drop writes the channel's next version without the named artifacts (``prev`` chained, version
+ 1, expiry kept unless ``expires`` is given), signed by promoter keys, and commits it on a new
branch ``drop/<ns>-<channel>-v<version>`` exactly like a promotion: the printed markdown is the
pull-request body, and CI's ``pedata verify`` judges it (promoter threshold for signed channels,
the version chain against the base).

Crash ordering: every check (keys, channel, names, a clean channel file) happens before the branch
is made; the channel is written (temp file + rename) on the new branch, then committed. A run
killed between the write and the commit leaves the branch checked out with the channel modified;
``git checkout -- channels/<ns>/<channel>.json`` and deleting the branch undo it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.timeutil import expires_in
from dvc_pedata.errors import NotFoundError, PedataError, SignatureError, UsageError
from dvc_pedata.publish.channels import advance
from dvc_pedata.registry.lock import registry_lock
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.revoked import RevokedIndex
from dvc_pedata.trust.signing import check_threshold
from dvc_pedata.trust.signing import sign as sign_doc


@dataclass
class Dropped:
    name: str
    sha256: str
    revoked: str | None  # the tombstone's path and reason, when these bytes are revoked


@dataclass
class DropResult:
    namespace: str
    channel: str
    version: int
    digest: str
    path: str
    branch: str | None
    previous_branch: str | None
    commit: str | None
    dropped: list[Dropped] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    signature_problems: list[str] = field(default_factory=list)
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace, "channel": self.channel, "version": self.version, "digest": self.digest,
            "path": self.path, "branch": self.branch, "previous_branch": self.previous_branch, "commit": self.commit,
            "dropped": [{"name": d.name, "sha256": d.sha256, "revoked": d.revoked} for d in self.dropped],
            "kept": self.kept, "signature_problems": self.signature_problems, "reason": self.reason,
        }


def drop(
    namespace: str,
    channel: str,
    names: list[str],
    *,
    sign: list[str],
    reason: str | None = None,
    branch: str | None = None,
    expires: str | None = None,
    commit: bool = True,
    root: Path | str = ".",
) -> DropResult:
    """Write ``channels/<ns>/<channel>.json`` without ``names``, signed, on a new branch."""
    from dvc_pedata.trust.root import (  # lazy: cryptography; only signed refs and signing pay for it
        load_role_signers,
    )

    reg = Registry.find(root)
    ns = reg.namespace(namespace)
    if not names:
        raise UsageError("name at least one artifact to drop")
    if not sign:
        raise SignatureError("channel drop needs --sign KEY (a promoter key)")
    signers, trust_root = load_role_signers(reg, sign, "promoter")
    with registry_lock(reg.state_dir, wait=False):
        current = reg.load_channel(ns, channel)
        if current is None:
            raise NotFoundError(f"no channel {ns}/{channel}")
        missing = [n for n in names if n not in current.artifacts]
        if missing:
            have = ", ".join(sorted(current.artifacts)) or "none"
            raise NotFoundError(f"channel {ns}/{channel} has no artifact {missing[0]!r} (it pins: {have})")
        path = reg.channel_path(ns, channel)
        rel = reg.rel(path)
        if gitio.is_dirty(reg.root, [rel]):
            raise PedataError(f"{rel} has uncommitted changes; commit or discard them before dropping from it")
        kept = {n: p for n, p in current.artifacts.items() if n not in names}
        doc = advance(reg, ns, channel, kept, replace=True,
                      expires=expires_in(expires) if expires else current.expires)
        assert doc is not None  # at least one name was removed
        for s in signers:
            sign_doc(doc, s)
        tombstones = RevokedIndex(reg)
        dropped = []
        for n in sorted(set(names)):
            hit = tombstones.find(sha256=current.artifacts[n]["sha256"])
            dropped.append(Dropped(n, current.artifacts[n]["sha256"], hit.describe() if hit else None))
        previous = gitio.current_branch(reg.root)
        br = sha = None
        if commit:
            br = branch or f"drop/{ns}-{channel}-v{doc.version}"
            if gitio.git(reg.root, "rev-parse", "--verify", "-q", f"refs/heads/{br}", check=False):
                raise PedataError(f"branch {br!r} already exists: another change to {ns}/{channel} version {doc.version} is under way")
            gitio.git(reg.root, "checkout", "-q", "-b", br)
        doc.save(path)
        if commit:
            message = f"Drop {', '.join(d.name for d in dropped)} from {ns}/{channel} (version {doc.version})"
            if reason:
                message += f"\n\n{reason.strip()}"
            sha = gitio.commit(reg.root, message, [rel])
        else:
            gitio.add(reg.root, [rel])
        problems = check_threshold(doc, trust_root, "promoter", ns)
    return DropResult(ns, channel, doc.version, doc.digest, rel, br, previous, sha, dropped, sorted(kept),
                      problems, reason)


def pr_body(res: DropResult) -> str:
    """Markdown for the pull request: what leaves the channel, why, and what CI will check."""
    lines = [f"## Drop from `{res.namespace}/{res.channel}` (version {res.version})", ""]
    if res.reason:
        lines += [res.reason.strip(), ""]
    lines += [f"Channel document `{res.path}`, digest `{res.digest}`.", "",
              "| artifact | sha256 | revoked |", "|---|---|---|"]
    for d in res.dropped:
        lines.append(f"| `{d.name}` | `{d.sha256}` | {d.revoked or 'no'} |")
    lines += ["", "Still pinned: " + (", ".join(f"`{n}`" for n in res.kept) or "nothing (the channel is empty)") + ".",
              "", "Signatures: " + ("promoter threshold met." if not res.signature_problems else
                                   "; ".join(res.signature_problems) + f" — add signatures with `pedata sign {res.path} --sign KEY`."),
              "", "CI runs `pedata verify` on this branch: signatures, version chain, pins and manifests."]
    return "\n".join(lines)
