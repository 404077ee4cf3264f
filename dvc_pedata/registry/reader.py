"""Reading a registry's documents: one API for a work tree, a commit, or a cached clone.

Everything that reads registry documents goes through :class:`RegistryReader`: the resolver's
views (:mod:`dvc_pedata.registry.source`, which adds the registry's current state for
revocations), and :class:`dvc_pedata.registry.repo.Registry`, whose reads are a reader's over its
work tree. The git CLI and plain files only: no DVC import, so a cache hit stays cheap.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.cachedir import cache_dir
from dvc_pedata.base.docfile import read_document
from dvc_pedata.errors import NotARegistryError, NotFoundError
from dvc_pedata.model import layout
from dvc_pedata.model.documents import Channel, Document, Manifest, Release, Root, Tombstone
from dvc_pedata.model.names import check_namespace
from dvc_pedata.registry.config import CONFIG_FILE, load_config


@dataclass
class RegistryReader:
    """The one read API over a registry's documents at one state: a work tree (``rev`` None) or a
    commit (of a checkout, or of a cached clone of a git URL).

    Contracts, the same for every caller: ``load_*`` return the document or None when its file is
    absent (``load_manifest`` and ``require_release`` raise :class:`NotFoundError` instead); a file
    that is present is parsed strictly, checked against its schema (remembered per exact bytes in
    the cache's ``validated/`` memo) and never read through a symbolic link; ``namespace`` checks
    a name against the namespaces ``pedata.json`` declares.
    """

    root: Path  # a work tree, or a bare clone when ``url`` is set
    rev: str | None  # a commit id: read through git; None: read the work tree
    url: str | None = None  # the git URL the clone came from
    _config: dict[str, Any] | None = field(default=None, repr=False)
    # When set (work tree only): relative path -> sha256 of the bytes read, None if absent. The
    # warm-cache memo (warm.py) re-checks exactly these bytes before answering without a resolve.
    reads: dict[str, str | None] | None = field(default=None, repr=False)

    @property
    def location(self) -> str:
        """What a consumer would pass to find this registry again (for logs and ``dvc import``)."""
        return self.url or str(self.root)

    def read(self, rel: str) -> bytes | None:
        if self.rev is None:
            # never through a committed symlink, and a folder or link in a document's place is
            # refused by name (docfile)
            data = read_document(self.root, rel)
            self.note(rel, data)
            return data
        return gitio.show(self.root, self.rev, rel)

    def note(self, rel: str, data: bytes | None) -> None:
        """Remember what was read at ``rel`` (for the warm-cache memo), if recording."""
        if self.reads is not None and self.rev is None:
            self.reads[rel] = None if data is None else hashlib.sha256(data).hexdigest()

    def where(self, rel: str) -> str:
        return f"{rel}@{self.rev[:12]}" if self.rev else rel

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            data = self.read(CONFIG_FILE)
            if data is None:
                raise NotARegistryError(f"{self.location} has no {CONFIG_FILE}{' at ' + self.rev[:12] if self.rev else ''}: not a pedata registry")
            self._config = load_config(data, self.where(CONFIG_FILE))
        return self._config

    @property
    def namespaces(self) -> list[str]:
        return list(self.config.get("namespaces", []))

    @property
    def default_namespace(self) -> str | None:
        return self.config.get("default_namespace")

    def namespace(self, ns: str | None) -> str:
        """Validate ``ns`` (or the registry's default) and check that the registry declares it."""
        if ns is None:
            ns = self.default_namespace
            if ns is None:
                raise NotFoundError("no namespace given and the registry has no default_namespace")
        check_namespace(ns)
        if ns not in self.namespaces:
            known = ", ".join(self.namespaces) or "none"
            raise NotFoundError(f"unknown namespace {ns!r} (registry namespaces: {known})")
        return ns

    def _load(self, cls: type[Document], rel: str) -> Any:
        data = self.read(rel)
        if data is None:
            return None
        return cls.from_bytes_memo(data, self.where(rel), cache_dir() / "validated")

    def load_manifest(self, ns: str, name: str, sha256: str) -> Manifest:
        doc = self._load(Manifest, layout.manifest(ns, name, sha256))
        if doc is None:
            raise NotFoundError(f"no manifest for {ns}/{name} with sha256 {sha256}")
        return doc

    def load_channel(self, ns: str, channel: str) -> Channel | None:
        return self._load(Channel, layout.channel(ns, channel))

    def load_release(self, ns: str, version: str) -> Release | None:
        return self._load(Release, layout.release(ns, version))

    def require_release(self, ns: str, version: str) -> Release:
        doc = self.load_release(ns, version)
        if doc is None:
            raise NotFoundError(f"no release {ns}@{version}")
        return doc

    def load_tombstone(self, sha256: str) -> Tombstone | None:
        """The tombstone at this state only (a view also looks in the registry's current state)."""
        return self._load(Tombstone, layout.tombstone(sha256))

    def load_root(self, version: int) -> Root:
        doc = self._load(Root, layout.root(version))
        if doc is None:
            raise NotFoundError(f"no trust root version {version} ({layout.root(version)})")
        return doc
