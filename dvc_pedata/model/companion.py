"""Content-addressed companion files of a manifest: the shared mechanism.

A manifest that would grow too large keeps a part of itself in a file beside it,
``manifests/<ns>/<name>/<sha256><suffix>``, whose name is the sha256 of its RFC 8785 canonical
JSON. The manifest names the file (``<sha256><suffix>``) and its digest, and is itself pinned by
digest, so the companion is as immutable as the manifest. Two kinds exist:

``.files.json`` (:data:`FILES`)
    a large folder's file list (:mod:`dvc_pedata.dirmanifest`);
``.fields.json`` (:data:`FIELDS`)
    a wide table's complete field list (:mod:`dvc_pedata.fieldsfile`).

This module writes a companion (:meth:`Kind.write`), reads one through a registry
:data:`Reader` and checks its name and digest (:meth:`Kind.load`), and lists companion files no
manifest names (:meth:`Kind.strays`, for ``pedata verify``). What the content must say about its
manifest (counts, fingerprints, Merkle digest) is checked by the owning module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.errors import IntegrityError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import digest, loads_strict, pretty_bytes

Reader = Callable[[str], "bytes | None"]


@dataclass(frozen=True)
class Kind:
    suffix: str
    label: str  # in messages: "file list", "field list"

    def filename(self, sha256: str) -> str:
        """What the manifest names the companion: ``<sha256><suffix>``."""
        return f"{sha256}{self.suffix}"

    def rel(self, namespace: str, name: str, sha256: str) -> str:
        """The companion's registry path."""
        return layout.companion(namespace, name, self.filename(sha256))

    def write(self, namespace: str, name: str, obj: Any) -> tuple[str, str, bytes]:
        """(sha256, registry path, bytes) of the companion holding ``obj``."""
        sha = digest(obj)
        return sha, self.rel(namespace, name, sha), pretty_bytes(obj)

    def load(self, read: Reader, where: str, namespace: str, name: str, pointer: Any, sha256: str) -> tuple[str, Any]:
        """(registry path, parsed JSON) of the companion a manifest names, checked against its digest.

        ``pointer`` is the file name the manifest gives, ``sha256`` the digest it pins. Raises
        :class:`IntegrityError` when the name is not the digest's, or the file is missing or modified.
        """
        if pointer != self.filename(sha256):
            raise IntegrityError(f"{where}: {self.label} {pointer!r} is not named by its digest {sha256!r}")
        rel = self.rel(namespace, name, sha256)
        data = read(rel)
        if data is None:
            raise IntegrityError(f"{where}: its {self.label} {rel} is missing from the registry")
        obj = loads_strict(data, source=rel)
        actual = digest(obj)
        if actual != sha256:
            raise IntegrityError(f"{where}: {self.label} {rel} was modified (its digest is {actual})")
        return rel, obj

    def strays(self, root: Path, named: set[str]) -> list[str]:
        """Registry paths of the companion files of this kind that are not in ``named``."""
        rels = (p.relative_to(root).as_posix() for p in sorted((Path(root) / layout.MANIFESTS).glob(f"*/*/*{self.suffix}")))
        return [rel for rel in rels if rel not in named]


FILES = Kind(".files.json", "file list")
FIELDS = Kind(".fields.json", "field list")
SUFFIXES = (FIELDS.suffix, FILES.suffix)


def is_companion(rel: str) -> bool:
    """Whether a path under ``manifests/`` is a companion file, not a manifest."""
    return rel.endswith(SUFFIXES)


def registry_reader(root: Path) -> Reader:
    """Read registry files from a work tree (None for a file that is not there)."""

    def read(rel: str) -> bytes | None:
        try:
            return (Path(root) / rel).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    return read
