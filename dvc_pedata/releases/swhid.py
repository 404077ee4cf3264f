"""Software Heritage identifiers (SWHIDs), computed from the bytes, not asked of git.

``swh:1:cnt`` is the git blob id of a file, ``swh:1:dir`` the git tree id of a folder (entries
sorted the way git sorts them, sub-folders with mode ``40000``), ``swh:1:rev`` the commit id and
``swh:1:rel`` the annotated tag object id. We hash the object bodies ourselves so a citation can
be checked without trusting the tool that printed it; tests compare every id with what
``git hash-object``, ``git write-tree`` and ``git rev-parse`` say.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dvc_pedata.base import gitio
from dvc_pedata.errors import NotFoundError

PREFIX = "swh:1:"
QUALIFIER_ORDER = ("origin", "visit", "anchor", "path", "lines")


def git_object_id(kind: str, body: bytes) -> str:
    """sha1 of ``<kind> <len>\\0<body>``: the id git gives any object."""
    return hashlib.sha1(b"%s %d\x00" % (kind.encode(), len(body)) + body).hexdigest()


def blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (= ``git hash-object``)."""
    return git_object_id("blob", data)


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # "100644", "100755", "120000", "40000", "160000"
    name: str
    oid: str


def _sort_key(e: TreeEntry) -> bytes:
    # git compares names as if a tree's name ended with '/'.
    return e.name.encode() + (b"/" if e.mode == "40000" else b"")


def tree_body(entries: list[TreeEntry]) -> bytes:
    """The raw body of a git tree object with these entries."""
    return b"".join(
        e.mode.encode() + b" " + e.name.encode() + b"\x00" + bytes.fromhex(e.oid)
        for e in sorted(entries, key=_sort_key)
    )


def tree_id(entries: list[TreeEntry]) -> str:
    return git_object_id("tree", tree_body(entries))


def dir_id(path: Path | str) -> str:
    """The git tree id of a folder on disk, as ``git add -A; git write-tree`` would record it.

    Regular files are blobs (``100755`` if executable), symlinks ``120000`` blobs of their target;
    empty folders are skipped (git cannot store them) and so is a ``.git`` folder.
    """
    oid = _dir_id(Path(path))
    return oid if oid is not None else tree_id([])


def _dir_id(path: Path) -> str | None:
    entries = []
    with os.scandir(path) as it:
        for de in it:
            if de.name == ".git":
                continue
            st = os.lstat(de.path)
            if stat.S_ISLNK(st.st_mode):
                entries.append(TreeEntry("120000", de.name, blob_id(os.readlink(de.path).encode())))
            elif stat.S_ISDIR(st.st_mode):
                sub = _dir_id(Path(de.path))
                if sub is not None:
                    entries.append(TreeEntry("40000", de.name, sub))
            elif stat.S_ISREG(st.st_mode):
                mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
                entries.append(TreeEntry(mode, de.name, blob_id(Path(de.path).read_bytes())))
    return tree_id(entries) if entries else None


def tree_id_at(root: Path, rev: str) -> str:
    """The tree id of commit ``rev``'s root folder, recomputed from its listed entries."""
    return _tree_at(root, f"{rev}^{{tree}}")


def _tree_at(root: Path, treeish: str) -> str:
    out = gitio.git_bytes(root, "ls-tree", "-z", treeish)
    entries = []
    for item in filter(None, out.split(b"\x00")):
        meta, _, name = item.partition(b"\t")
        mode, otype, oid = meta.decode().split(" ")
        mode = mode.lstrip("0") if mode == "040000" else mode
        if otype == "tree":
            oid = _tree_at(root, oid)  # recompute sub-trees too, do not trust the listed id
        entries.append(TreeEntry(mode, name.decode(), oid))
    return tree_id(entries)


def object_id_at(root: Path, rev: str, kind: str) -> str:
    """Recompute the id of the ``kind`` object (``commit`` or ``tag``) that ``rev`` names from its body."""
    oid = gitio.git(root, "rev-parse", "--verify", rev)
    body = gitio.git_bytes(root, "cat-file", kind, oid)
    return git_object_id(kind, body)


def swhid(kind: str, oid: str, **qualifiers: str | None) -> str:
    """``swh:1:<kind>:<id>`` with qualifiers in the order the specification fixes."""
    core = f"{PREFIX}{kind}:{oid}"
    quals = [f"{k}={qualifiers[k]}" for k in QUALIFIER_ORDER if qualifiers.get(k)]
    return ";".join([core, *quals])


def origin_url(root: Path) -> str | None:
    """The ``origin`` remote's URL (an https form of an scp-like ssh URL), if it is a public address.

    A local path or ``file://`` origin (a clone of a clone) names nothing a reader elsewhere could
    visit, so it is left out of SWHID qualifiers, as CFF leaves it out of ``repository``.
    """
    url = gitio.git(root, "remote", "get-url", "origin", check=False).strip()
    if not url:
        return None
    if url.startswith("git@") and ":" in url:
        host, _, path = url[4:].partition(":")
        url = f"https://{host}/{path}"
    if not url.startswith(("https://", "http://", "ssh://", "git://")):
        return None
    return url.removesuffix(".git") if url.startswith("https://") else url


@dataclass
class ReleaseSWHIDs:
    """Every SWHID a release citation needs, plus qualified forms when the origin is known."""

    rel: str
    rev: str
    dir: str
    contents: dict[str, str]  # repository path -> swh:1:cnt
    origin: str | None

    def lines(self) -> list[str]:
        anchor = f"{PREFIX}rel:{self.rel}"
        out = [swhid("rel", self.rel, origin=self.origin),
               swhid("rev", self.rev, origin=self.origin, anchor=anchor),
               swhid("dir", self.dir, origin=self.origin, anchor=anchor)]
        out += [swhid("cnt", oid, origin=self.origin, anchor=anchor, path="/" + p)
                for p, oid in sorted(self.contents.items())]
        return out

    def to_json(self) -> dict[str, object]:
        return {"rel": f"{PREFIX}rel:{self.rel}", "rev": f"{PREFIX}rev:{self.rev}", "dir": f"{PREFIX}dir:{self.dir}",
                "cnt": {p: f"{PREFIX}cnt:{o}" for p, o in sorted(self.contents.items())}, "origin": self.origin,
                "qualified": self.lines()}


def release_swhids(root: Path, tag: str, paths: list[str]) -> ReleaseSWHIDs:
    """SWHIDs of a release tag, its commit, the commit's tree and the files ``paths`` at that commit."""
    if gitio.git(root, "cat-file", "-t", f"refs/tags/{tag}", check=False) != "tag":
        raise NotFoundError(f"no annotated tag {tag}: a release is cited through its annotated tag")
    rel = object_id_at(root, f"refs/tags/{tag}", "tag")
    commit = gitio.git(root, "rev-parse", f"refs/tags/{tag}^{{commit}}")
    rev = object_id_at(root, commit, "commit")
    contents = {}
    for p in paths:
        data = gitio.show(root, commit, p)
        if data is None:
            raise NotFoundError(f"{p} does not exist at {tag}")
        contents[p] = blob_id(data)
    return ReleaseSWHIDs(rel, rev, tree_id_at(root, commit), contents, origin_url(root))
