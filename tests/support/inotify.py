"""Linux inotify for tests: which files any process opened or read, whoever it was (a subprocess,
DVC, pyarrow's C++ reader). A stat is neither an open nor a read."""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

IN_ACCESS, IN_OPEN, IN_ISDIR = 0x1, 0x20, 0x40000000


class Inotify:
    """Watch ``paths`` (files, or folders for the files inside them) for the events in ``mask``."""

    def __init__(self, paths: list[Path], mask: int) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, f"inotify_init1: errno {ctypes.get_errno()}"
        self.watched: dict[int, Path] = {}
        for p in paths:
            wd = self.libc.inotify_add_watch(self.fd, str(p).encode(), mask)
            assert wd >= 0, f"inotify_add_watch {p}: errno {ctypes.get_errno()}"
            self.watched[wd] = p

    def events(self) -> list[tuple[Path, str, int]]:
        """(watched path, name inside it or "" for the path itself, mask) since the last call."""
        out: list[tuple[Path, str, int]] = []
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return out
            pos = 0
            while pos < len(data):
                wd, mask, _cookie, size = struct.unpack_from("iIII", data, pos)
                name = data[pos + 16 : pos + 16 + size].rstrip(b"\0").decode()
                pos += 16 + size
                out.append((self.watched[wd], name, mask))

    def close(self) -> None:
        os.close(self.fd)
