"""DVC for consumers: ``dvc import`` of an artifact at a registry revision, and the imports a
project holds (``pedata import``, ``update``, ``status``)."""

from __future__ import annotations

from pathlib import Path

from dvc.exceptions import DvcException
from dvc.repo import Repo

from dvc_pedata.dvcio.repo import DvcRepo, _quiet_dvc
from dvc_pedata.errors import DvcError, PedataError


def import_artifact(consumer: Path, url: str, path: str, out: Path, rev: str) -> Path:
    """``dvc import <url> <path> -o <out> --rev <rev>`` in the DVC project ``consumer``.

    Returns the ``.dvc`` file written, so a caller that rejects the bytes can remove both.
    """
    _quiet_dvc()
    try:
        with Repo(str(consumer)) as repo:
            stage = repo.imp(url, path, out=str(out), rev=rev)
            return Path(stage.path)
    except DvcException as exc:
        raise DvcError(f"dvc import failed: {exc}") from exc


def repo_imports(root: Path) -> list[tuple[str, str, str, str | None]]:
    """(out path, md5, source repo URL, rev) of every ``dvc import`` in the DVC project at ``root``."""
    _quiet_dvc()
    out = []
    try:
        with Repo(str(root)) as repo:
            for stage in repo.index.stages:
                if not getattr(stage, "is_repo_import", False):
                    continue
                dep = stage.deps[0]
                info = dict(getattr(dep, "def_repo", {}) or {})
                for o in stage.outs:
                    if o.hash_info and o.hash_info.value:
                        rel = Path(o.fs_path).resolve().relative_to(Path(root).resolve()).as_posix()
                        out.append((rel, o.hash_info.value, str(info.get("url")), info.get("rev_lock") or info.get("rev")))
    except DvcException as exc:
        raise DvcError(f"cannot read the DVC project at {root}: {exc}") from exc
    return out


def cached_listing(root: Path, md5: str) -> list[tuple[str, str]] | None:
    """``(relpath, md5)`` of the folder whose DVC listing ``md5`` sits in the local cache of the
    DVC project at ``root`` (e.g. a ``dvc import``-ed folder), or None if it is not there."""
    _quiet_dvc()
    try:
        with DvcRepo(root) as dr:
            return dr.dir_entries(md5)
    except (PedataError, ValueError, KeyError, TypeError):
        return None
