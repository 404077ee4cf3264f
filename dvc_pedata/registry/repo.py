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

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic
from dvc_pedata.base.gitio import toplevel
from dvc_pedata.errors import DocumentError, NotARegistryError, NotFoundError
from dvc_pedata.model import layout
from dvc_pedata.model.canonical import loads_strict, pretty_bytes
from dvc_pedata.model.companion import is_companion
from dvc_pedata.model.documents import Channel, Manifest, Release, Root, Tombstone
from dvc_pedata.model.names import (
    MAX_NAME_LEN,
    NAME_PATTERN,
    check_namespace,
    check_sha256,
)

CONFIG_FILE = "pedata.json"
FOLDERS = layout.FOLDERS


_NAME_RE = re.compile(rf"{NAME_PATTERN}\Z")
_REMOTE_RE = re.compile(r"[^\x00-\x1f\x7f]{1,256}\Z")
ROOT_FILE_RE = re.compile(r"[1-9][0-9]{0,8}\.json", re.ASCII)


def _is_name(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= MAX_NAME_LEN and ".." not in v and bool(_NAME_RE.match(v))  # as check_name


def _is_remote(v: Any) -> bool:
    return isinstance(v, str) and bool(_REMOTE_RE.match(v))


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _is_int(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_author(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values()))


# setting -> (check, what it must be). Unknown settings are kept (a newer pedata may add some).
_SETTINGS: dict[str, tuple[Any, str]] = {
    "namespaces": (lambda v: isinstance(v, list) and all(_is_name(n) for n in v), "a list of lowercase names"),
    "default_namespace": (lambda v: v is None or _is_name(v), "a lowercase name or null"),
    "remote": (lambda v: v is None or _is_remote(v), "a DVC remote name or null"),
    "mirrors": (lambda v: isinstance(v, list) and all(_is_remote(m) for m in v), "a list of DVC remote names"),
    "audit": (lambda v: isinstance(v, dict) and isinstance(v.get("remote", False), bool), 'an object like {"remote": false}'),
    "licence": (_opt_str, "a string or null"),
    "title": (_opt_str, "a string or null"),
    "directory_inline_files": (lambda v: _is_int(v, 0, 10_000_000), "a whole number from 0 to 10000000"),
    "replay": (lambda v: isinstance(v, dict) and isinstance(v.get("enabled", True), bool), 'an object like {"enabled": true}'),
    "citation": (
        lambda v: isinstance(v, dict)
        and all(_opt_str(v.get(k)) for k in ("title", "abstract", "url", "publisher", "package"))
        and (v.get("authors") is None or (isinstance(v["authors"], list) and all(map(_is_author, v["authors"])))),
        "an object of strings (title, abstract, url, publisher, package) and authors (a list)",
    ),
}


def load_config(data: bytes, source: str = CONFIG_FILE) -> dict[str, Any]:
    """Parse and check registry settings: strict JSON, ``kind: registry``, ``schema_version: 1``
    and every known setting of the right type, so a bad value is one clear error at load time
    instead of a failure deep inside a command. Plain Python: this runs on the resolver's path."""
    cfg = loads_strict(data, source=source)
    if not isinstance(cfg, dict) or cfg.get("kind") != "registry":
        raise DocumentError(f"{source}: not a pedata registry settings file")
    version = cfg.get("schema_version")
    if not _is_int(version, 1, 1):
        raise DocumentError(f"{source}: unsupported schema_version {str(version)[:40]!r} (this pedata reads version 1)")
    for key, (ok, want) in _SETTINGS.items():
        if key in cfg and not ok(cfg[key]):
            raise DocumentError(f"{source}: setting {key!r} must be {want}, not {_show(cfg[key])}")
    return cfg


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class Registry:
    """Paths and document access for one registry checkout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._config: dict[str, Any] | None = None

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
        if self._config is None:
            try:
                data = self.config_path.read_bytes()
            except FileNotFoundError:
                raise NotARegistryError(f"{self.root} has no {CONFIG_FILE}") from None
            except IsADirectoryError:
                raise DocumentError(f"{CONFIG_FILE}: is a folder, not a settings file") from None
            self._config = load_config(data)
        return self._config

    def save_config(self, cfg: dict[str, Any]) -> None:
        atomic.write_if_changed(self.config_path, pretty_bytes(cfg))
        self._config = cfg

    @property
    def namespaces(self) -> list[str]:
        return list(self.config.get("namespaces", []))

    @property
    def default_namespace(self) -> str | None:
        return self.config.get("default_namespace")

    def namespace(self, ns: str | None) -> str:
        """Validate ``ns`` (or the default) and check the registry declares it."""
        if ns is None:
            ns = self.default_namespace
            if ns is None:
                raise NotFoundError("no namespace given and the registry has no default_namespace")
        check_namespace(ns)
        if ns not in self.namespaces:
            known = ", ".join(self.namespaces) or "none"
            raise NotFoundError(f"unknown namespace {ns!r} (registry namespaces: {known})")
        return ns

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
    def load_manifest(self, ns: str, name: str, sha256: str) -> Manifest:
        path = self.manifest_path(ns, name, sha256)
        if not path.is_file():
            raise NotFoundError(f"no manifest for {ns}/{name} with sha256 {sha256}")
        return Manifest.load(path, self.rel(path))

    def find_manifests(self, sha256: str) -> list[Manifest]:
        """Every manifest (any namespace or name) describing the bytes ``sha256``."""
        check_sha256(sha256)
        return [Manifest.load(p, self.rel(p)) for p in sorted((self.root / layout.MANIFESTS).glob(f"*/*/{sha256}.json"))]

    def load_channel(self, ns: str, channel: str) -> Channel | None:
        path = self.channel_path(ns, channel)
        return Channel.load(path, self.rel(path)) if path.is_file() else None

    def load_release(self, ns: str, version: str) -> Release:
        path = self.release_path(ns, version)
        if not path.is_file():
            raise NotFoundError(f"no release {ns}@{version}")
        return Release.load(path, self.rel(path))

    def load_tombstone(self, sha256: str) -> Tombstone | None:
        path = self.tombstone_path(sha256)
        return Tombstone.load(path, self.rel(path)) if path.is_file() else None

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
        path = self.root_path(version)
        return Root.load(path, self.rel(path))
