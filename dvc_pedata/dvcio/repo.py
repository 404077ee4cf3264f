"""The DVC repository: open it, read its config, outputs and artifacts, add, push, remote objects.

Every call into DVC lives in this package (``repo``, ``store``, ``pipeline``, ``imports``), split
by audience.

DVC's ``Repo``, ``repo.index``, ``repo.cloud`` and its object databases are internal APIs; pyproject
pins ``dvc``, ``dvc-data`` and ``dvc-objects`` to the ranges tested, and keeping all uses in one
package means a DVC upgrade is checked in one place. Importing this module imports DVC (~0.4 s),
so callers import it lazily, never on the resolver's cache-hit path.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dvc.exceptions import DvcException, OutputNotFoundError
from dvc.repo import Repo

from dvc_pedata.errors import DvcError, NotFoundError, PedataError


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
    hash_name: str = "md5"  # DVC 3's plain md5; "md5-dos2unix" for a DVC 2.x record (text files normalised)


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


@contextmanager
def dvc_errors() -> Iterator[None]:
    """Turn a DVC exception raised inside into a one-line :class:`DvcError`.

    DVC reads ``dvc.yaml`` and ``dvc.lock`` lazily, from whichever call first needs them, so a
    broken file (YAML syntax, a schema violation such as ``artifacts`` as a list, bytes that are
    not UTF-8) surfaces wherever that is. DVC's own message names the file; the schema's first
    complaint is added so the user sees what to fix.
    """
    try:
        yield
    except DvcException as exc:
        text = str(exc)
        cause = exc.__cause__
        detail = str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else ""
        if detail and detail not in text:
            text = f"{text}: {detail}"
        raise DvcError(" ".join(text.split())) from exc


R = TypeVar("R", bound="DvcRepo")


class DvcRepo:
    """An open DVC repository; use as a context manager so DVC's locks and handles are released."""

    def __init__(self, root: Path | str, rev: str | None = None) -> None:
        """Open the repository at ``root``; with ``rev``, its config as of that commit.

        ``rev`` also works on a bare clone (the resolver's cached registries), which is how a
        consumer reads a registry's remotes without checking its files out.
        """
        _quiet_dvc()
        self.root = Path(root).resolve()
        self._remote_lock = threading.RLock()  # _get_remote, remote_odb: see there
        self._remote_odbs: dict[str | None, Any] = {}  # remote_odb's, one per remote name
        try:
            self.repo = Repo(str(self.root), rev=rev) if rev else Repo(str(self.root))
        except DvcException as exc:
            raise DvcError(f"cannot open DVC repository at {self.root}: {exc}") from exc

    def close(self) -> None:
        self.repo.close()

    def __enter__(self: R) -> R:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- configuration -------------------------------------------------------------------------
    def set_remote(self, name: str, url: str, *, default: bool = True, options: dict[str, str] | None = None,
                   local_url: bool = False) -> None:
        """Add or update a remote in ``.dvc/config`` (credentials belong in ``.dvc/config.local``).

        ``local_url``: the URL is machine-local (a folder on this disk), so it goes to DVC's
        git-ignored ``.dvc/config.local``; the committed config keeps only ``core.remote``. Otherwise
        a URL this machine kept locally for ``name`` is dropped, since the local file would win.
        """
        _ensure_local_storage(url)
        with self.repo.config.edit("local") as conf:
            if local_url:
                conf["remote"].setdefault(name, {})["url"] = url
            elif "url" in conf["remote"].get(name, {}):
                del conf["remote"][name]["url"]
                if not conf["remote"][name]:
                    del conf["remote"][name]
        with self.repo.config.edit("repo") as conf:
            if not local_url:
                conf["remote"].setdefault(name, {})
                conf["remote"][name]["url"] = url
            for key, value in (options or {}).items():
                conf["remote"].setdefault(name, {})[key] = value
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
        """``artifacts:`` of every dvc.yaml: name -> {path (repo-relative), type, desc, meta, dvcfile}.

        Read from DVC's index as ``repo.artifacts.read()`` does, without its name check: that
        imports GTO and pydantic (19 MB, 0.2 s, a third of a folder publish's memory over DVC's),
        and pedata checks every name itself, reporting a bad one as its single error line.
        """
        from dvc.annotations import Artifact

        out: dict[str, dict[str, Any]] = {}
        for dvcfile, arts in self.repo.index._artifacts.items():
            dvcyaml = self.repo.fs.relpath(dvcfile, self.repo.root_dir)
            base = posixpath.dirname(Path(dvcyaml).as_posix())
            for name, value in arts.items():
                art = Artifact(**value)
                out[name] = {
                    "path": posixpath.normpath(posixpath.join(base, art.path)),
                    "type": art.type,
                    "desc": art.desc,
                    "meta": dict(art.meta or {}),
                    "dvcfile": Path(dvcyaml).as_posix(),
                }
        return out

    def _in_repo(self, path: str) -> str:
        """``path`` relative to the repository, posix (DVC's ``dvcfile.relpath`` is relative to the
        current folder, which a library caller's need not be)."""
        return Path(self.repo.fs.relpath(path, self.repo.root_dir)).as_posix()

    def _outs_at(self, path: str) -> list[Any]:
        """The outputs at exactly ``path``, as ``repo.find_outs_by_path`` finds them but without the
        outs graph it builds first (networkx, 12 MB of a publish's memory; ``dvc push`` never
        builds it either: overlapping outputs are ``dvc repro``'s and ``dvc add``'s to refuse)."""
        fs_path = self.repo.fs.abspath(path)
        outs = [o for o in self.repo.index.outs if o.protocol == "local" and o.fs_path == fs_path]
        if not outs:
            raise OutputNotFoundError(path, self.repo)
        return outs

    def out_info(self, path: str | Path) -> OutInfo:
        """Describe the DVC output at ``path`` (repo-relative or absolute)."""
        abs_path = (self.root / path).resolve() if not Path(path).is_absolute() else Path(path)
        rel = abs_path.relative_to(self.root).as_posix() if abs_path.is_relative_to(self.root) else str(path)
        try:
            outs = self._outs_at(str(abs_path))
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
            dvcfile=self._in_repo(stage.dvcfile.path),
            stage=stage.name if is_pipeline else None,
            cmd=stage.cmd if is_pipeline else None,
            deps=sorted(deps, key=lambda d: d["path"]),
            params=params,
            meta=dict(out.meta and getattr(out, "annot", None) and out.annot.meta or {}),
            hash_name=(out.hash_info.name if out.hash_info and out.hash_info.name else "md5"),
        )

    def workspace_status(self, path: str) -> str | None:
        """None if the workspace file matches dvc.lock / .dvc, else 'modified', 'deleted' or 'new'.

        Uses DVC's state database, so an unchanged file is not re-hashed. Asked of a repository
        of its own, closed after: DVC keeps what it built for the answer (a folder's tree and
        state reads, 65 MB at 50,000 files) as long as the repository is open, and ``publish``
        would carry it through its push.
        """
        with DvcRepo(self.root) as scratch:
            out = scratch._outs_at(str(self.root / path))[0]
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

    def _push_target(self, path: str) -> str:
        """What to name to ``dvc push`` for the output at ``path``: its ``.dvc`` file, or
        ``dvc.yaml:stage``, when that stage has no other output (the same objects); else the path.

        DVC resolves an output path through ``find_outs_by_path`` and its outs graph (networkx,
        12 MB and 0.1 s); a stage address is read straight from its file.
        """
        abs_path = str(self.root / path)
        try:
            stage = self._outs_at(abs_path)[0].stage
        except (OutputNotFoundError, DvcException):
            return abs_path  # DVC phrases the error
        if len(stage.outs) != 1:
            return abs_path
        dvcfile = str(self.root / self._in_repo(stage.dvcfile.path))
        name = getattr(stage, "name", None)
        return f"{dvcfile}:{name}" if name and dvcfile.endswith((".yaml", ".yml")) else dvcfile

    def push(self, paths: Iterable[str], remote: str | None = None) -> int:
        """``dvc push`` the outputs at ``paths``; returns the number of objects transferred.

        A plain output (cached, pushable, DVC 3's md5, to a remote that stores objects by hash) is
        sent by ``transfer``, the dvc-data function ``dvc push`` ends in, with the same object
        databases, the same remote index and the same ``jobs``; its object list is read from the
        output's record, as ``dvc push`` reads it. What ``dvc push`` does besides: it first writes
        every entry into DVC's data index (a cache for its own next run that pedata never reads;
        0.8 s of sqlite per 5,000 files, more than the copying itself on a fast disk).

        An object in neither the local cache nor the remote is refused before anything is sent:
        ``dvc push`` logs it and pushes the rest, and a pin must never name bytes the remote
        lacks. Anything else (a cloud-versioned or worktree remote, a DVC 2.x record, ``push:
        false``, an import, an output bound to another remote) goes through ``dvc push`` itself.
        """
        from dvc.repo import lock_repo

        paths = list(paths)
        if not paths:
            return 0
        try:
            with lock_repo(self.repo):  # what `dvc push` holds: no `dvc gc` or commit under it
                direct, rest = self._plain_pushes(paths, remote)
                pushed = sum(self._transfer(rem, ids) for rem, ids in direct)
                if rest:
                    targets = [self._push_target(p) for p in rest]
                    pushed += int(self.repo.push(targets=targets, remote=remote) or 0)
                return pushed
        except (DvcException, OSError) as exc:  # a local remote's folder that cannot be written: OSError
            raise DvcError(f"dvc push failed: {exc}") from exc

    def _plain_pushes(self, paths: list[str], remote: str | None) -> tuple[list[tuple[Any, list[Any]]], list[str]]:
        """The outputs ``transfer`` can send, as (remote, object ids) per remote; the rest's paths."""
        from dvc_data.hashfile.hash_info import HashInfo

        by_remote: dict[str, tuple[Any, list[Any]]] = {}
        rest: list[str] = []
        for path in paths:
            try:
                outs = self._outs_at(str(self.root / path))
            except (OutputNotFoundError, DvcException):
                rest.append(path)  # DVC phrases the error
                continue
            out = outs[0]
            hi = out.hash_info
            plain = (len(outs) == 1 and out.use_cache and out.can_push and not out.stage.is_import
                     and hi is not None and bool(hi.value) and hi.name == "md5"
                     and not (remote and out.remote and out.remote != remote))  # `dvc push -r` skips those
            rem = self._get_remote(remote or out.remote, "push") if plain else None
            if rem is None or not _by_hash(rem):
                rest.append(path)
                continue
            ids = [hi]
            if hi.isdir:  # the files first, then the listing: transfer sends the .dir only when all arrived
                ids += [HashInfo("md5", md5) for _, md5 in self.dir_entries(hi.value)]
            by_remote.setdefault(rem.name, (rem, []))[1].extend(ids)
        return list(by_remote.values()), rest

    def _transfer(self, rem: Any, ids: list[Any]) -> int:
        from contextlib import closing

        from dvc_data.hashfile.db import get_index
        from dvc_data.hashfile.transfer import transfer

        cache = self.repo.cache.local

        def refuse_missing(status: Any) -> None:
            if status.missing:
                first = sorted(h.value for h in status.missing)[0]
                raise DvcError(
                    f"{len(status.missing)} object(s) are in neither the local DVC cache nor remote {rem.name!r}"
                    f" (first: {first}); nothing was pushed: run 'dvc commit' (or 'dvc pull') first"
                )

        # The trees are read from the local cache, whose listing was checked, not from the remote.
        with closing(get_index(rem.odb)) as dest_index:
            result = transfer(cache, rem.odb, ids, dest_index=dest_index, cache_odb=cache, validate_status=refuse_missing)
        if result.failed:
            raise DvcError(f"dvc push failed: {len(result.failed)} object(s) failed to upload to remote {rem.name!r}")
        return len(result.transferred)

    def _get_remote(self, name: str | None, command: str) -> Any:
        """DVC's ``cloud.get_remote``, one thread at a time.

        ``get_remote`` opens DVC's data index (sqlite, in the site cache of this checkout) on the
        calling thread's own connection, and the first open of a fresh index creates its tables
        in WAL mode. A folder get's fetch threads used to open it at once: while one thread's
        first open was slow (a busy disk), the others waited sqlite's 5 s and failed with
        "database is locked" (a bench run's cold get did). Here they wait for each other instead.
        """
        with self._remote_lock:
            return self.repo.cloud.get_remote(name, command=command)

    def _pedata_remote(self, name: str | None) -> Any:
        """:meth:`_get_remote` for pedata's own reads and writes, DVC's refusal as a :class:`DvcError`."""
        try:
            return self._get_remote(name, "pedata")
        except DvcException as exc:
            raise DvcError(str(exc)) from exc

    def remote_odb(self, name: str | None = None) -> Any:
        """The object database of remote ``name`` (DVC's default when None), built once per open
        repository: DVC builds a new Remote (config, filesystem) on every call, 2-8 ms, and a
        5,000-file folder asks once per file (the remote's config cannot change under an open
        Repo). Thread-safe: the fetch threads ask at once."""
        odbs = self._remote_odbs
        if name not in odbs:
            with self._remote_lock:  # re-entered by _get_remote (an RLock)
                if name not in odbs:
                    rem = self._pedata_remote(name)
                    if not _by_hash(rem):  # what DVC's get_remote_odb refuses
                        raise DvcError("'pedata' is unsupported for cloud versioned remotes")
                    odbs[name] = rem.odb
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
        rem = self._pedata_remote(remote)
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
        rem = self._pedata_remote(remote)
        fs = rem.fs
        try:
            paths = sorted(fs.find(fs.join(rem.path, prefix)))
            return [fs.cat_file(p) for p in paths]
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise PedataError(f"cannot read {prefix}/ in remote {remote or 'default'!r}: {exc}") from exc




def _by_hash(rem: Any) -> bool:
    """The remote stores objects under their hash (not a cloud-versioned or worktree remote)."""
    return not (rem.worktree or rem.fs.version_aware)


def find_project(start: Path) -> Path:
    """The DVC project containing ``start``."""
    try:
        return Path(Repo.find_root(str(start)))
    except DvcException:
        raise NotFoundError(f"{start} is not inside a DVC project (run 'git init && dvc init' first)") from None










def parse_listing(data: bytes) -> list[tuple[str, str]]:
    """``(relpath, md5)`` of every file in the bytes of a DVC ``.dir`` listing object."""
    import json

    return [(str(e["relpath"]).replace("\\", "/"), str(e["md5"])) for e in json.loads(data)]


def file_md5(path: Path | str, name: str = "md5") -> str:
    """DVC's digest of one file under hash ``name`` (``md5``, or the legacy ``md5-dos2unix``),
    read afresh: DVC's state database is not consulted, so the bytes on disk are what is hashed."""
    from dvc_data.hashfile.hash import file_md5 as _file_md5

    return str(_file_md5(str(path), name=name))



















