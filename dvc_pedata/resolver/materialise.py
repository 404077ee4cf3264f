"""Place cache objects into a workspace the cheapest safe way: reflink, read-only hardlink, or copy.

Ten projects sharing one 10 GB release should keep one physical copy, but a workspace file must
never become a way to corrupt the cache:

``reflink``
    A copy-on-write clone (``ioctl(FICLONE)``, as ``cp --reflink=always`` does): its own inode,
    sharing blocks until written, so editing it in place only changes the workspace. Needs a
    filesystem with reflinks (btrfs, XFS, bcachefs, APFS-like); elsewhere it is refused.
``hardlink``
    The same inode as the cache object, which the cache keeps read-only (0444), so an in-place
    edit fails with "permission denied" (editors that write a new file and rename break the link
    and are harmless). Permission bits do not bind root, so as root ``auto`` never picks hardlinks
    and an explicit ``--link hardlink`` warns.
``copy``
    An independent, writable copy, staged and renamed into place.
``auto``
    reflink, else hardlink (not as root; same filesystem only), else copy.

Each placement is staged under a temporary name next to the target and renamed over it, so an
interrupted materialisation leaves old or new files, never half-written ones.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dvc_pedata.base.atomic import TMP_PREFIX
from dvc_pedata.base.hashing import hash_file
from dvc_pedata.errors import PedataError, UsageError
from dvc_pedata.resolver.cache import object_path

if TYPE_CHECKING:
    from dvc_pedata.resolver.resolve import Resolution

MODES = ("auto", "reflink", "hardlink", "copy")
FICLONE = 0x40049409  # _IOW(0x94, 9, int) from linux/fs.h
_NO_REFLINK = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EPERM, errno.ENOSYS}


class LinkUnsupported(PedataError):
    """The requested link kind is impossible here (another filesystem, no reflink support)."""


def hardlinks_protect() -> bool:
    """Whether a read-only hardlink actually stops writes: not for root (CAP_DAC_OVERRIDE)."""
    return os.geteuid() != 0


def _tmp_beside(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=dest.parent)
    os.close(fd)
    return Path(tmp)


def reflink(src: Path, dest: Path) -> None:
    """Clone ``src`` to ``dest`` with FICLONE; :class:`LinkUnsupported` where the filesystem can't."""
    tmp = _tmp_beside(dest)
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            try:
                fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            except OSError as exc:
                if exc.errno in _NO_REFLINK:
                    raise LinkUnsupported(f"cannot reflink {dest.name}: the filesystem of {dest.parent} does not support reflinks ({os.strerror(exc.errno or 0)}); use --link copy or auto") from None
                raise
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def hardlink(src: Path, dest: Path) -> None:
    """Link ``dest`` to the (read-only) cache object; :class:`LinkUnsupported` across filesystems."""
    if os.stat(src).st_mode & 0o222:
        raise PedataError(f"refusing to hardlink {dest.name}: cache object {src} is writable (run fsck)")
    tmp = _tmp_beside(dest)
    tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP):
            raise LinkUnsupported(f"cannot hardlink {dest.name}: {dest.parent} and the cache are on different filesystems or links are not allowed ({os.strerror(exc.errno or 0)}); use --link copy or auto") from None
        raise
    try:
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def copy(src: Path, dest: Path) -> None:
    tmp = _tmp_beside(dest)
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


_PLACERS: dict[str, Callable[[Path, Path], None]] = {"reflink": reflink, "hardlink": hardlink, "copy": copy}


class Materialiser:
    """Places many files with one mode; ``auto`` remembers what failed so it tries it once only."""

    def __init__(self, mode: str = "auto", *, force: bool = False) -> None:
        if mode not in MODES:
            raise UsageError(f"invalid --link {mode!r}: use one of {', '.join(MODES)}")
        self.mode = mode
        self.force = force  # replace workspace files that hold other bytes
        self.used: dict[str, int] = {}
        self._failed: set[str] = set()
        self.warnings: list[str] = []
        if mode == "hardlink" and not hardlinks_protect():
            self.warnings.append(
                "running as root: read-only hardlinks do not stop root from editing the cache in place;"
                " prefer --link reflink or copy (pedata fsck --deep detects such damage)"
            )

    def _order(self) -> list[str]:
        if self.mode != "auto":
            return [self.mode]
        order = ["reflink", "hardlink", "copy"] if hardlinks_protect() else ["reflink", "copy"]
        return [m for m in order if m not in self._failed]

    def place(self, src: Path, dest: Path) -> str:
        """Put ``src`` (a cache object) at ``dest``; returns the mode used."""
        dest = Path(dest)
        with contextlib.suppress(FileNotFoundError):
            if os.path.samefile(src, dest):
                self.used["hardlink"] = self.used.get("hardlink", 0) + 1
                return "hardlink"
        if dest.is_dir():
            raise PedataError(f"cannot place a file at {dest}: a folder is in the way")
        if not self.force and dest.exists() and not _same_bytes(Path(src), dest):
            raise PedataError(f"{dest} exists and holds other bytes; nothing was replaced (pass --force to replace it)")
        for mode in self._order():
            try:
                _PLACERS[mode](Path(src), dest)
            except LinkUnsupported:
                if self.mode != "auto":
                    raise
                self._failed.add(mode)
                continue
            self.used[mode] = self.used.get(mode, 0) + 1
            return mode
        raise PedataError(f"cannot place {dest}")  # pragma: no cover - copy always works or raises


def _same_bytes(obj: Path, dest: Path) -> bool:
    """Whether workspace file ``dest`` already holds cache object ``obj``'s bytes (size, then sha256).

    The object's name is its sha256 (``<cache>/sha256/ab/cdef…``), so only ``dest`` is read.
    """
    try:
        if dest.stat().st_size != obj.stat().st_size:
            return False
    except FileNotFoundError:
        return True  # nothing to lose
    return hash_file(dest).sha256 == obj.parent.name + obj.name


def materialise_tree(
    entries: list, object_path: Callable[[str], Path], out: Path, mode: str = "auto", *, force: bool = False
) -> Materialiser:
    """Place every ``entry`` (path, sha256) of a directory under ``out``; paths were checked safe.

    Every target is checked before anything is placed, so a refusal (other bytes in the way,
    without ``force``) leaves the folder as it was.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PedataError(f"{out} exists and is not a folder; a directory artifact needs a folder")
    m = Materialiser(mode, force=force)
    root = out.resolve()
    plan = []
    clashes = []
    for e in entries:
        dest = root / e.path
        if not dest.resolve().is_relative_to(root):  # a symlink in the workspace pointing out
            raise PedataError(f"{out}: {e.path} would be written outside the folder (a symlink is in the way)")
        src = object_path(e.sha256)
        if not force and dest.is_file() and not _same_file(src, dest) and not _same_bytes(src, dest):
            clashes.append(e.path)
        plan.append((src, dest))
    if clashes:
        more = f" and {len(clashes) - 1} more" if len(clashes) > 1 else ""
        raise PedataError(f"{out}: {clashes[0]}{more} exist with other bytes; nothing was replaced (pass --force to replace them)")
    m.force = True  # checked above; a file that changes meanwhile is the user's race
    for src, dest in plan:
        m.place(src, dest)
    return m


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except FileNotFoundError:
        return False


@dataclass
class Placed:
    """Where ``pedata get -o`` put a resolution's bytes: the file or folder, the link kinds used
    (kind -> count, sorted), and the warnings to show the user."""

    path: Path
    used: dict[str, int]
    warnings: list[str] = field(default_factory=list)


def place(res: Resolution, out: Path | str, link: str = "auto", *, force: bool = False) -> Placed:
    """Place a resolution's verified bytes at ``out``: a whole directory artifact as a folder, a
    file into ``out`` (or, when ``out`` is a folder, under the artifact's own file name in it)."""
    dest = Path(out)
    if res.entries is not None and res.inner_path is None:  # a whole directory artifact
        m = materialise_tree(res.entries, object_path, dest, link, force=force)
    else:
        assert res.path is not None
        m = Materialiser(link, force=force)
        if dest.is_dir():
            dest = dest / Path(res.inner_path or res.manifest.body.get("path") or res.name).name
        m.place(res.path, dest)
    return Placed(dest, dict(sorted(m.used.items())), list(m.warnings))
