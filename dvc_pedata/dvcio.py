"""Every call into DVC lives here.

DVC's ``Repo``, ``repo.index``, ``repo.cloud`` and its object databases are internal APIs; pyproject
pins ``dvc``, ``dvc-data`` and ``dvc-objects`` to the ranges tested, and keeping all uses in one
module means a DVC upgrade is checked in one place. Importing this module imports DVC (~0.4 s),
so callers import it lazily, never on the resolver's cache-hit path.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc.exceptions import DvcException, OutputNotFoundError
from dvc.repo import Repo

from .errors import DvcError, NotFoundError, PedataError


@dataclass
class OutInfo:
    """What DVC knows about one output: its md5 identity, size, and the stage that made it."""

    path: str  # repo-relative, posix
    md5: str | None
    size: int | None
    is_dir: bool
    dvcfile: str
    stage: str | None  # stage name for dvc.yaml stages, None for `dvc add` (.dvc) files
    cmd: str | None
    deps: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _quiet_dvc() -> None:
    """DVC logs progress banners at INFO on stdout; pedata's stdout is for its own (JSON) output."""
    logging.getLogger("dvc").setLevel(logging.WARNING)


_quiet_dvc()


def init_repo(root: Path) -> bool:
    """``dvc init`` in a git repository, unless already done. Returns True if it initialised."""
    if (Path(root) / ".dvc").is_dir():
        return False
    try:
        Repo.init(str(root)).close()
    except DvcException as exc:
        raise DvcError(f"dvc init failed: {exc}") from exc
    return True


def _ensure_local_storage(url: str) -> None:
    if "://" not in url:
        Path(url).mkdir(parents=True, exist_ok=True)


class DvcRepo:
    """An open DVC repository; use as a context manager so DVC's locks and handles are released."""

    def __init__(self, root: Path | str, rev: str | None = None) -> None:
        """Open the repository at ``root``; with ``rev``, its config as of that commit.

        ``rev`` also works on a bare clone (the resolver's cached registries), which is how a
        consumer reads a registry's remotes without checking its files out.
        """
        _quiet_dvc()
        self.root = Path(root).resolve()
        try:
            self.repo = Repo(str(self.root), rev=rev) if rev else Repo(str(self.root))
        except DvcException as exc:
            raise DvcError(f"cannot open DVC repository at {self.root}: {exc}") from exc

    def close(self) -> None:
        self.repo.close()

    def __enter__(self) -> DvcRepo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- configuration -------------------------------------------------------------------------
    def set_remote(self, name: str, url: str, *, default: bool = True, options: dict[str, str] | None = None) -> None:
        """Add or update a remote in ``.dvc/config`` (credentials belong in ``.dvc/config.local``)."""
        _ensure_local_storage(url)
        with self.repo.config.edit("repo") as conf:
            conf["remote"].setdefault(name, {})
            conf["remote"][name]["url"] = url
            for key, value in (options or {}).items():
                conf["remote"][name][key] = value
            if default:
                conf["core"]["remote"] = name

    def remotes(self) -> dict[str, dict[str, Any]]:
        return {name: dict(conf) for name, conf in self.repo.config["remote"].items()}

    def default_remote(self) -> str | None:
        return self.repo.config["core"].get("remote")

    def remote_url(self, name: str) -> str:
        try:
            return self.repo.config["remote"][name]["url"]
        except KeyError:
            raise NotFoundError(f"no DVC remote named {name!r} in {self.root}/.dvc/config") from None

    # -- outputs and artifacts -----------------------------------------------------------------
    def artifacts(self) -> dict[str, dict[str, Any]]:
        """``artifacts:`` of every dvc.yaml: name -> {path (repo-relative), type, desc, meta, dvcfile}."""
        out: dict[str, dict[str, Any]] = {}
        for dvcyaml, arts in self.repo.artifacts.read().items():
            base = posixpath.dirname(dvcyaml)
            for name, art in arts.items():
                out[name] = {
                    "path": posixpath.normpath(posixpath.join(base, art.path)),
                    "type": art.type,
                    "desc": art.desc,
                    "meta": dict(art.meta or {}),
                    "dvcfile": dvcyaml,
                }
        return out

    def out_info(self, path: str | Path) -> OutInfo:
        """Describe the DVC output at ``path`` (repo-relative or absolute)."""
        abs_path = (self.root / path).resolve() if not Path(path).is_absolute() else Path(path)
        rel = abs_path.relative_to(self.root).as_posix() if abs_path.is_relative_to(self.root) else str(path)
        try:
            outs = self.repo.find_outs_by_path(str(abs_path))
        except OutputNotFoundError:
            raise NotFoundError(
                f"{rel} is not a DVC output (declare it in a dvc.yaml stage's outs or 'dvc add' it)"
            ) from None
        except DvcException as exc:
            raise DvcError(f"{rel}: {exc}") from exc
        out = outs[0]
        stage = out.stage
        deps: list[dict[str, Any]] = []
        params: dict[str, dict[str, Any]] = {}
        for dep in stage.deps:
            if dep.__class__.__name__ == "ParamsDependency":
                fname = Path(dep.def_path).as_posix()
                params[fname] = dict(dep.hash_info.value or {}) if dep.hash_info else {}
                continue
            deps.append(
                {
                    "path": Path(dep.def_path).as_posix(),
                    "md5": dep.hash_info.value if dep.hash_info else None,
                    "size": dep.meta.size if dep.meta else None,
                }
            )
        is_pipeline = hasattr(stage, "cmd") and getattr(stage, "name", None) and stage.cmd
        return OutInfo(
            path=rel,
            md5=out.hash_info.value if out.hash_info else None,
            size=out.meta.size if out.meta else None,
            is_dir=bool(out.hash_info and out.hash_info.isdir),
            dvcfile=Path(stage.dvcfile.relpath).as_posix(),
            stage=stage.name if is_pipeline else None,
            cmd=stage.cmd if is_pipeline else None,
            deps=sorted(deps, key=lambda d: d["path"]),
            params=params,
            meta=dict(out.meta and getattr(out, "annot", None) and out.annot.meta or {}),
        )

    def workspace_status(self, path: str) -> str | None:
        """None if the workspace file matches dvc.lock / .dvc, else 'modified', 'deleted' or 'new'.

        Uses DVC's state database, so an unchanged file is not re-hashed.
        """
        out = self.repo.find_outs_by_path(str(self.root / path))[0]
        status = out.workspace_status()
        return next(iter(status.values()), None)

    # -- data movement -------------------------------------------------------------------------
    def push(self, paths: Iterable[str], remote: str | None = None) -> int:
        """``dvc push`` the outputs at ``paths``; returns the number of objects transferred."""
        targets = [str(self.root / p) for p in paths]
        if not targets:
            return 0
        try:
            return int(self.repo.push(targets=targets, remote=remote) or 0)
        except DvcException as exc:
            raise DvcError(f"dvc push failed: {exc}") from exc

    def remote_odb(self, name: str | None = None) -> Any:
        try:
            return self.repo.cloud.get_remote_odb(name, command="pedata")
        except DvcException as exc:
            raise DvcError(str(exc)) from exc

    @contextmanager
    def open_remote_object(self, md5: str, remote: str | None = None) -> Iterator[Any]:
        """Open the object ``md5`` in a remote for streaming reads (any DVC remote type)."""
        odb = self.remote_odb(remote)
        path = odb.oid_to_path(md5)
        try:
            fh = odb.fs.open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"object {md5} is not in remote {remote or self.default_remote()!r}") from None
        except Exception as exc:  # network / credentials: DVC's filesystems raise many types
            raise PedataError(f"cannot read object {md5} from remote {remote or self.default_remote()!r}: {exc}") from exc
        try:
            yield fh
        finally:
            fh.close()

    def remote_object_size(self, md5: str, remote: str | None = None) -> int | None:
        odb = self.remote_odb(remote)
        try:
            return int(odb.fs.size(odb.oid_to_path(md5)))
        except FileNotFoundError:
            return None

    def local_cache_path(self, md5: str) -> Path:
        return Path(self.repo.cache.local.oid_to_path(md5))

    def dir_entries(self, md5: str) -> list[tuple[str, str]]:
        """``(relpath, md5)`` of every file in the DVC ``.dir`` object ``md5`` (local cache).

        DVC's listing is authoritative for which files a folder out holds (``.dvcignore`` applies).
        """
        import json

        path = Path(self.repo.cache.local.oid_to_path(md5))
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"DVC's listing {md5} is not in the local cache: run 'dvc commit' or 'dvc pull' first") from None
        return [(str(e["relpath"]).replace("\\", "/"), str(e["md5"])) for e in data]

    def iter_remote_object(self, md5: str, remote: str | None = None, block: int = 1 << 20) -> Iterator[bytes]:
        """Stream the object ``md5`` from a remote in ``block``-sized chunks (any remote type).

        DVC's own ``verify`` is off for cloud remotes, so callers must hash what they read.
        """
        with self.open_remote_object(md5, remote) as fh:
            while True:
                try:
                    chunk = fh.read(block)
                except Exception as exc:  # a transfer that dies half way
                    raise PedataError(f"reading object {md5} from remote {remote!r} failed: {exc}") from exc
                if not chunk:
                    return
                yield chunk

    def write_remote_new(self, remote: str | None, relpath: str, data: bytes) -> str:
        """Write ``data`` at ``relpath`` under the remote's root, refusing to overwrite; returns the URL.

        For append-only records (the audit prefix): the caller picks a unique name, and an
        existing object is never replaced.
        """
        try:
            rem = self.repo.cloud.get_remote(remote, command="pedata")
        except DvcException as exc:
            raise DvcError(str(exc)) from exc
        fs = rem.fs
        path = fs.join(rem.path, *relpath.split("/"))
        if fs.exists(path):
            raise PedataError(f"refusing to overwrite {relpath} in remote {remote!r}")
        parent = fs.parent(path)
        try:
            fs.makedirs(parent, exist_ok=True)
        except Exception:  # object stores have no folders
            pass
        fs.pipe_file(path, data)
        return fs.unstrip_protocol(path) if hasattr(fs, "unstrip_protocol") else str(path)


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


def find_project(start: Path) -> Path:
    """The DVC project containing ``start``."""
    try:
        return Path(Repo.find_root(str(start)))
    except DvcException:
        raise NotFoundError(f"{start} is not inside a DVC project (run 'git init && dvc init' first)") from None
