"""Deep check of the resolver's local cache: every object re-hashed, every tree re-checked.

``pedata fsck`` (branch ``tombstones``) checks stores; this is the cache side of ``fsck --deep``
and what the directory tests use to prove that editing a workspace file (a copy, a reflink, or a
read-only hardlink someone forced) cannot leave a cache object whose bytes differ from its name.

Reports, never repairs: a damaged object is named so ``pedata get`` can fetch it again after the
user removes it (``lookup`` only ``stat``s on the hot path).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import cache
from .atomic import TMP_PREFIX
from .hashing import hash_file
from .merkle import FileEntry, directory_digest


@dataclass
class CacheReport:
    objects: int = 0
    trees: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_all(root: Path | None = None) -> CacheReport:
    """Re-hash every object and check every tree against its listing."""
    base = root or cache.cache_dir()
    rep = CacheReport()
    inodes: dict[tuple[int, int], str] = {}
    objects = base / "sha256"
    for path in sorted(objects.glob("*/*")) if objects.is_dir() else []:
        if path.name.startswith(TMP_PREFIX):
            continue
        name = path.parent.name + path.name
        rep.objects += 1
        actual = hash_file(path).sha256
        st = path.stat()
        inodes[(st.st_dev, st.st_ino)] = actual
        if actual != name:
            rep.problems.append(f"object {name}: bytes hash to {actual} (modified in place)")
        elif st.st_mode & 0o222:
            rep.problems.append(f"object {name}: writable (mode {oct(st.st_mode & 0o777)}); objects must be read-only")
    trees = base / "trees"
    for listing in sorted(trees.glob("*.json")) if trees.is_dir() else []:
        rep.trees += 1
        tree = listing.with_suffix("")
        try:
            entries = [FileEntry(e["path"], e["sha256"], int(e["size"])) for e in json.loads(listing.read_bytes())]
        except (ValueError, KeyError, TypeError):
            rep.problems.append(f"tree {tree.name}: unreadable listing")
            continue
        if directory_digest(entries) != tree.name:
            rep.problems.append(f"tree {tree.name}: its listing does not hash to its name")
            continue
        for e in entries:
            p = tree / e.path
            try:
                st = os.stat(p)
            except FileNotFoundError:
                rep.problems.append(f"tree {tree.name[:12]}: {e.path} is missing")
                continue
            known = inodes.get((st.st_dev, st.st_ino))
            actual = known if known is not None else hash_file(p).sha256
            if actual != e.sha256:
                rep.problems.append(f"tree {tree.name[:12]}: {e.path} hashes to {actual}, expected {e.sha256}")
    return rep
