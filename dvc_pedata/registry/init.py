"""``pedata init``: make a git repository a registry (DVC, a remote, pedata's folders and settings)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from dvc_pedata.base import gitio
from dvc_pedata.errors import NotARegistryError, UsageError
from dvc_pedata.model.names import check_namespace
from dvc_pedata.registry.config import CONFIG_FILE
from dvc_pedata.registry.repo import FOLDERS, Registry

REMOTE_NAME = "storage"


def default_storage_dir(root: Path) -> Path:
    """A local-folder remote outside the work tree, one per registry, so offline use just works.

    ``$PEDATA_STORAGE_DIR`` overrides the parent folder (default ``$XDG_DATA_HOME/pedata/storage``).
    The folder name carries a hash of the registry path so two registries never share (and
    garbage-collect) each other's objects.
    """
    base = os.environ.get("PEDATA_STORAGE_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "pedata", "storage"
    )
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    return Path(base) / f"{root.name}-{tag}"


@dataclass
class InitResult:
    root: Path
    dvc_initialised: bool
    remote_name: str
    remote_url: str
    namespaces: list[str]
    remote_local: bool = False  # the URL lives in .dvc/config.local (this machine only)


def init(path: Path | str = ".", remote: str | None = None, namespaces: list[str] | None = None) -> InitResult:
    """Initialise (or extend: idempotent) a registry in the git repository containing ``path``."""
    try:
        root = gitio.toplevel(Path(path))
    except NotARegistryError:
        raise NotARegistryError(f"{Path(path).resolve()} is not inside a git repository (run 'git init' first)") from None
    nss = [check_namespace(n) for n in (namespaces or [])]
    from dvc_pedata.dvcio import (
        repo as dvcio,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    created = dvcio.init_repo(root)
    reg = Registry(root)
    cfg = (
        reg.config
        if reg.config_path.is_file()
        else {"kind": "registry", "schema_version": 1, "namespaces": [], "default_namespace": None,
              "remote": REMOTE_NAME, "mirrors": [], "audit": {"remote": False}}
    )
    with dvcio.DvcRepo(root) as repo:
        existing = repo.remotes()
        if remote is not None:
            if "://" in remote and not remote.startswith(("s3://", "gs://", "gcs://", "azure://", "http://", "https://", "ssh://", "file://")):
                raise UsageError(f"unsupported remote URL {remote!r}")
            url = remote if "://" in remote else str(Path(remote).resolve())
            repo.set_remote(cfg["remote"], url)
            local = False
        elif cfg["remote"] not in existing:
            # A folder on this machine: its path means nothing on another one, so it stays out of
            # the committed config (DVC's git-ignored .dvc/config.local holds it).
            url = str(default_storage_dir(root))
            repo.set_remote(cfg["remote"], url, local_url=True)
            local = True
        else:
            url = existing[cfg["remote"]]["url"]
            local = _url_is_local(root, cfg["remote"])
    for ns in nss:
        if ns not in cfg["namespaces"]:
            cfg["namespaces"].append(ns)
    if cfg["default_namespace"] is None and cfg["namespaces"]:
        cfg["default_namespace"] = cfg["namespaces"][0]
    reg.save_config(cfg)
    keep = []
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        marker = root / folder / ".gitkeep"
        if not any((root / folder).iterdir()):
            marker.touch()
        if marker.exists():
            keep.append(reg.rel(marker))
    gitio.add(root, [CONFIG_FILE, ".dvc/config", ".dvc/.gitignore", ".dvcignore", *keep])
    return InitResult(root, created, cfg["remote"], url, list(cfg["namespaces"]), local)


def _url_is_local(root: Path, name: str) -> bool:
    """True if ``.dvc/config.local`` defines remote ``name``'s URL (read as text: no DVC needed)."""
    path = root / ".dvc" / "config.local"
    if not path.is_file():
        return False
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text())
    except (configparser.Error, UnicodeDecodeError):
        return False
    return any(sec.strip("' ") == f'remote "{name}"' and parser.has_option(sec, "url") for sec in parser.sections())
