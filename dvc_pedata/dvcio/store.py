"""DVC for store maintenance (``fsck``, ``gc``, ``mirror``, ``revoke --purge``): objects in
remotes and the cache, listed, copied, hashed and deleted one by one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc.exceptions import DvcException

from dvc_pedata.dvcio.repo import DvcRepo
from dvc_pedata.errors import DvcError, IntegrityError, PedataError


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
