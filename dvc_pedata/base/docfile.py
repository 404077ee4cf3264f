"""Read a registry document from a work tree without following a symbolic link.

A registry is a git repository that people with push access write to, and git commits symbolic
links as links. A link committed in place of a manifest, channel, release, root or tombstone
(``releases/us/1.0.0.json -> /home/me/.ssh/id_ed25519`` or ``-> ../../elsewhere``) must not make
pedata read a file outside the repository, and a link or folder where a document belongs must be
refused by its name, in one line, not crash the command.

Invariant: every component of ``rel`` below the registry root is opened with ``O_NOFOLLOW``
(folders with ``O_DIRECTORY`` too), relative to the folder before it, so no link anywhere on the
path is followed, even one swapped in while the document is read; the final file must be a
regular file. A missing file is ``None`` (the caller says what that means); everything else that
is not a regular file is a :class:`DocumentError` naming ``rel``.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from dvc_pedata.errors import DocumentError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _refuse(root: Path, rel: str, upto: str) -> DocumentError:
    """The one-line reason for ``upto`` (``rel`` or one of its folders) not being followed."""
    try:
        mode = os.lstat(root / upto).st_mode
    except OSError:
        mode = 0
    if stat.S_ISLNK(mode):
        target = os.readlink(root / upto)
        what = f"{upto} is a symbolic link (to {target!r})" if upto != rel else f"is a symbolic link (to {target!r})"
        return DocumentError(f"{rel}: {what}; registry documents must be regular files committed in the repository, never links")
    if stat.S_ISDIR(mode):
        return DocumentError(f"{rel}: is a folder, not a document; remove it")
    return DocumentError(f"{rel}: is not a regular file; registry documents must be regular files")


def read_document(root: Path | str, rel: str) -> bytes | None:
    """The bytes of ``root/rel`` if it is a regular file reached without links; None if absent."""
    root = Path(root)
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise DocumentError(f"{rel}: not a registry document path")
    dir_fd = os.open(root, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | (0 if last else _DIRECTORY)
            try:
                fd = os.open(part, flags, dir_fd=dir_fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    upto = "/".join(parts[: i + 1])
                    try:
                        if not last and not stat.S_ISLNK(os.lstat(root / upto).st_mode):
                            return None  # a file where a folder would be: the document does not exist
                    except OSError:
                        return None
                    raise _refuse(root, rel, upto) from None
                raise
            os.close(dir_fd)
            dir_fd = fd
        st = os.fstat(dir_fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(root, rel, rel)
        chunks = []
        while chunk := os.read(dir_fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(dir_fd)
