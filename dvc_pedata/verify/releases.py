"""Release checks for ``pedata verify``: tags certify the right commit and never move; expiry.

* ``<ns>/v<version>`` must be an annotated tag on a commit whose ``releases/<ns>/<version>.json``
  has exactly the digest the tag message names, and that commit must be the one that first added
  the file (a tag re-pointed to a later commit is a moved tag, even if the digest still matches);
* ``<ns>@v<version>`` (GTO), when present, must name the same commit;
* every release in the tree has its citation tag, and no citation tag lacks its release;
* a provisional release carries an expiry and is reported once it has passed;
* the source channel a release names (name, version, digest) is the channel document committed at
  the release's certification commit, and the release pins exactly what it pinned: a release cut
  from a channel nobody committed (so nobody reviewed) is the silent promote certification stops.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.timeutil import parse_time
from dvc_pedata.errors import PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import digest as canonical_digest
from dvc_pedata.model.canonical import loads_strict
from dvc_pedata.model.documents import Channel
from dvc_pedata.model.uri import gto_tag_name, tag_name
from dvc_pedata.registry.tags import read_tag


def _first_commit(root: Any, path: str) -> str | None:
    out = gitio.git(root, "log", "--diff-filter=A", "--format=%H", "--reverse", "HEAD", "--", path, check=False)
    lines = out.split()
    return lines[0] if lines else None


def _check_source_channel(ctx: Any, rel: str, r: Any, commit: str) -> None:
    sc = r.source_channel
    if not sc:
        return  # written by hand, not by certify: its certifiers vouch for the pins alone
    try:
        path = ctx.reg.rel(ctx.reg.channel_path(r.namespace, sc["name"]))
    except PedataError as exc:
        ctx.violation(rel, f"source channel: {exc}")
        return
    data = gitio.show(ctx.reg.root, commit, path)
    where = f"at its certification commit {commit[:10]}"
    if data is None:
        ctx.violation(rel, f"certified from channel {r.namespace}/{sc['name']} version {sc['version']}, "
                      f"but {path} is not committed {where}")
        return
    try:
        ch = Channel.from_bytes(data, f"{path} {where}")
    except PedataError as exc:
        ctx.violation(rel, str(exc))
        return
    if ch.digest != sc["digest"]:
        ctx.violation(rel, f"certified from channel {r.namespace}/{sc['name']} version {sc['version']} "
                      f"(digest {str(sc['digest'])[:12]}…), but the committed channel {where} is version "
                      f"{ch.version} (digest {ch.digest[:12]}…): an uncommitted channel was certified")
    elif {n: p["sha256"] for n, p in r.pins.items()} != {n: p["sha256"] for n, p in ch.artifacts.items()}:
        ctx.violation(rel, f"pins differ from channel {r.namespace}/{sc['name']} version {sc['version']}, "
                      "which the release names as its source")


def _case_collisions(ctx: Any) -> None:
    """Release versions are unique ignoring case: ``1.0.0-RC1`` and ``1.0.0-rc1`` would get tags
    (and files) that are one name on macOS and Windows, so a clone there silently loses one."""
    seen: dict[tuple[str, str], str] = {}
    for rel, r in sorted(ctx.releases.items()):
        key = (r.namespace, str(r.version).lower())
        if key in seen:
            ctx.violation(rel, f"release version {r.version} differs only in case from {seen[key]}: release versions must be"
                          " unique ignoring case (their files and tags collide on macOS and Windows); retire one")
        else:
            seen[key] = rel


def run(ctx: Any) -> None:
    root = ctx.reg.root
    _case_collisions(ctx)
    if gitio.head(root) is None:
        return
    tags = gitio.git(root, "tag", "--list", check=False).split()
    known = set()
    scope = getattr(ctx, "scope", None)
    for rel, r in sorted(ctx.releases.items()):
        ns, version = r.namespace, r.version
        known.add(tag_name(ns, version))
        if scope is not None and not scope.checks_release(ctx, rel):
            continue  # unchanged since the verified base, tags as certification left them
        first = _first_commit(root, rel)
        if first is not None:
            _check_source_channel(ctx, rel, r, first)
        if r.status == "provisional":
            if r.expires is None:
                ctx.violation(rel, "a provisional release must carry an expiry")
            elif parse_time(r.expires) < ctx.now:
                ctx.violation(rel, f"provisional release expired at {r.expires}: certify it or retire it")
        tag = read_tag(root, tag_name(ns, version))
        if tag is None:
            if first is not None:
                ctx.violation(rel, f"no release tag {tag_name(ns, version)}")
            continue
        ctx.counts["release tags"] += 1
        if not tag.annotated:
            ctx.violation(rel, f"tag {tag.name} is lightweight: a release tag must be annotated and name the release digest")
            continue
        named = tag.digest
        data = gitio.show(root, tag.commit, rel)
        if data is None:
            ctx.violation(rel, f"tag {tag.name} names commit {tag.commit[:10]}, which has no {rel}")
        else:
            try:
                at_tag = canonical_digest(loads_strict(data, source=rel)["signed"])
            except Exception as exc:  # noqa: BLE001 - report, keep checking
                ctx.violation(rel, f"at tag {tag.name}: {exc}")
                at_tag = None
            if named is None:
                ctx.violation(rel, f"tag {tag.name}'s message does not name the release digest")
            elif at_tag is not None and at_tag != named:
                ctx.violation(rel, f"tag {tag.name} names release digest {named[:12]}…, but the file at its commit has {at_tag[:12]}…")
        if first is not None and first != tag.commit:
            ctx.violation(rel, f"tag {tag.name} moved: it names commit {tag.commit[:10]}, but the release was certified in {first[:10]}")
        gto = read_tag(root, gto_tag_name(ns, version))
        if gto is not None and gto.commit != tag.commit:
            ctx.violation(rel, f"GTO tag {gto.name} names commit {gto.commit[:10]}, not {tag.commit[:10]} like {tag.name}")
    for t in tags:
        ns, sep, v = t.partition("/v")
        if sep and "/" not in ns and t not in known and ns in ctx.reg.namespaces:
            ctx.violation(layout.release(ns, v), f"tag {t} exists but the release file does not")
