"""Deep check of the resolver's local cache: every object re-hashed, every tree re-checked.

``pedata fsck`` checks stores; this is the cache side of ``pedata fsck --deep`` (which names each
damaged object by the URI that pins it), and what proves that editing a workspace file (a copy, a
reflink, or a read-only hardlink someone forced) cannot leave a cache object whose bytes differ
from its name.

Reports, never repairs: a damaged object is named so ``pedata get`` can fetch it again after the
user removes it (``lookup`` only ``stat``s on the hot path).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from dvc_pedata.base.atomic import TMP_PREFIX
from dvc_pedata.base.hashing import hash_file
from dvc_pedata.model.merkle import FileEntry, directory_digest
from dvc_pedata.resolver import cache


@dataclass(frozen=True)
class CacheProblem:
    """One damaged cache entry: an object (named by its sha256) or a tree (named by its directory
    digest; ``member`` is the damaged file inside it, if the damage is in one file)."""

    kind: str  # corrupt | writable | missing | unreadable
    scope: str  # object | tree
    sha256: str
    path: str  # the damaged file in the cache
    detail: str
    member: str | None = None

    def __str__(self) -> str:
        if self.member is not None:
            return f"{self.scope} {self.sha256[:12]}: {self.member} {self.detail}"
        return f"{self.scope} {self.sha256}: {self.detail}"


@dataclass
class CacheReport:
    root: Path | None = None
    objects: int = 0
    trees: int = 0
    findings: list[CacheProblem] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [str(f) for f in self.findings]

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_all(root: Path | None = None) -> CacheReport:
    """Re-hash every object and check every tree against its listing."""
    base = root or cache.cache_dir()
    rep = CacheReport(base)
    bad = rep.findings.append
    inodes: dict[tuple[int, int], str] = {}
    objects = base / "sha256"
    for path in sorted(objects.glob("*/*")) if objects.is_dir() else []:
        if path.name.startswith(TMP_PREFIX):
            continue
        name = path.parent.name + path.name
        rep.objects += 1
        try:
            actual = hash_file(path).sha256
            st = path.stat()
        except OSError as exc:
            bad(CacheProblem("unreadable", "object", name, str(path), f"cannot be read ({exc.strerror or exc})"))
            continue
        inodes[(st.st_dev, st.st_ino)] = actual
        if actual != name:
            bad(CacheProblem("corrupt", "object", name, str(path), f"bytes hash to {actual} (modified in place)"))
        elif st.st_mode & 0o222:
            bad(CacheProblem("writable", "object", name, str(path), f"writable (mode {oct(st.st_mode & 0o777)}); objects must be read-only"))
    trees = base / "trees"
    for listing in sorted(trees.glob("*.json")) if trees.is_dir() else []:
        rep.trees += 1
        tree = listing.with_suffix("")
        try:
            entries = [FileEntry(e["path"], e["sha256"], int(e["size"])) for e in json.loads(listing.read_bytes())]
        except (OSError, ValueError, KeyError, TypeError):
            bad(CacheProblem("unreadable", "tree", tree.name, str(listing), "unreadable listing"))
            continue
        if directory_digest(entries) != tree.name:
            bad(CacheProblem("corrupt", "tree", tree.name, str(listing), "its listing does not hash to its name"))
            continue
        for e in entries:
            p = tree / e.path
            try:
                st = os.stat(p)
            except FileNotFoundError:
                bad(CacheProblem("missing", "tree", tree.name, str(p), "is missing", e.path))
                continue
            known = inodes.get((st.st_dev, st.st_ino))
            actual = known if known is not None else hash_file(p).sha256
            if actual != e.sha256:
                bad(CacheProblem("corrupt", "tree", tree.name, str(p), f"hashes to {actual}, expected {e.sha256}", e.path))
    return rep
