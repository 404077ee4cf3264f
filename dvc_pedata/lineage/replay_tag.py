"""Which commit ``pedata replay`` may check out: the release tag, judged before it is followed.

``replay`` runs the ``dvc.yaml`` commands of the commit a release tag names. A tag is a movable
name that anyone with push access can point elsewhere (``git tag -f``, ``git push --force``), so
the tag is only followed when it is exactly what ``pedata certify`` wrote:

* ``<ns>/v<version>`` is an *annotated* tag (a lightweight tag carries no certified message);
* its message names the release digest (``release-digest: sha256:<hex>``, the line ``certify``
  writes) and the release file at the tag's commit has exactly that digest (the ``signed`` body's
  canonical sha256);
* the tag's commit is the release's commit: the first commit in the history of ``HEAD`` that
  added ``releases/<ns>/<version>.json``. A tag moved onto a later commit that still holds the
  same release file (with a changed ``dvc.yaml``) fails here, as does an orphan commit that only
  copies the release file, since it is not in the checked-out branch's history.

* the release at that commit passes the trust engine (:mod:`dvc_pedata.trust.judge`), as the
  resolver judges it: stored under its own name, signed at the certifier threshold under the root
  in force when it was committed. A release an attacker with push access wrote and tagged in
  certify's format, but could not sign, is refused here.

Nothing is checked out or run until all of these hold; every refusal is one line that says what to do.
"""

from __future__ import annotations

from dvc_pedata.base import gitio
from dvc_pedata.errors import IntegrityError, PedataError, SignatureError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import digest as canonical_digest
from dvc_pedata.model.canonical import loads_strict
from dvc_pedata.model.uri import tag_name
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.source import open_registry
from dvc_pedata.registry.tags import read_tag
from dvc_pedata.trust import gate, judge


def certified_commit(reg: Registry, ns: str, version: str) -> str:
    """The commit release ``ns@version`` was certified in, proven by its tag; else IntegrityError."""
    tag = tag_name(ns, version)
    rel = layout.release(ns, version)
    info = read_tag(reg.root, tag)
    fix = f"run 'pedata verify' and restore the tag {tag} that 'pedata certify' made"
    if info is None:
        raise IntegrityError(f"no release tag {tag}; nothing was run")
    if not info.annotated:
        raise IntegrityError(f"tag {tag} is lightweight, not the annotated tag 'pedata certify' writes; nothing was run ({fix})")
    named = info.digest
    if named is None:
        raise IntegrityError(f"tag {tag}'s message does not name the release digest (release-digest: sha256:…); nothing was run ({fix})")
    data = gitio.show(reg.root, info.commit, rel)
    if data is None:
        raise IntegrityError(f"tag {tag} names commit {info.commit[:12]}, which has no {rel}; nothing was run ({fix})")
    try:
        signed = loads_strict(data, source=f"{rel} at {tag}")["signed"]
        at_tag = canonical_digest(signed)
        bound = (signed.get("namespace"), signed.get("version")) == (ns, version)
    except (KeyError, TypeError, AttributeError):
        raise IntegrityError(f"{rel} at tag {tag} has no signed body; nothing was run ({fix})") from None
    if not bound:
        # a signed release copied to another file name: its body names another release
        raise IntegrityError(f"{rel} at tag {tag} is the release {signed.get('namespace')}@{signed.get('version')},"
                             f" not {ns}@{version}; nothing was run ({fix})")
    if at_tag != named:
        raise IntegrityError(f"tag {tag} names release digest {named[:12]}…, but {rel} at its commit has {at_tag[:12]}…;"
                             f" nothing was run ({fix})")
    # The first commit of HEAD's history that added the release file is the certified one
    # (what verify checks too): a tag re-pointed to any other commit is a moved tag.
    out = gitio.git(reg.root, "log", "--diff-filter=A", "--format=%H", "--reverse", "HEAD", "--", rel, check=False)
    first = out.split("\n", 1)[0] or None
    if first is None:
        raise IntegrityError(f"{rel} was never added in the history of HEAD, so tag {tag} (commit {info.commit[:12]})"
                             f" cannot be checked; nothing was run (check out the branch that carries the release)")
    if first != info.commit:
        raise IntegrityError(f"tag {tag} moved: it names commit {info.commit[:12]}, but the release was certified in"
                             f" {first[:12]}; nothing was run ({fix})")
    _judge(reg, info.commit, ns, version, rel)
    return info.commit


def _judge(reg: Registry, commit: str, ns: str, version: str, rel: str) -> None:
    """The release at ``commit`` judged as the resolver judges it (one engine); else SignatureError."""
    what = f"release {ns}@v{version}"
    view = open_registry(reg.root, commit, current=False)
    doc = view.require_release(ns, version)
    try:
        judge.require_bound(rel, doc, what)
        root = gate.load_root(view, None)
        gate.require_committed(view, doc, rel, root, "certifier", ns, what, None)
    except PedataError as exc:
        raise SignatureError(f"{exc.message}; nothing was run") from None
