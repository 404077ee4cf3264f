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

from .errors import DvcError, IntegrityError, NotFoundError, PedataError


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
    """Keep DVC from taking over the process's output.

    DVC logs progress banners at INFO on stdout, and pedata's stdout is for its own (JSON) output.
    ``import dvc`` also runs ``colorama.init()``, which replaces ``sys.stdout``/``sys.stderr`` with
    wrappers around the streams of that moment: a host program (or a test runner) that later
    swaps its streams would be written to through stale wrappers. Undo both.
    """
    logging.getLogger("dvc").setLevel(logging.WARNING)
    import colorama  # a DVC dependency

    colorama.deinit()


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
        # DVC warns "Can't use 'x' as artifact name (ID)" on its own line; pedata checks every name
        # itself and reports a bad one as its single error line, so that warning would be a second.
        dvc_log = logging.getLogger("dvc")
        level = dvc_log.level
        dvc_log.setLevel(logging.ERROR)
        try:
            read = self.repo.artifacts.read()
        finally:
            dvc_log.setLevel(level)
        for dvcyaml, arts in read.items():
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
    def add(self, path: str) -> str:
        """``dvc add`` one file (repo-relative); returns the ``.dvc`` file written, repo-relative."""
        try:
            stages = self.repo.add([str(self.root / path)])
        except DvcException as exc:
            raise DvcError(f"dvc add {path} failed: {exc}") from exc
        return Path(stages[0].path).resolve().relative_to(self.root).as_posix()

    def push(self, paths: Iterable[str], remote: str | None = None) -> int:
        """``dvc push`` the outputs at ``paths``; returns the number of objects transferred."""
        targets = [str(self.root / p) for p in paths]
        if not targets:
            return 0
        try:
            return int(self.repo.push(targets=targets, remote=remote) or 0)
        except (DvcException, OSError) as exc:  # a local remote's folder that cannot be written: OSError
            raise DvcError(f"dvc push failed: {exc}") from exc

    def remote_odb(self, name: str | None = None) -> Any:
        # DVC builds a new Remote (config, filesystem) on every call, 2-8 ms: once per remote per
        # open repository, not once per file of a 5,000-file folder (the remote's config cannot
        # change under an open Repo). A race only builds one twice.
        odbs = self.__dict__.setdefault("_remote_odbs", {})
        if name not in odbs:
            try:
                odbs[name] = self.repo.cloud.get_remote_odb(name, command="pedata")
            except DvcException as exc:
                raise DvcError(str(exc)) from exc
        return odbs[name]

    @contextmanager
    def open_remote_object(self, md5: str, remote: str | None = None) -> Iterator[Any]:
        """Open the object ``md5`` in a remote for streaming reads (any DVC remote type)."""
        odb = self.remote_odb(remote)
        path = odb.oid_to_path(md5)
        try:
            fh = odb.fs.open(path, "rb")
        except FileNotFoundError:
            raise NotFoundError(f"object {md5} is not in remote {remote or self.default_remote()!r}") from None
        except PermissionError as exc:  # s3fs/gcsfs map HTTP 403 here: a key without access, or a wrong one
            name = remote or self.default_remote()
            raise PedataError(
                f"remote {name!r} refused access to object {md5} ({exc}): check the credentials DVC uses for it"
                f" (environment, or 'dvc remote modify --local {name} ...')"
            ) from exc
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
        path = Path(self.repo.cache.local.oid_to_path(md5))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"DVC's listing {md5} is not in the local cache: run 'dvc commit' or 'dvc pull' first") from None
        return parse_listing(data)

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


    def read_remote_prefix(self, remote: str | None, prefix: str) -> list[bytes]:
        """The bytes of every object under ``prefix/`` in the remote (empty when there is none)."""
        try:
            rem = self.repo.cloud.get_remote(remote, command="pedata")
        except DvcException as exc:
            raise DvcError(str(exc)) from exc
        fs = rem.fs
        try:
            paths = sorted(fs.find(fs.join(rem.path, prefix)))
            return [fs.cat_file(p) for p in paths]
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise PedataError(f"cannot read {prefix}/ in remote {remote or 'default'!r}: {exc}") from exc


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


# -- store maintenance (revoke --purge, fsck, gc, mirror) ------------------------------------------
@dataclass(frozen=True)
class CopyOutcome:
    """What :meth:`StoreRepo.copy_object` did: ``copied``, ``repaired`` (a bad copy replaced) or ``present``."""

    status: str
    url: str
    size: int


def _clear_remote_index(odb: Any) -> None:
    """Forget DVC's cached listing of a remote, so the next push sees what we changed.

    DVC keeps an index of objects it believes a remote holds; after we delete or add an object
    behind its back, a stale index would make ``dvc push`` skip an object or ``status`` lie.
    """
    from dvc_data.hashfile.db import get_index

    try:
        get_index(odb).clear()
    except Exception:  # a missing or locked index is not worth failing a deletion for
        pass


def _url(odb: Any, path: str) -> str:
    try:
        return str(odb.fs.unstrip_protocol(path))
    except Exception:
        return str(path)


class StoreRepo(DvcRepo):
    """A :class:`DvcRepo` with the object-level operations pedata's store maintenance needs.

    DVC has no command for one object (``dvc gc`` keeps or drops whole revisions), so these work on
    DVC's object databases directly: ``files/md5/<2>/<30>`` in every remote and in the cache.
    """

    def remote_names(self) -> list[str]:
        return sorted(self.repo.config["remote"])

    def object_url(self, md5: str, remote: str) -> str:
        """The full URL of object ``md5`` in ``remote`` (for messages and records)."""
        odb = self.remote_odb(remote)
        return _url(odb, odb.oid_to_path(md5))

    def delete_remote_object(self, md5: str, remote: str) -> bool:
        """Delete object ``md5`` from ``remote``; False if it was not there. Raises on failure."""
        [(_md5, _url_, deleted, error)] = self.delete_remote_objects([md5], remote)
        if error is not None:
            raise PedataError(error)
        return bool(deleted)

    def delete_remote_objects(self, md5s: Iterable[str], remote: str) -> list[tuple[str, str, bool, str | None]]:
        """Delete each object of ``md5s`` from ``remote`` (a folder's listing and files in one pass).

        Returns ``(md5, url, deleted, error)`` per object: ``deleted`` False means it was not there;
        ``error`` says why a deletion failed (one failure never stops the others). DVC's index of
        the remote is cleared once at the end. Raises only if the remote cannot be opened.
        """
        odb = self.remote_odb(remote)
        out: list[tuple[str, str, bool, str | None]] = []
        try:
            for md5 in md5s:
                path = odb.oid_to_path(md5)
                url = _url(odb, path)
                try:
                    if not odb.fs.exists(path):
                        out.append((md5, url, False, None))
                        continue
                    odb.delete(md5)
                    out.append((md5, url, True, None))
                except FileNotFoundError:
                    out.append((md5, url, False, None))
                except Exception as exc:  # permissions, network: DVC's filesystems raise many types
                    out.append((md5, url, False, f"cannot delete {url}: {exc}"))
        finally:
            _clear_remote_index(odb)
        return out

    def delete_cache_object(self, md5: str) -> tuple[bool, str]:
        """Delete object ``md5`` from the local DVC cache; returns (deleted, path)."""
        odb = self.repo.cache.local
        path = odb.oid_to_path(md5)
        try:
            if not odb.fs.exists(path):
                return False, str(path)
            odb.delete(md5)
        except FileNotFoundError:
            return False, str(path)
        except OSError as exc:
            raise PedataError(f"cannot delete {path} from the DVC cache: {exc.strerror or exc}") from exc
        return True, str(path)

    def list_remote_objects(self, remote: str) -> list[str]:
        """The md5 of every object in ``remote`` (files under ``files/md5/``; other keys are skipped)."""
        odb = self.remote_odb(remote)
        out = []
        try:
            paths = list(odb.fs.find(odb.path))
        except FileNotFoundError:
            return out
        except Exception as exc:
            raise PedataError(f"cannot list remote {remote!r}: {exc}") from exc
        for path in paths:
            try:
                out.append(odb.path_to_oid(path))
            except ValueError:
                continue  # temp files, audit records: not DVC objects
        return sorted(set(out))

    def workspace_outs(self) -> list[tuple[str, str]]:
        """(path, md5) of every file output the work tree's DVC files record."""
        out = []
        try:
            outs = list(self.repo.index.outs)
        except DvcException as exc:
            raise DvcError(f"cannot read the DVC files of {self.root}: {exc}") from exc
        for o in outs:
            if o.hash_info and o.hash_info.value:
                path = Path(o.fs_path)
                rel = path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(o.def_path)
                out.append((rel, o.hash_info.value))
        return out

    def copy_object(self, md5: str, sha256: str, size: int, src: str, dst: str, staging: Path, *, deep: bool = False) -> CopyOutcome:
        """Copy object ``md5`` from remote ``src`` to ``dst`` and prove it arrived intact.

        The bytes are staged locally while their sha256 is checked against the pin (a corrupt
        source is never propagated), uploaded, then read back from ``dst`` and hashed again, so a
        mirror holds exactly the pinned bytes. An object already in ``dst`` with the right size is
        left alone (``present``), which makes a re-run cheap and a killed run resumable; with
        ``deep`` it is hashed too. A copy in ``dst`` with the wrong size (or, with ``deep``, the
        wrong sha256) is deleted once good bytes are staged, and replaced (``repaired``).
        """
        import hashlib
        import os
        import tempfile


        dodb = self.remote_odb(dst)
        dpath = dodb.oid_to_path(md5)
        url = _url(dodb, dpath)
        try:
            have = int(dodb.fs.size(dpath)) if dodb.fs.exists(dpath) else None
        except FileNotFoundError:
            have = None
        if have == size and (not deep or self.hash_remote_object(md5, dst) == sha256):
            return CopyOutcome("present", url, size)
        staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pedata-tmp-mirror-", dir=staging)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as fh:
                for chunk in self.iter_remote_object(md5, src):
                    fh.write(chunk)
                    h.update(chunk)
            if h.hexdigest() != sha256:
                raise IntegrityError(f"remote {src!r} holds corrupt bytes for sha256 {sha256} (got {h.hexdigest()}); not copied")
            self._put_staged(dodb, dst, md5, Path(tmp), url, replace=have is not None)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        back = hashlib.sha256()
        for chunk in self.iter_remote_object(md5, dst):
            back.update(chunk)
        if back.hexdigest() != sha256:
            self.delete_remote_object(md5, dst)
            raise IntegrityError(f"{url}: bytes read back hash to {back.hexdigest()}, not {sha256}; removed")
        return CopyOutcome("copied" if have is None else "repaired", url, size)

    def _put_staged(self, dodb: Any, dst: str, md5: str, tmp: Path, url: str, *, replace: bool) -> None:
        """Upload a checked, staged file as object ``md5`` of ``dst`` (deleting a bad copy first).

        A bad copy is deleted rather than overwritten in place, so a reader never sees a mix.
        """
        from dvc_objects.fs.local import LocalFileSystem

        if replace:
            self.delete_remote_object(md5, dst)
        try:
            dodb.add(str(tmp), LocalFileSystem(), md5, check_exists=False)
        except Exception as exc:
            raise PedataError(f"cannot write {url}: {exc}") from exc
        finally:
            _clear_remote_index(dodb)

    def copy_listing(self, md5: str, files: set[tuple[str, str]], src: str, dst: str, staging: Path) -> CopyOutcome:
        """Copy DVC's ``<md5>.dir`` listing of a folder from ``src`` to ``dst`` (so ``dvc pull`` works there).

        A listing is small and is not named by a sha256 the registry pins, so it is checked in
        full instead: its bytes must hash to its md5 name and name exactly ``files`` (the
        ``(relpath, md5)`` pairs of the verified directory manifest). A copy already in ``dst`` that
        passes the same check is left alone; an upload is read back and compared byte for byte.
        """
        import os
        import tempfile


        dodb = self.remote_odb(dst)
        dpath = dodb.oid_to_path(md5)
        url = _url(dodb, dpath)

        def read_checked(remote: str) -> bytes | None:
            try:
                data = b"".join(self.iter_remote_object(md5, remote))
            except (PedataError, FileNotFoundError):
                return None
            return data if _listing_problem(data, md5, files) is None else None

        existed = dodb.fs.exists(dpath)
        present = read_checked(dst) if existed else None
        if present is not None:
            return CopyOutcome("present", url, len(present))
        data = b"".join(self.iter_remote_object(md5, src))
        problem = _listing_problem(data, md5, files)
        if problem is not None:
            raise IntegrityError(f"remote {src!r} holds a bad folder listing {md5}: {problem}; not copied")
        staging.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".pedata-tmp-mirror-", dir=staging)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            self._put_staged(dodb, dst, md5, Path(tmp), url, replace=existed)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if b"".join(self.iter_remote_object(md5, dst)) != data:
            self.delete_remote_object(md5, dst)
            raise IntegrityError(f"{url}: the folder listing read back differs from what was written; removed")
        return CopyOutcome("repaired" if existed else "copied", url, len(data))

    def listing_problem(self, md5: str, files: set[tuple[str, str]], remote: str, deep: bool) -> tuple[str, str] | None:
        """``(missing|corrupt, detail)`` if ``remote`` lacks a sound ``md5`` folder listing (``fsck``)."""
        if self.remote_object_size(md5, remote) is None:
            return "missing", f"DVC's folder listing {md5} is not there, so 'dvc pull' of the folder fails"
        if deep:
            problem = _listing_problem(b"".join(self.iter_remote_object(md5, remote)), md5, files)
            if problem is not None:
                return "corrupt", f"DVC's folder listing {md5}: {problem}"
        return None

    def remote_listing_md5s(self, md5: str, remote: str) -> set[str]:
        """md5s of the files DVC's ``.dir`` listing ``md5`` in ``remote`` names (``gc`` keeps them)."""
        import json

        data = b"".join(self.iter_remote_object(md5, remote))
        try:
            return {str(e["md5"]) for e in json.loads(data)}
        except (ValueError, TypeError, KeyError):
            raise PedataError(
                f"{self.object_url(md5, remote)} is not a readable DVC folder listing, so the files it names are"
                " unknown; refusing to collect garbage"
            ) from None

    def hash_remote_object(self, md5: str, remote: str) -> str:
        """sha256 of the object ``md5`` as ``remote`` serves it (``fsck --deep``)."""
        import hashlib

        h = hashlib.sha256()
        for chunk in self.iter_remote_object(md5, remote):
            h.update(chunk)
        return h.hexdigest()


def parse_listing(data: bytes) -> list[tuple[str, str]]:
    """``(relpath, md5)`` of every file in the bytes of a DVC ``.dir`` listing object."""
    import json

    return [(str(e["relpath"]).replace("\\", "/"), str(e["md5"])) for e in json.loads(data)]


def file_md5(path: Path | str, name: str = "md5") -> str:
    """DVC's digest of one file under hash ``name`` (``md5``, or the legacy ``md5-dos2unix``),
    read afresh: DVC's state database is not consulted, so the bytes on disk are what is hashed."""
    from dvc_data.hashfile.hash import file_md5 as _file_md5

    return str(_file_md5(str(path), name=name))


def _listing_problem(data: bytes, md5: str, files: set[tuple[str, str]]) -> str | None:
    """Why ``data`` is not DVC's ``md5`` listing of exactly ``files``, or None if it is."""
    import hashlib
    import json

    actual = hashlib.md5(data).hexdigest() + ".dir"
    if actual != md5:
        return f"its bytes hash to {actual}"
    try:
        listed = {(str(e["relpath"]).replace("\\", "/"), str(e["md5"])) for e in json.loads(data)}
    except (ValueError, TypeError, KeyError):
        return "it is not a DVC folder listing"
    if len(listed) != len(files):
        return f"it names {len(listed)} files, the manifest {len(files)}"
    if listed != files:
        return "its files or their md5s differ from the manifest's"
    return None


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


# -- the stage graph (lineage, locks, replay) -----------------------------------------------------
@dataclass
class StageInfo:
    """One DVC stage as lineage sees it: paths are repo-relative posix, hashes come from the lock.

    ``deps``/``outs`` entries are ``{"path", "md5", "size", "is_dir"}``; ``params`` maps a params
    file to the values recorded in ``dvc.lock`` (or declared, when the stage never ran).
    """

    name: str  # "generate" for dvc.yaml stages, the .dvc file path for data sources
    target: str  # what `dvc repro` accepts: "dvc.yaml:generate" or "data/raw.csv.dvc"
    dvcfile: str
    cmd: str | None
    frozen: bool
    data_source: bool  # a `dvc add`-ed file: no command, its outs are raw inputs
    import_url: str | None  # `dvc import-url` / `dvc import` source, if any
    deps: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: list[dict[str, Any]] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)  # targets of the stages it depends on


def _entry(repo: Any, item: Any) -> dict[str, Any]:
    hi = item.hash_info
    return {
        "path": Path(repo.fs.relpath(item.fs_path, repo.root_dir)).as_posix(),
        "md5": hi.value if hi and hi.value else None,
        "size": item.meta.size if getattr(item, "meta", None) else None,
        "is_dir": bool(hi and hi.isdir),
        "hash": hi.name if hi and hi.value else None,  # "md5" (DVC 3) or legacy "md5-dos2unix"
    }


def _stage_target(stage: Any) -> tuple[str, str, str]:
    """(dvcfile, name, target) of a DVC stage: ``dvc.yaml:generate``, or the ``.dvc`` file."""
    dvcfile = Path(stage.path_in_repo).as_posix()
    pipeline = bool(getattr(stage, "name", None)) and dvcfile.endswith((".yaml", ".yml"))
    name = stage.name if pipeline else dvcfile
    return dvcfile, name, f"{dvcfile}:{name}" if pipeline else dvcfile


def _stage_info(repo: Any, stage: Any) -> StageInfo:
    dvcfile, name, target = _stage_target(stage)
    deps, params = [], {}
    for dep in stage.deps:
        if dep.__class__.__name__ == "ParamsDependency":
            rel = Path(repo.fs.relpath(dep.fs_path, repo.root_dir)).as_posix()
            recorded = dict(dep.hash_info.value or {}) if dep.hash_info else {}
            params[rel] = recorded or {k: None for k in (dep.params or [])}
            continue
        if stage.is_import:
            continue
        deps.append(_entry(repo, dep))
    import_url = None
    if stage.is_import and stage.deps:
        dep = stage.deps[0]
        repo_info = getattr(dep, "def_repo", None) or {}
        import_url = f"{repo_info.get('url')}@{repo_info.get('rev_lock') or repo_info.get('rev') or 'HEAD'}:{dep.def_path}" if repo_info else str(dep.def_path)
    return StageInfo(
        name=name,
        target=target,
        dvcfile=dvcfile,
        cmd=stage.cmd or None,
        frozen=bool(stage.frozen),
        data_source=bool(stage.is_data_source),
        import_url=import_url,
        deps=sorted(deps, key=lambda d: d["path"]),
        params={k: dict(sorted(v.items())) for k, v in sorted(params.items())},
        outs=sorted((_entry(repo, o) for o in stage.outs), key=lambda d: d["path"]),
    )


def pipeline_stages(root: Path | str, rev: str | None = None) -> list[StageInfo]:
    """Every stage of the project at ``root`` (at git ``rev`` if given), with upstream links.

    Upstream links come from DVC's own ``repo.index.graph`` (edges consumer -> producer), so
    lineage agrees with what ``dvc repro`` would run.
    """
    with DvcRepo(root, rev=rev) as dr:
        repo = dr.repo
        try:
            graph = repo.index.graph
        except DvcException as exc:
            raise DvcError(f"cannot read the pipeline: {exc}") from exc
        infos = {}
        for stage in graph.nodes:
            infos[stage] = _stage_info(repo, stage)
        for consumer, producer in graph.edges:
            infos[consumer].upstream.append(infos[producer].target)
        out = sorted(infos.values(), key=lambda s: s.target)
        for s in out:
            s.upstream.sort()
        return out


def reproduce(root: Path | str, targets: list[str]) -> list[str]:
    """``dvc repro --force`` of ``targets`` and their upstream stages.

    Force is required: without it DVC skips an unchanged stage whose outputs are present (e.g.
    committed to git with ``cache: false``) and restores missing ones from its run cache without
    running the command, which would prove nothing. Run this only in a scratch worktree: it
    rewrites ``dvc.lock``. Returns the targets (``dvc.yaml:name``) DVC reports as reproduced;
    with force that includes frozen and ``dvc add`` stages, whose commands did not run.
    """
    import os
    import sys

    with DvcRepo(root) as dr:
        # Targets are resolved against the current folder by DVC: make them absolute.
        absolute = [str(dr.root / t) for t in targets]
        # Stage commands inherit stdout; pedata's stdout is for its report (--json), so the
        # commands' output goes to stderr, where a user still sees it.
        # DVC also resolves some paths against the current folder: run from the project.
        sys.stdout.flush()
        saved, cwd = os.dup(1), os.getcwd()
        os.dup2(2, 1)
        try:
            os.chdir(dr.root)
            ran = dr.repo.reproduce(absolute, force=True)
        except DvcException as exc:
            cause = exc.__cause__ or exc
            raise DvcError(f"dvc repro failed: {' '.join(str(cause).split())[:300]}") from exc
        finally:
            os.chdir(cwd)
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        return [_stage_target(s)[2] for s in ran or []]


def configure_scratch(root: Path | str, remotes: dict[str, dict[str, Any]], default: str | None) -> None:
    """Point a scratch worktree at the original repository's remotes.

    Remote URLs in ``.dvc/config`` may be relative to the config file (the example registry's
    are), which breaks in a worktree elsewhere; DVC has already resolved them to absolute paths
    in ``remotes``. Written to ``.dvc/config.local``, like credentials.
    """
    with DvcRepo(root) as dr, dr.repo.config.edit("local") as conf:
        for name, opts in remotes.items():
            conf["remote"].setdefault(name, {})
            for key, value in opts.items():
                if isinstance(value, str):
                    conf["remote"][name][key] = value
        if default:
            conf["core"]["remote"] = default
