"""Where a resolver reads registry documents from: a work tree, a commit, or a cached git clone.

``registry`` may be a local checkout (read from its work tree, or with ``rev`` from that commit
through ``git cat-file``, never from the work tree) or a git URL. A URL is fetched shallowly into
``<cache>/registries/<sha256(url)>`` (a bare repository, like ``dvc.api`` keeps its clones) and
read at a commit. Everything here is the git CLI and plain files: no DVC import, so a cache hit
stays cheap.

Fetch policy for URLs (decided here, documented in docs/resolver.md): a full commit id or a tag
already in the clone is used as it is (a citation point does not move); a branch or the default
HEAD is fetched on every online resolution; ``offline=True`` uses what the clone already holds
and fails clearly if the revision was never fetched.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import gitio
from .canonical import loads_strict
from .documents import Channel, Document, Manifest, Release, Tombstone
from .errors import DocumentError, NotARegistryError, NotFoundError, OfflineError, PedataError
from .registry import CONFIG_FILE, Registry

_SCP_RE = re.compile(r"^[\w.-]+@[\w.-]+:")
_SHA1_RE = re.compile(r"^[0-9a-f]{40}\Z")


def is_git_url(text: str) -> bool:
    """``scheme://...`` or scp-like ``user@host:path``; plain paths are local checkouts."""
    return "://" in text or bool(_SCP_RE.match(text))


@dataclass
class RegistryView:
    """Read-only access to one registry's documents at one state (work tree or commit)."""

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

    @property
    def registry(self) -> Registry:
        """A :class:`Registry` on the same folder, for APIs that take one plus ``rev``."""
        return Registry(self.root)

    def read(self, rel: str) -> bytes | None:
        if self.rev is None:
            try:
                data: bytes | None = (self.root / rel).read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                data = None
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
            cfg = loads_strict(data, source=self.where(CONFIG_FILE))
            if not isinstance(cfg, dict) or cfg.get("kind") != "registry":
                raise DocumentError(f"{CONFIG_FILE}: not a pedata registry settings file")
            self._config = cfg
        return self._config

    def namespace(self, ns: str) -> str:
        known = list(self.config.get("namespaces", []))
        if ns not in known:
            raise NotFoundError(f"unknown namespace {ns!r} (registry namespaces: {', '.join(known) or 'none'})")
        return ns

    def _load(self, cls: type[Document], rel: str) -> Any:
        data = self.read(rel)
        if data is None:
            return None
        from .cache import cache_dir

        return cls.from_bytes_memo(data, self.where(rel), cache_dir() / "validated")

    def load_manifest(self, ns: str, name: str, sha256: str) -> Manifest:
        doc = self._load(Manifest, f"manifests/{ns}/{name}/{sha256}.json")
        if doc is None:
            raise NotFoundError(f"no manifest for {ns}/{name} with sha256 {sha256}")
        return doc

    def load_channel(self, ns: str, channel: str) -> Channel | None:
        return self._load(Channel, f"channels/{ns}/{channel}.json")

    def load_release(self, ns: str, version: str) -> Release | None:
        return self._load(Release, f"releases/{ns}/{version}.json")

    def load_tombstone(self, sha256: str) -> Tombstone | None:
        return self._load(Tombstone, f"tombstones/{sha256}.json")


def open_registry(registry: str | os.PathLike[str] | None = None, rev: str | None = None, *, offline: bool = False) -> RegistryView:
    """Open ``registry`` (default: the one containing the current folder) at ``rev``."""
    if registry is None:
        registry = os.environ.get("PEDATA_REGISTRY") or "."
    text = os.fspath(registry)
    if is_git_url(text):
        return _open_url(text, rev, offline=offline)
    path = Path(text).expanduser()
    if not path.exists():
        raise NotARegistryError(f"registry {text!r} does not exist (give a registry checkout or a git URL)")
    if (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / ".git").exists():
        # A bare repository on disk: treat like a URL so it is read at a commit.
        return _open_url(str(path.resolve()), rev, offline=offline)
    reg = Registry.find(path)
    if rev is None:
        return RegistryView(reg.root, None)
    return RegistryView(reg.root, gitio.rev_parse(reg.root, rev))


# -- cached clones ----------------------------------------------------------------------------
def clones_dir() -> Path:
    from .cache import cache_dir

    return cache_dir() / "registries"


@contextlib.contextmanager
def _clone_lock(clone: Path) -> Iterator[None]:
    clone.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{clone}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ref_name(rev: str | None) -> str:
    """Where the clone remembers what ``rev`` meant at the last fetch (for offline use)."""
    return "refs/pedata/head" if rev is None else f"refs/pedata/revs/{hashlib.sha256(rev.encode()).hexdigest()[:24]}"


def _local_commit(clone: Path, rev: str | None) -> str | None:
    candidates = [_ref_name(rev)]
    if rev is not None:
        candidates += [f"refs/tags/{rev}", rev] if not rev.startswith("refs/") else [rev]
    for cand in candidates:
        out = gitio.git(clone, "rev-parse", "--verify", "-q", f"{cand}^{{commit}}", check=False)
        if out:
            return out
    return None


def _init_clone(clone: Path, url: str) -> None:
    if (clone / "HEAD").is_file():
        return
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=".pedata-tmp-clone-", dir=clone.parent))
    try:
        gitio.git(tmp, "init", "-q", "--bare")
        gitio.git(tmp, "remote", "add", "origin", url)
        os.rename(tmp, clone)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _fetch(clone: Path, url: str, rev: str | None) -> str:
    """Fetch ``rev`` (default HEAD) at depth 1; remember it, and remember tags as tags."""
    target = "HEAD" if rev is None else rev
    try:
        gitio.git(clone, "fetch", "-q", "--depth", "1", "--no-tags", "origin", target)
    except gitio.GitError as exc:
        if rev is not None and _SHA1_RE.match(rev):
            # Servers that refuse a bare commit id in "want": fetch the refs and look it up.
            gitio.git(clone, "fetch", "-q", "origin", "+refs/heads/*:refs/pedata/remote/heads/*", "+refs/tags/*:refs/tags/*")
            return gitio.rev_parse(clone, rev)
        reason = exc.message.removeprefix("git fetch failed: ")
        raise PedataError(f"cannot fetch {target!r} from registry {url}: {reason}") from None
    fetched = gitio.git(clone, "rev-parse", "FETCH_HEAD")
    commit = gitio.git(clone, "rev-parse", "FETCH_HEAD^{commit}")
    head_line = (clone / "FETCH_HEAD").read_text(errors="replace").split("\n", 1)[0]
    if rev is not None and "\ttag '" in head_line and not rev.startswith("refs/"):
        gitio.git(clone, "update-ref", f"refs/tags/{rev}", fetched)
    gitio.git(clone, "update-ref", _ref_name(rev), commit)
    return commit


def _open_url(url: str, rev: str | None, *, offline: bool) -> RegistryView:
    clone = clones_dir() / hashlib.sha256(url.encode()).hexdigest()
    with _clone_lock(clone):
        if offline:
            commit = _local_commit(clone, rev) if (clone / "HEAD").is_file() else None
            if commit is None:
                what = f"revision {rev!r}" if rev else "its default branch"
                raise OfflineError(
                    f"offline: registry {url} ({what}) has never been fetched into the cache; resolve once online first"
                )
            return RegistryView(clone, commit, url)
        _init_clone(clone, url)
        commit = None
        if rev is not None and (_SHA1_RE.match(rev) or not rev.startswith("refs/")):
            # Commit ids and tags are citation points: use them as already fetched.
            probe = rev if _SHA1_RE.match(rev) else f"refs/tags/{rev}"
            commit = gitio.git(clone, "rev-parse", "--verify", "-q", f"{probe}^{{commit}}", check=False) or None
        if commit is None:
            commit = _fetch(clone, url, rev)
        return RegistryView(clone, commit, url)


def ensure_history(view: RegistryView, offline: bool = False) -> str | None:
    """Deepen a shallow clone to the full history of ``view.rev``; a one-line hint if that cannot be done.

    Clones are fetched at depth 1; only a judgment that needs older commits (a release signed
    under an older trust root: :mod:`trust_history`) pays for the rest of the history, once.
    """
    if gitio.git(view.root, "rev-parse", "--is-shallow-repository", check=False) != "true":
        return None
    if view.url is None:
        return "this checkout is shallow, so older trust roots cannot be consulted: run git fetch --unshallow"
    if offline:
        return f"the cached clone of {view.url} has no history: resolve once without --offline"
    with _clone_lock(view.root):
        if gitio.git(view.root, "rev-parse", "--is-shallow-repository", check=False) != "true":
            return None
        try:
            gitio.git(view.root, "fetch", "-q", "--unshallow", "--no-tags", "origin", view.rev or "HEAD")
        except gitio.GitError:
            try:  # servers that refuse a bare commit id in "want"
                gitio.git(view.root, "fetch", "-q", "--unshallow", "--no-tags", "origin")
            except gitio.GitError as exc:
                return f"cannot fetch the history of {view.url}: {exc.message.removeprefix('git fetch failed: ')}"
    return None
