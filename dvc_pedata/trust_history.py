"""Which trust root judges a release or a tombstone: the one in force when it was committed.

A release must resolve years after it was certified, across key rotations, so it is not judged
by the newest root alone. The rule (docs/trust.md, "Which root judges a document"): a version of
a release or tombstone -- its ``signed`` body -- is trusted when, in some commit on the
first-parent history of the revision read, the file holds that body with signatures that meet the
role's threshold under the trust root in force at that commit (the highest
``trust/root/<N>.json`` it contains), or when it meets the threshold as it is now under the newest
root. First-parent history is the sequence of states the branch itself went through, so a release
merged from a branch that forked before a rotation is judged at the merge, under the root then in
force, not at its back-dated commit. Keys a root lists as ``distrusted`` (``pedata trust
remove-key ROLE KEY --compromised``) count for nothing under any root version.

The newest root answers the common case; this module runs only when it does not, so the
resolver's warm path never imports it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import gitio
from .documents import Document, Root
from .errors import PedataError
from .keys import short

if TYPE_CHECKING:
    from .regsource import RegistryView

ROOT_DIR = "trust/root"


@dataclass(frozen=True)
class State:
    """One committed state of a document file and the trust root version in force in that commit."""

    commit: str
    root_version: int
    data: bytes


def committed_states(repo: Path, rev: str, paths: Sequence[str]) -> dict[str, list[State]]:
    """Each first-parent commit up to ``rev`` that wrote a file under ``paths``, oldest first, per file."""
    log = gitio.git(repo, "log", "--first-parent", "--diff-merges=first-parent", "--reverse", "--no-renames",
                    "--format=%x01%H", "--name-status", rev, "--", ROOT_DIR, *paths)
    found: list[tuple[str, int, str]] = []
    version = 0
    for block in log.split("\x01")[1:]:
        commit, *lines = block.strip().splitlines()
        changes = [(line[:1], line.partition("\t")[2]) for line in lines if "\t" in line]
        for status, path in changes:
            stem = path.removeprefix(ROOT_DIR + "/").removesuffix(".json")
            if status == "A" and path.startswith(ROOT_DIR + "/") and stem.isascii() and stem.isdigit():
                version = max(version, int(stem))
        found += [(commit, version, p) for s, p in changes if s in "AM" and not p.startswith(ROOT_DIR + "/")]
    blobs = dict(gitio.batch_read(repo, [f"{c}:{p}" for c, _, p in found]))
    out: dict[str, list[State]] = defaultdict(list)
    for c, v, p in found:
        data = blobs.get(f"{c}:{p}")
        if data is not None:
            out[p].append(State(c, v, data))
    return out


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
    from .signing import check_threshold

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


def judge_in_view(view: RegistryView, doc: Document, rel: str, role: str, namespace: str | None,
                  trusted_root: str | None, offline: bool) -> str | None:
    """:func:`judge` for the resolver: the roots and history of a registry view (work tree, commit or clone)."""
    from .regsource import ensure_history
    from .trust import load_root_versions

    roots = load_root_versions(view.registry, trusted_root, view.rev, check_expiry=False)
    rev = view.rev or gitio.head(view.root)
    hint = ensure_history(view, offline) if rev is not None else None
    states = committed_states(view.root, rev, [rel]).get(rel, []) if rev is not None else []
    problem = judge(doc, rel, role, namespace, roots, states)
    return f"{problem}; {hint}" if problem and hint else problem
