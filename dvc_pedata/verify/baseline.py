"""``pedata verify`` checks that what must never go back did not: roots, tombstones, tagged releases.

* every release with a citation tag pins, at HEAD, exactly what the file at the tag's commit
  pinned (namespace, version, pins; status and signatures may move forward as documented): a
  certifier re-signing a cited release with other pins is refused, not trusted;
* with ``--base B`` (CI: the default branch's previous tip), everything B holds that is
  append-only is compared with HEAD's work tree, whether or not B is an ancestor of HEAD -- so
  a force-push that drops a root rotation, a tombstone or a release fails even though no
  commit in ``B..HEAD`` shows a deletion: each ``trust/root/<N>.json`` byte for byte, each
  tombstone's fixed fields, each release's fixed fields.

The comparison reads B through git (one ``ls-tree`` and one ``cat-file --batch``), never the
network; the judge (``judge.py``) owns the release rule.
"""

from __future__ import annotations

from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.documents import Release, Tombstone
from dvc_pedata.model.uri import tag_name
from dvc_pedata.trust.judge import release_change_problem
from dvc_pedata.verify.tombstones import FIXED


def _tagged(ctx: Any) -> None:
    """Each tagged release against the file at its tag's commit: every tag peeled in one
    ``for-each-ref``, every file read in one ``cat-file --batch`` (two processes per release
    were half a second of a pull request's verify at 100 releases)."""
    root = ctx.reg.root
    fmt = "%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)"
    commits: dict[str, str] = {}
    for line in gitio.git(root, "for-each-ref", f"--format={fmt}", "refs/tags", check=False).splitlines():
        name, otype, obj, ptype, peeled = (line.split("\0") + ["", "", "", ""])[:5]
        if otype == "commit":
            commits[name] = obj  # lightweight
        elif ptype == "commit":
            commits[name] = peeled  # annotated, on a commit
        elif otype == "tag":  # a tag of a tag: let git peel it all the way, as a reader would
            commit = gitio.git(root, "rev-parse", "--verify", "-q", f"refs/tags/{name}^{{commit}}", check=False)
            if commit:
                commits[name] = commit
    wanted: dict[str, tuple[str, str]] = {}  # rel -> (tag, commit)
    for rel, r in ctx.releases.items():
        try:
            name = tag_name(r.namespace, r.version)
        except PedataError:
            continue
        if name in commits:
            wanted[rel] = (name, commits[name])
    blobs = dict(gitio.batch_read(root, [f"{c}:{rel}" for rel, (_n, c) in sorted(wanted.items())]))
    for rel, (name, commit) in sorted(wanted.items()):
        data = blobs.get(f"{commit}:{rel}")
        if data is None:
            continue  # the tag names a commit without the file: checks/releases.py says so
        try:
            tagged = Release.from_bytes(data, f"{rel} at tag {name}")
        except PedataError:
            continue  # unreadable at the tag: checks/releases.py says so
        problem = release_change_problem(tagged, ctx.releases[rel], f"tag {name}")
        if problem:
            ctx.violation(rel, problem)


def _base(ctx: Any) -> None:
    root, base = ctx.reg.root, ctx.base
    paths = [p for top in ("trust/root", "tombstones", "releases") for p in gitio.ls_tree(root, base, top)
             if p.endswith(".json")]
    blobs = dict(gitio.batch_read(root, [f"{base}:{p}" for p in paths]))
    short = base[:10]
    for path in paths:
        old = blobs.get(f"{base}:{path}")
        if old is None:
            continue
        try:
            now = (root / path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            what = ("root versions are never removed (an old key would count again)" if path.startswith("trust/")
                    else "a revocation is never withdrawn" if path.startswith(layout.TOMBSTONES + "/")
                    else "releases are never removed")
            ctx.violation(path, f"present at base {short} but missing at HEAD: {what}")
            continue
        if path.startswith(layout.ROOTS + "/"):
            if now != old:
                ctx.violation(path, f"differs from base {short}: root versions are immutable")
            continue
        try:
            kind = Tombstone if path.startswith(layout.TOMBSTONES + "/") else Release
            was, cur = kind.from_bytes(old, f"{path} at base {short}"), kind.from_bytes(now, path)
        except PedataError:
            continue  # unparsable at HEAD is reported by the tree check; at base it vouches for nothing
        if isinstance(was, Tombstone):
            for key in FIXED:
                if was.body.get(key) != cur.body.get(key):
                    ctx.violation(path, f"{key} changed since base {short} (was {was.body.get(key)!r})")
        elif was.body.get("status") != "provisional":  # a provisional release is not cited yet
            problem = release_change_problem(was, cur, f"base {short}")  # type: ignore[arg-type]
            if problem:
                ctx.violation(path, problem)


def run(ctx: Any) -> None:
    if gitio.head(ctx.reg.root) is None:
        return
    _tagged(ctx)
    if ctx.base:
        _base(ctx)
