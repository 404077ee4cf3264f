"""A registry: a git + DVC repository with pedata's layout and settings.

Layout (all git-tracked)::

    pedata.json                             registry settings (namespaces, remotes, mirrors)
    manifests/<ns>/<name>/<sha256>.json     schema sidecars, immutable
    manifests/<ns>/<name>/<digest>.files.json / .fields.json
                                            companions a manifest names by digest (a folder's
                                            file list, a wide table's field list), immutable
    channels/<ns>/<channel>.json            pointer documents
    releases/<ns>/<semver>.json             signed releases
    tombstones/<sha256>.json                signed revocations
    trust/root/<N>.json                     trust root versions
    locks/                                  inputs and environment locks

Local, untracked state lives in ``.dvc/tmp/pedata/`` (DVC already git-ignores ``.dvc/tmp``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic
from dvc_pedata.base.gitio import toplevel
from dvc_pedata.errors import DocumentError, NotARegistryError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import pretty_bytes
from dvc_pedata.model.companion import is_companion
from dvc_pedata.model.documents import Channel, Manifest, Release, Root, Tombstone
from dvc_pedata.model.names import (
    check_sha256,
)
from dvc_pedata.registry.config import CONFIG_FILE
from dvc_pedata.registry.reader import RegistryReader

FOLDERS = layout.FOLDERS


ROOT_FILE_RE = re.compile(r"[1-9][0-9]{0,8}\.json", re.ASCII)












# setting -> (check, what it must be). Unknown settings are kept (a newer pedata may add some).






class Registry:
    """Paths and document access for one registry checkout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        # every document and setting this work tree holds is read through the one read API
        self.reader = RegistryReader(self.root, None)

    # -- discovery -----------------------------------------------------------------------------
    @classmethod
    def find(cls, start: Path | str | None = None) -> Registry:
        """The registry containing ``start`` (default: the current folder)."""
        start_path = Path(start or ".").resolve()
        if not start_path.exists():
            raise NotARegistryError(f"{start_path} does not exist")
        top = toplevel(start_path)
        if not (top / ".dvc").is_dir() or not (top / CONFIG_FILE).is_file():
            raise NotARegistryError(f"{top} is not a pedata registry (run 'pedata init' there first)")
        return cls(top)

    # -- settings ------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def config(self) -> dict[str, Any]:
        return self.reader.config

    def save_config(self, cfg: dict[str, Any]) -> None:
        atomic.write_if_changed(self.config_path, pretty_bytes(cfg))
        self.reader._config = cfg

    @property
    def namespaces(self) -> list[str]:
        return self.reader.namespaces

    @property
    def default_namespace(self) -> str | None:
        return self.reader.default_namespace

    def namespace(self, ns: str | None) -> str:
        """Validate ``ns`` (or the default) and check the registry declares it."""
        return self.reader.namespace(ns)

    @property
    def state_dir(self) -> Path:
        return self.root / ".dvc" / "tmp" / "pedata"

    # -- paths ---------------------------------------------------------------------------------
    def manifest_path(self, ns: str, name: str, sha256: str) -> Path:
        return self.root / layout.manifest(ns, name, sha256)

    def channel_path(self, ns: str, channel: str) -> Path:
        return self.root / layout.channel(ns, channel)

    def release_path(self, ns: str, version: str) -> Path:
        return self.root / layout.release(ns, version)

    def tombstone_path(self, sha256: str) -> Path:
        return self.root / layout.tombstone(sha256)

    def root_path(self, version: int) -> Path:
        return self.root / layout.root(version)

    def rel(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    # -- documents -----------------------------------------------------------------------------
    # Reads go through the one read API (registry/reader.py): the same parsing, schema check,
    # no-symlink rule and error contract as a view of a commit or a cached clone.
    def load_manifest(self, ns: str, name: str, sha256: str) -> Manifest:
        return self.reader.load_manifest(ns, name, sha256)

    def find_manifests(self, sha256: str) -> list[Manifest]:
        """Every manifest (any namespace or name) describing the bytes ``sha256``."""
        check_sha256(sha256)
        return [self.reader.load_manifest(p.parent.parent.name, p.parent.name, sha256)
                for p in sorted((self.root / layout.MANIFESTS).glob(f"*/*/{sha256}.json"))]

    def load_channel(self, ns: str, channel: str) -> Channel | None:
        return self.reader.load_channel(ns, channel)

    def load_release(self, ns: str, version: str) -> Release:
        return self.reader.require_release(ns, version)

    def load_tombstone(self, sha256: str) -> Tombstone | None:
        return self.reader.load_tombstone(sha256)

    def iter_manifest_paths(self) -> Iterator[Path]:
        yield from sorted(p for p in (self.root / layout.MANIFESTS).glob("*/*/*.json") if not is_companion(p.name))

    def iter_channel_paths(self) -> Iterator[Path]:
        yield from sorted((self.root / layout.CHANNELS).glob("*/*.json"))

    def iter_release_paths(self, ns: str | None = None) -> Iterator[Path]:
        yield from sorted((self.root / layout.RELEASES).glob(f"{ns or '*'}/*.json"))

    def iter_tombstone_paths(self) -> Iterator[Path]:
        yield from sorted((self.root / layout.TOMBSTONES).glob("*.json"))

    def root_versions(self) -> list[int]:
        """Versions of the root files ``trust/root/<N>.json``; any other ``.json`` name there is refused.

        ``N`` is written as pedata writes it (ASCII digits, no leading zero): ``².json`` passes
        ``str.isdigit`` but not ``int``, and ``01.json`` would be a second file for version 1.
        """
        out = []
        for p in (self.root / layout.ROOTS).glob("*.json"):
            if not ROOT_FILE_RE.fullmatch(p.name):
                raise DocumentError(f"{self.rel(p)}: not a trust root file name (trust/root/<N>.json, N = 1, 2, 3, …);"
                                    " remove or rename it")
            out.append(int(p.stem))
        return sorted(out)

    def load_root(self, version: int) -> Root:
        return self.reader.load_root(version)
