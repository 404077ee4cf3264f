"""``pedata://`` as a read-only fsspec filesystem: pandas, pyarrow, DuckDB and Dask read verified bytes.

Registered through the ``fsspec.specs`` entry point (protocols ``pedata`` and ``pe-data``), so
``pd.read_parquet("pedata://us/enhanced_cps_2024@v1.3.0")`` works after ``pip install dvc-pedata``.
Paths, after the protocol:

- ``""`` the registry's namespaces; ``us`` a namespace's artifacts with their channels and releases
  (each judged as the resolver judges it); ``us/x`` the refs of one artifact;
- ``us/x@<ref>`` one artifact: a file, or a folder for a directory artifact;
- ``us/x@<ref>/sub/file.h5`` or ``us/x@<ref>;path=sub/file.h5`` one file of a directory artifact.

Invariants:

- Bytes handed to a reader are always bytes whose sha256 matched the pin: ``open`` resolves the
  URI through :func:`dvc_pedata.get_path` (warm memo, else the full resolver: signatures,
  tombstones, fetch verified while streaming into the cache) and returns a read-only file
  (:class:`VerifiedFile`) on the verified cache object. Random access (parquet footers, HDF5 seeks) is served from that
  object; nothing is streamed to a reader before it was hashed, and a cache hit neither imports
  DVC nor touches the network.
- Every call judges afresh, or answers from a memo that is proven current first: ``open`` uses
  the warm-cache memo (:mod:`warm`), and ``info`` keeps, per instance, the answer of a judgment
  made from a registry work tree with the sha256 of every registry file that judgment read (or
  found absent: the tombstone), the ``trust/root/`` listing and the earliest expiry it relied on.
  A hit re-hashes those few small files, so a promotion, revocation, root rotation, checkout or
  expiry is seen by the next call of a long-lived instance (fsspec caches instances per storage
  options). ``ls`` (which reports revoked folder members) and git-URL or ``rev`` registries
  always judge afresh.
- ``info``/``ls``/``find``/``glob`` answer from the checked manifest and the directory listing
  verified against its pinned digest: they never download payload bytes. A folder whose members
  are partly revoked still lists (revocation withdraws bytes, not the record; the revoked entries
  say so); opening a revoked member raises.
- Errors carry the message ``pedata get`` prints, as the type fsspec callers expect:
  :class:`ArtifactNotFoundError` (a ``FileNotFoundError``) for unknown names,
  :class:`RevokedBytesError` (a ``PermissionError``) for revoked bytes, a :class:`PedataError`
  otherwise (integrity, signatures, offline). Both special types are ``PedataError`` too.
- Read-only: every write (``open(..., "wb")``, ``rm``, ``mkdir``, ``put``, ``mv`` ...) raises
  :class:`ReadOnlyError` (a ``PermissionError``) before touching anything.
"""

from __future__ import annotations

import functools
import io
import mmap
import os
import sys
from pathlib import Path
from typing import Any

from fsspec.spec import AbstractFileSystem

from dvc_pedata.errors import NotFoundError, PedataError, RevokedError
from dvc_pedata.model import layout

PROTOCOLS = ("pedata", "pe-data")


class ArtifactNotFoundError(NotFoundError, FileNotFoundError):
    """An unknown namespace, artifact, ref or file, as fsspec callers expect it."""


class RevokedBytesError(RevokedError, PermissionError):
    """Revoked bytes (a tombstone): never served, whatever the cache holds."""


class ReadOnlyError(PedataError, PermissionError):
    """A write through ``pedata://``: artifacts change only by ``pedata publish``."""


def _translate(exc: PedataError) -> PedataError:
    """The same message as ``pedata get``, as the exception type an fsspec caller expects."""
    if isinstance(exc, (ArtifactNotFoundError, RevokedBytesError)):
        return exc
    if isinstance(exc, NotFoundError):
        new: PedataError = ArtifactNotFoundError(exc.message)
    elif isinstance(exc, RevokedError):
        new = RevokedBytesError(exc.message)
    else:
        return exc
    new.exit_code = exc.exit_code
    return new


def _translating(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except PedataError as exc:
            new = _translate(exc)
            if new is exc:
                raise
            raise new from exc

    return wrapper


def _read_only(method_name: str) -> Any:
    def refuse(self: PedataFileSystem, path: Any = "", *args: Any, **kwargs: Any) -> Any:
        raise ReadOnlyError(
            f"pedata://{self._strip_protocol(path) if isinstance(path, str) else path}: {method_name} refused:"
            " pedata:// is read-only (artifacts change only by 'pedata publish')"
        )

    refuse.__name__ = method_name
    return refuse


def split_path(path: str) -> tuple[str | None, str | None, str | None]:
    """``(namespace, "name@ref[;path=..]" or "name", member)`` of a stripped path; Nones when absent.

    A ref never contains ``/`` (sha256:<hex>, v<semver>, a channel name), so the first segment is
    the namespace, the second the artifact with its ref, and the rest a file inside a folder.
    """
    parts = path.split("/") if path else []
    if not parts:
        return None, None, None
    if len(parts) == 1:
        return parts[0], None, None
    member = "/".join(parts[2:]) or None
    return parts[0], parts[1], member


class VerifiedFile(io.BufferedReader):
    """A read-only file on a verified cache object, with pyarrow's zero-copy ``read_buffer``.

    pyarrow wraps fsspec files in ``PythonFile``, which calls ``read_buffer`` when a file has it:
    slices of a read-only ``mmap`` reach Arrow without a copy (a 300 MB parquet reads about twice
    as fast as through ``read``). Sound because cache objects are never modified in place: they
    are 0444 and leave the cache only by unlink, which keeps a mapped inode alive. The map is never
    closed explicitly, since Arrow arrays may still point into it; it goes with its last view.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(io.FileIO(path, "r"))
        self._map: mmap.mmap | None = None

    def read_buffer(self, nbytes: int = -1) -> Any:
        if self._map is None:
            if os.fstat(self.fileno()).st_size == 0:
                return self.read(nbytes)
            self._map = mmap.mmap(self.fileno(), 0, access=mmap.ACCESS_READ)
        pos = self.tell()
        end = len(self._map) if nbytes is None or nbytes < 0 else min(len(self._map), pos + nbytes)
        self.seek(end)
        return memoryview(self._map)[pos:end]

    def close(self) -> None:
        self._map = None
        super().close()


class PedataFileSystem(AbstractFileSystem):
    """Read-only, verified ``pedata://`` (see the module docstring).

    Storage options are the ones :func:`dvc_pedata.get_path` takes: ``registry`` (a checkout or a
    git URL; default ``$PEDATA_REGISTRY``, else the registry around the current folder),
    ``rev``, ``trusted_root`` and ``offline``.
    """

    protocol = PROTOCOLS
    root_marker = ""
    async_impl = False

    def __init__(
        self,
        registry: str | None = None,
        rev: str | None = None,
        trusted_root: str | None = None,
        offline: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(registry=registry, rev=rev, trusted_root=trusted_root, offline=offline, **kwargs)
        self.registry = None if registry is None else str(registry)
        self.rev = rev
        self.trusted_root = trusted_root
        self.offline = bool(offline)
        # (work tree top, path) -> (files read with their sha256, root listing, not_after, info)
        self._info_memo: dict[tuple[str, str], tuple[Any, ...]] = {}

    # -- paths ---------------------------------------------------------------------------------
    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for proto in PROTOCOLS:
            if path.startswith(proto + "://"):
                path = path[len(proto) + 3 :]
                break
        return path.strip("/")

    def unstrip_protocol(self, name: str) -> str:
        return f"pedata://{self._strip_protocol(name)}"

    def _uri(self, ns: str, name_ref: str, member: str | None) -> Any:
        """The checked :class:`PedataURI` for one artifact or one file of it."""
        from dvc_pedata.model.uri import (  # lazy: fsspec imports this module for every pedata:// URL
            URIError,
            parse,
        )

        text = f"pedata://{ns}/{name_ref}"
        if member is not None:
            if ";" in name_ref:
                raise URIError(f"invalid pedata URI {text}/{member}: give the file as /<path> or ;path=<path>, not both")
            text += f";path={member}"
        return parse(text)

    # -- judging (no payload bytes) ------------------------------------------------------------
    def _view(self) -> Any:
        from dvc_pedata.registry.source import (
            open_registry,  # lazy: fsspec imports this module for every pedata:// URL
        )

        return open_registry(self.registry, self.rev, offline=self.offline)

    def _judge(self, parsed: Any) -> tuple[Any, Any, Any]:
        """(view, pin, manifest) after every check the resolver makes before serving bytes.

        The same steps as :func:`resolve.describe`, except that a folder's revoked *members* do
        not refuse the folder here: listing them is allowed, opening one is not.
        """
        from dvc_pedata.resolver import (
            resolve,  # lazy: fsspec imports this module for every pedata:// URL
        )

        view = self._view()
        if view.rev is None and view.url is None:
            view.reads = {}  # a work tree: remember what was read, for the info memo
        pin, manifest = resolve.judge_pin(view, parsed, trusted_root=self.trusted_root, offline=self.offline)
        resolve.check_tombstone(view, parsed, pin.sha256)
        return view, pin, manifest

    def _artifact_info(self, path: str, parsed: Any, judged: tuple[Any, Any, Any] | None = None) -> dict[str, Any]:
        from dvc_pedata.model.listing import (  # lazy: fsspec imports this module for every pedata:// URL
            file_view,
            is_directory,
        )
        from dvc_pedata.resolver.dirresolve import (
            listing,  # lazy: fsspec imports this module for every pedata:// URL
        )

        view, pin, manifest = judged or self._judge(parsed)
        if not is_directory(manifest):
            if parsed.path is not None:
                from dvc_pedata.resolver.dirresolve import (
                    select,  # lazy: fsspec imports this module for every pedata:// URL
                )

                select(view, parsed, manifest)  # raises: ;path= on a single file
            return self._file_record(path, str(parsed), pin.sha256, manifest.size if manifest.size is not None else pin.size,
                                     manifest.format, manifest.body.get("media_type"), pin.manifest_sha256)
        entries = listing(view, manifest)
        member = parsed.path
        if member is None:
            return {"name": path, "type": "directory", "size": manifest.size, "sha256": pin.sha256,
                    "format": "directory", "files": len(entries), "manifest_sha256": pin.manifest_sha256,
                    "uri": str(parsed)}
        for e in entries:
            if e.path == member:
                fv = file_view(manifest, e)
                rec = self._file_record(path, str(parsed), e.sha256, e.size, fv.format, fv.body.get("media_type"), None)
                rec["directory_sha256"] = pin.sha256
                return rec
        prefix = member + "/"
        inside = [e for e in entries if e.path.startswith(prefix)]
        if inside:
            return {"name": path, "type": "directory", "size": sum(e.size for e in inside),
                    "files": len(inside), "directory_sha256": pin.sha256, "uri": str(parsed)}
        raise NotFoundError(f"{parsed}: no file {member!r} in the directory ({len(entries)} files)")

    @staticmethod
    def _file_record(path: str, uri: str, sha256: str, size: int | None, fmt: str, media_type: str | None,
                     manifest_sha256: str | None) -> dict[str, Any]:
        rec: dict[str, Any] = {"name": path, "type": "file", "size": size, "sha256": sha256, "format": fmt,
                               "media_type": media_type, "uri": uri}
        if manifest_sha256:
            rec["manifest_sha256"] = manifest_sha256
        return rec

    @_translating
    def info(self, path: Any, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        ns, name_ref, member = split_path(path)
        if ns is None:
            self._view().config  # noqa: B018 - a registry must be there
            return {"name": "", "type": "directory", "size": 0}
        if name_ref is None:
            self._view().namespace(ns)
            return {"name": path, "type": "directory", "size": 0}
        if "@" not in name_ref.split(";", 1)[0]:
            refs = self._artifact_refs(ns, name_ref)
            return {"name": path, "type": "directory", "size": 0, **refs}
        parsed = self._uri(ns, name_ref, member)
        hit = self._memo_lookup(path)
        if hit is not None:
            return hit
        view, pin, manifest = self._judge(parsed)
        info = self._artifact_info(path, parsed, (view, pin, manifest))
        self._memo_record(path, view, pin, info)
        return info

    # -- the info memo -------------------------------------------------------------------------
    def _memo_key(self, path: str) -> tuple[str, str] | None:
        if self.rev is not None:
            return None
        from dvc_pedata.resolver import (
            warm,  # lazy: fsspec imports this module for every pedata:// URL
        )

        top = warm._work_tree(self.registry)
        return None if top is None else (top, path)

    def _memo_lookup(self, path: str) -> dict[str, Any] | None:
        """A remembered ``info`` whose every input is unchanged (see the module docstring), else None."""
        import time

        from dvc_pedata.resolver import (
            warm,  # lazy: fsspec imports this module for every pedata:// URL
        )

        key = self._memo_key(path)
        rec = self._info_memo.get(key) if key is not None else None
        if rec is None or key is None:
            return None
        files, roots, not_after, info = rec
        if not_after is not None and time.time() >= not_after:
            return None
        top = key[0]
        if any(warm._digest(os.path.join(top, rel)) != digest for rel, digest in files):
            return None
        if warm.root_listing(top) != roots:
            return None
        return dict(info)

    def _memo_record(self, path: str, view: Any, pin: Any, info: dict[str, Any]) -> None:
        from dvc_pedata.resolver import (
            warm,  # lazy: fsspec imports this module for every pedata:// URL
        )

        key = self._memo_key(path)
        if key is None or view.reads is None or key[0] != str(view.root):
            return
        from dvc_pedata.base.timeutil import (
            parse_time,  # lazy: fsspec imports this module for every pedata:// URL
        )

        not_after = min((parse_time(e, "expiry").timestamp() for e in pin.expiries), default=None)
        self._info_memo[key] = (tuple(view.reads.items()), warm.root_listing(key[0]), not_after, dict(info))

    # -- listings ------------------------------------------------------------------------------
    def _names(self, view: Any, folder: str) -> list[str]:
        """The ``*.json`` stems in a registry folder, at the view's state."""
        if view.rev is None:
            base = Path(view.root) / folder
            return sorted(p.stem for p in base.glob("*.json")) if base.is_dir() else []
        from dvc_pedata.base import (
            gitio,  # lazy: fsspec imports this module for every pedata:// URL
        )

        return sorted(Path(p).stem for p in gitio.ls_tree(view.root, view.rev, folder) if p.endswith(".json"))

    def _namespace_listing(self, ns: str) -> dict[str, dict[str, Any]]:
        """Artifact name -> {channels: {ch: sha256}, releases: {ver: {sha256, status}}, refused: {...}}.

        Each (ref, artifact) is judged as the resolver judges it; a ref that fails (an unsigned
        ``next``, an expired channel, a release signed by an unknown key) is listed under
        ``refused`` with the reason, never as a pin.
        """
        from dvc_pedata.model.uri import (
            PedataURI,  # lazy: fsspec imports this module for every pedata:// URL
        )
        from dvc_pedata.resolver import (
            resolve,  # lazy: fsspec imports this module for every pedata:// URL
        )

        view = self._view()
        view.namespace(ns)
        out: dict[str, dict[str, Any]] = {}

        def slot(name: str) -> dict[str, Any]:
            return out.setdefault(name, {"channels": {}, "releases": {}, "refused": {}})

        for ch in self._names(view, f"{layout.CHANNELS}/{ns}"):
            doc = view.load_channel(ns, ch)
            for name in sorted(doc.artifacts if doc is not None else []):
                try:
                    pin, _ = resolve.judge_pin(view, PedataURI(ns, name, "channel", ch), trusted_root=self.trusted_root, offline=self.offline)
                    slot(name)["channels"][ch] = pin.sha256
                except PedataError as exc:
                    slot(name)["refused"][ch] = exc.message
        for version in self._names(view, f"{layout.RELEASES}/{ns}"):
            rel = view.load_release(ns, version)
            for name in sorted(rel.pins if rel is not None else []):
                ref = f"v{version}"
                try:
                    pin, _ = resolve.judge_pin(view, PedataURI(ns, name, "release", version), trusted_root=self.trusted_root, offline=self.offline)
                    slot(name)["releases"][version] = {"sha256": pin.sha256, "status": rel.status}
                except RevokedError:
                    slot(name)["releases"][version] = {"sha256": rel.pins[name].get("sha256"), "status": rel.status}
                except PedataError as exc:
                    slot(name)["refused"][ref] = exc.message
        return out

    def _artifact_refs(self, ns: str, name: str) -> dict[str, Any]:
        from dvc_pedata.model.names import (
            check_name,  # lazy: fsspec imports this module for every pedata:// URL
        )

        check_name(name, "artifact name")
        found = self._namespace_listing(ns).get(name)
        if found is None:
            raise NotFoundError(f"no artifact {ns}/{name} in any channel or release of {self._view().location}")
        return found

    @_translating
    def ls(self, path: Any, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        ns, name_ref, member = split_path(path)
        if ns is None:
            entries = [{"name": n, "type": "directory", "size": 0}
                       for n in sorted(self._view().config.get("namespaces", []))]
        elif name_ref is None:
            entries = [{"name": f"{ns}/{name}", "type": "directory", "size": 0, **refs}
                       for name, refs in sorted(self._namespace_listing(ns).items())]
        elif "@" not in name_ref.split(";", 1)[0]:
            refs = self._artifact_refs(ns, name_ref)
            names = [f"{name_ref}@{ch}" for ch in refs["channels"]] + [f"{name_ref}@v{v}" for v in refs["releases"]]
            entries = [self._safe_info(f"{ns}/{n}") for n in names]
        else:
            entries = self._folder_listing(path, self._uri(ns, name_ref, member))
        return entries if detail else [e["name"] for e in entries]

    def _safe_info(self, path: str) -> dict[str, Any]:
        """One ref's record for ``ls us/x``; a revoked or refused one says why instead of failing."""
        try:
            return self.info(path)
        except PedataError as exc:
            return {"name": path, "type": "file", "size": 0, "error": exc.message}

    def _folder_listing(self, path: str, parsed: Any) -> list[dict[str, Any]]:
        """The immediate children of an artifact or of a folder inside one (a file lists itself)."""
        from dvc_pedata.model.listing import (  # lazy: fsspec imports this module for every pedata:// URL
            file_view,
            is_directory,
        )
        from dvc_pedata.model.uri import (
            PedataURI,  # lazy: fsspec imports this module for every pedata:// URL
        )
        from dvc_pedata.resolver.dirresolve import (  # lazy: fsspec imports this module for every pedata:// URL
            listing,
            revoked_members,
        )

        view, _pin, manifest = self._judge(parsed)
        if not is_directory(manifest):
            return [self._artifact_info(path, parsed)]  # a file lists itself (or ;path= on it fails)
        entries = listing(view, manifest)
        prefix = "" if parsed.path is None else parsed.path + "/"
        if prefix and not any(e.path.startswith(prefix) for e in entries):
            return [self._artifact_info(path, parsed)]  # one member file, or not found
        revoked = {e.path: ts for e, ts in revoked_members(view, entries)}
        top = PedataURI(parsed.namespace, parsed.name, parsed.ref_kind, parsed.ref)
        base = str(top)[len("pedata://"):] + (f"/{parsed.path}" if parsed.path else "")
        files: list[dict[str, Any]] = []
        folders: dict[str, int] = {}
        for e in entries:
            if not e.path.startswith(prefix):
                continue
            rest = e.path[len(prefix):]
            head, sep, _ = rest.partition("/")
            if sep:
                folders[head] = folders.get(head, 0) + e.size
                continue
            fv = file_view(manifest, e)
            rec = self._file_record(f"{base}/{rest}", f"{top};path={e.path}", e.sha256, e.size, fv.format,
                                    fv.body.get("media_type"), None)
            if e.path in revoked:
                ts = revoked[e.path]
                rec["revoked"] = f"revoked on {ts.date} by {ts.authority}: {ts.reason}"
            files.append(rec)
        dirs = [{"name": f"{base}/{d}", "type": "directory", "size": size} for d, size in sorted(folders.items())]
        return sorted(dirs + files, key=lambda r: r["name"])

    # -- bytes ---------------------------------------------------------------------------------
    @_translating
    def _open(self, path: str, mode: str = "rb", block_size: Any = None, autocommit: bool = True,
              cache_options: Any = None, **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        if mode != "rb":
            raise ReadOnlyError(f"pedata://{path}: mode {mode!r} refused: pedata:// is read-only ('rb' or 'r')")
        return VerifiedFile(self.local_path(path))

    @_translating
    def local_path(self, path: str) -> Path:
        """The verified cache object behind one file (fetched and checked on first use)."""
        from dvc_pedata.resolver import (
            warm,  # lazy: fsspec imports this module for every pedata:// URL
        )

        path = self._strip_protocol(path)
        ns, name_ref, member = split_path(path)
        if ns is None or name_ref is None or "@" not in name_ref.split(";", 1)[0]:
            raise IsADirectoryError(f"pedata://{path} is a namespace or artifact folder, not a file")
        parsed = self._uri(ns, name_ref, member)
        text = str(parsed)
        hit = warm.lookup(text, self.registry, self.rev, self.trusted_root)  # memo: plain files only
        if hit is not None:
            for w in hit[1]:  # as the full resolution would say them (api.report_warnings)
                print(f"pedata: warning: {w}", file=sys.stderr)
            return Path(hit[0])
        from dvc_pedata.resolver import (
            resolve,  # lazy: fsspec imports this module for every pedata:// URL
        )

        known = self._memo_lookup(path)  # engines call info before open: a proven-current answer
        if parsed.path is None and (known is None or known["type"] != "file"):  # refuse a folder before any download
            res = resolve.describe(parsed, self.registry, self.rev, offline=self.offline, trusted_root=self.trusted_root)
            if res.entries is not None:
                raise IsADirectoryError(f"{parsed} is a directory artifact: open one of its files (ls it first)")
        from dvc_pedata.resolver import (
            api,  # lazy: fsspec imports this module for every pedata:// URL
        )

        return api.resolved_path(text, self.registry, self.rev, offline=self.offline, trusted_root=self.trusted_root)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        with self._open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            lo = 0 if start is None else (start if start >= 0 else max(0, size + start))
            hi = size if end is None else (end if end >= 0 else max(0, size + end))
            fh.seek(lo)
            return fh.read(max(0, hi - lo))

    def ukey(self, path: str) -> str:
        """Content-addressed: the sha256 the bytes are verified against."""
        return str(self.info(path).get("sha256") or path)

    def modified(self, path: str) -> Any:
        """A stand-in time derived from the sha256 (DuckDB asks; bytes have no wall-clock time).

        Engines use (size, modified) to decide whether cached metadata is stale; deriving it from
        the digest makes it change exactly when the bytes behind a channel change.
        """
        import datetime

        digest = self.ukey(path)
        seconds = int(digest[:8], 16) if len(digest) == 64 else 0
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)

    def checksum(self, path: str) -> int:
        key = self.ukey(path)
        return int(key[:16], 16) if len(key) == 64 else super().checksum(path)

    # -- read-only ------------------------------------------------------------------------------
    mkdir = _read_only("mkdir")
    makedirs = _read_only("makedirs")
    rmdir = _read_only("rmdir")
    rm_file = _read_only("rm_file")
    _rm = _read_only("rm")
    rm = _read_only("rm")
    touch = _read_only("touch")
    pipe_file = _read_only("pipe_file")
    put_file = _read_only("put_file")
    put = _read_only("put")
    cp_file = _read_only("cp_file")
    copy = _read_only("copy")
    mv = _read_only("mv")
    rename = _read_only("rename")
    setxattrs = _read_only("setxattrs")
