"""Which trust root judges a release or a tombstone: the one in force when it was committed.

A release must resolve years after it was certified, across key rotations, so it is not judged
by the newest root alone. The rule (docs/trust.md, "Which root judges a document"): a version of
a release or tombstone -- its ``signed`` body -- is trusted when the judgment its committed blob
rests on passed (the commit where it entered the history, under the root in force there, by
ancestry: :func:`dvc_pedata.judge.committed_states`), or when it meets the threshold as it is now
under the newest root. Keys a root lists as ``distrusted`` (``pedata trust remove-key ROLE KEY
--compromised``) count for nothing under any root version. :mod:`dvc_pedata.judge` is the only
caller.

The newest root answers the common case; this module runs only when it does not, so the
resolver's warm path never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from dvc_pedata.errors import PedataError
from dvc_pedata.model.documents import Document, Root
from dvc_pedata.trust.keys import short
from dvc_pedata.trust.signing import check_threshold

if TYPE_CHECKING:
    from dvc_pedata.trust.judge import State


def distrusted(roots: Sequence[Root]) -> dict[str, int]:
    """keyid -> the first root version that distrusts it."""
    out: dict[str, int] = {}
    for r in roots:
        for keyid in r.body.get("distrusted", []):
            out.setdefault(keyid, int(r.version))
    return out


def _sigs(doc: Document) -> list[tuple[str, str]]:
    return sorted((str(s.get("keyid")), str(s.get("sig"))) for s in doc.signatures)


def _without(doc: Document, keyids: Mapping[str, int]) -> Document:
    return type(doc)(doc.body, [s for s in doc.signatures if s.get("keyid") not in keyids])


def judge(doc: Document, rel: str, role: str, namespace: str | None, roots: Sequence[Root],
          states: Sequence[State]) -> str | None:
    """None if ``doc`` is trusted under the rule above; else one line: why not, under which root, the fix."""
    by_version = {int(r.version): r for r in roots}
    banned = distrusted(roots)
    candidates: list[tuple[Document, Root, str | None]] = []
    for st in states:
        try:
            then = type(doc).from_bytes(st.data, rel)
        except PedataError:
            continue  # an unparsable state is verify's business; it vouches for nothing
        if then.digest == doc.digest and st.root_version in by_version:
            candidates.append((then, by_version[st.root_version], st.commit))
    if not candidates or _sigs(candidates[-1][0]) != _sigs(doc):
        candidates.append((doc, roots[-1], None))  # as it is now, under the newest root
    for cand, root, _ in candidates:
        if not check_threshold(_without(cand, banned), root, role, namespace):
            return None
    cand, root, commit = candidates[-1]
    problems = check_threshold(_without(cand, banned), root, role, namespace)
    where = f"in force when this version was committed in {commit[:10]}" if commit else "the newest"
    notes = [f"key {short(s['keyid'])} was distrusted in trust root version {banned[s['keyid']]} (removed as compromised)"
             for s in cand.signatures if s.get("keyid") in banned]
    return "; ".join([f"{problems[0]} under trust root version {root.version} ({where})", *notes, *problems[1:],
                      f"re-sign it with a current {role} key: pedata sign {rel} --sign KEY, and commit"])
