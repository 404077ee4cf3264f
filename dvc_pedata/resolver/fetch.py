"""Bring one artifact's bytes from the registry's DVC remote (then its mirrors) into the cache.

Only this module (and :mod:`dvcio`) is imported on a cache miss; a hit never loads it. Bytes are
streamed through DVC's own filesystems (so any remote type and DVC's credentials work), hashed
while they are written, and published only when the sha256 matches: DVC's ``verify`` is off for
cloud remotes, so a flipped byte in S3 would otherwise be served silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dvc_pedata.base.progress import bar
from dvc_pedata.errors import IntegrityError, NotFoundError, PedataError
from dvc_pedata.registry.source import RegistryView
from dvc_pedata.resolver import cache


@dataclass(frozen=True)
class Source:
    label: str  # "remote:<name>" or "mirror:<name>", as written to the access log
    remote: str | None  # DVC remote name (None: DVC's default)


def sources(view: RegistryView, default_remote: str | None) -> list[Source]:
    """The registry's remote (pedata.json ``remote``, else DVC's default), then mirrors in order."""
    cfg = view.config
    primary = cfg.get("remote") or default_remote
    out = [Source(f"remote:{primary or 'default'}", primary)]
    for name in cfg.get("mirrors") or []:
        if name != primary:
            out.append(Source(f"mirror:{name}", name))
    return out


@dataclass(frozen=True)
class Fetched:
    path: Path
    source: str
    created: bool


def fetch(view: RegistryView, *, uri: str, sha256: str, md5: str, size: int) -> Fetched:
    """Download ``md5`` from the first source that holds bytes hashing to ``sha256``.

    Held under the object's lock: the first of several concurrent resolvers downloads, the
    others find the finished object when they get the lock.
    """
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcRepo,
    )

    with cache.object_lock(sha256):
        cache.clean_stale_temps(sha256)
        hit = cache.lookup(sha256, size)
        if hit is not None:
            return Fetched(hit, "cache", False)
        problems: list[str] = []
        unreadable = False  # a source failed for another reason than "not there" (access, network)
        mismatch: cache.DigestMismatch | None = None
        with DvcRepo(view.root, rev=view.rev) as repo:
            for src in sources(view, repo.default_remote()):
                try:
                    with bar(f"get {uri}", size) as advance:
                        stored = cache.store_stream(
                            sha256, repo.iter_remote_object(md5, src.remote), progress=advance, label=uri, max_size=size
                        )
                except cache.DigestMismatch as exc:
                    mismatch = mismatch or exc
                    problems.append(f"{src.label} holds {exc.what}")
                    continue
                except cache.CacheWriteError:
                    raise  # a local problem (full disk): another source would fail the same way
                except (NotFoundError, PedataError) as exc:
                    problems.append(f"{src.label}: {exc.message}")
                    unreadable = unreadable or not isinstance(exc, NotFoundError)
                    continue
                return Fetched(stored.path, src.label, stored.created)
    if mismatch is not None:
        raise IntegrityError(
            f"{uri}: corrupted bytes in the remote: expected sha256 {sha256}"
            + (f" ({size} bytes), got {mismatch.what}" if isinstance(mismatch, cache.SizeExceeded) else f", got {mismatch.actual}")
            + f" (md5 object {md5}); nothing was cached" + (f"; also: {'; '.join(problems[1:])}" if len(problems) > 1 else "")
        )
    if unreadable:
        raise PedataError(f"{uri}: bytes sha256 {sha256} could not be fetched: {'; '.join(problems)}")
    raise NotFoundError(f"{uri}: bytes sha256 {sha256} not found: {'; '.join(problems)}")
