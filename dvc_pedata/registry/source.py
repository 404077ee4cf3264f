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

Revocation wins whatever the revision: a view read at ``rev`` also knows the registry's *current*
state (a checkout's work tree and HEAD; a URL's default HEAD, fetched on every online call), and
:meth:`RegistryView.find_tombstone` looks there too, so a tombstone committed after ``rev`` still
refuses the bytes.
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

from dvc_pedata.base import gitio
from dvc_pedata.base.cachedir import cache_dir
from dvc_pedata.base.docfile import read_document
from dvc_pedata.errors import (
    NotARegistryError,
    OfflineError,
    PedataError,
    UsageError,
)
from dvc_pedata.model import layout
from dvc_pedata.model.documents import Tombstone
from dvc_pedata.registry.reader import RegistryReader
from dvc_pedata.registry.repo import Registry

_SCP_RE = re.compile(r"^[\w.-]+@[\w.-]+:")
_SHA1_RE = re.compile(r"^[0-9a-f]{40}\Z")
WORK_TREE = ""  # a state in RegistryView.current: the checkout's work tree (else a commit id)


def is_git_url(text: str) -> bool:
    """``scheme://...`` or scp-like ``user@host:path``; plain paths are local checkouts."""
    return "://" in text or bool(_SCP_RE.match(text))


@dataclass
class RegistryView(RegistryReader):
    """A :class:`RegistryReader` as the resolver opens it: it also knows the registry's current
    state, where tombstones are looked up when reading at ``rev`` (revocation wins)."""

    # The registry's current state, where tombstones are looked up too when reading at ``rev``:
    # (state, label) with state WORK_TREE or a commit id. Empty when ``rev`` is the current state.
    current: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings about the current state (offline)

    @property
    def registry(self) -> Registry:
        """A :class:`Registry` on the same folder, for APIs that take one plus ``rev``."""
        return Registry(self.root)

    def _read_state(self, state: str, rel: str) -> bytes | None:
        if state != WORK_TREE:
            return gitio.show(self.root, state, rel)
        return read_document(self.root, rel)

    def find_tombstone(self, sha256: str) -> tuple[Tombstone, str | None] | None:
        """The tombstone revoking ``sha256`` at this view's state or in the registry's current state.

        Returns ``(tombstone, where)``; ``where`` is None when found at the view's own state, else
        a label of the current state that holds it (e.g. "the registry's HEAD (0123456789ab)").
        """
        ts = self.load_tombstone(sha256)
        if ts is not None:
            return ts, None
        rel = layout.tombstone(sha256)
        for state, label in self.current:
            data = self._read_state(state, rel)
            if data is not None:
                source = f"{rel} in {label}"
                return Tombstone.from_bytes_memo(data, source, cache_dir() / "validated"), label
        return None

    def tombstone_names(self) -> set[str]:
        """sha256 names of every tombstone at this view's state and in the current state, listed once."""
        names: set[str] = set()
        for state in (self.rev or WORK_TREE, *(s for s, _ in self.current)):
            if state == WORK_TREE:
                folder = self.root / layout.TOMBSTONES
                names |= {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()
            else:
                names |= {Path(p).stem for p in gitio.ls_tree(self.root, state, layout.TOMBSTONES) if p.endswith(".json")}
        return names


def open_registry(
    registry: str | os.PathLike[str] | None = None, rev: str | None = None, *, offline: bool = False, current: bool = True
) -> RegistryView:
    """Open ``registry`` (default: the one containing the current folder) at ``rev``.

    With ``rev`` and ``current`` (the default), the view also knows the registry's current state,
    so a later revocation is seen (for a URL online, that costs a fetch of the default HEAD).
    """
    if rev is not None:
        gitio.check_user_rev(rev)  # before any git command sees it (``--rev=--upload-pack=…``)
    if registry is None:
        registry = os.environ.get("PEDATA_REGISTRY") or "."
    text = os.fspath(registry)
    if text.startswith("-"):
        # a URL git would read as an option (``git remote add origin --upload-pack=…``)
        raise UsageError(f"invalid registry {text!r}: a registry path or URL may not start with '-' (write ./{text} for a folder)")
    if is_git_url(text):
        return _open_url(text, rev, offline=offline, current=current)
    path = Path(text).expanduser()
    if not path.exists():
        raise NotARegistryError(f"registry {text!r} does not exist (give a registry checkout or a git URL)")
    if (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / ".git").exists():
        # A bare repository on disk: treat like a URL so it is read at a commit.
        return _open_url(str(path.resolve()), rev, offline=offline, current=current)
    reg = Registry.find(path)
    if rev is None:
        return RegistryView(reg.root, None)
    view = RegistryView(reg.root, gitio.rev_parse(reg.root, rev))
    if current:
        view.current.append((WORK_TREE, "the registry's work tree"))
        head = gitio.head(reg.root)
        if head is not None and head != view.rev:
            view.current.append((head, f"the registry's HEAD ({head[:12]})"))
    return view


# -- cached clones ----------------------------------------------------------------------------
def clones_dir() -> Path:
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
        gitio.git(clone, "fetch", "-q", "--depth", "1", "--no-tags", "--end-of-options", "origin", target)
    except gitio.GitError as exc:
        if rev is None and "couldn't find remote ref HEAD" in exc.message:
            # A bare origin whose HEAD names a branch nobody pushed (``git init --bare`` says
            # master, the registry pushed main): read its main branch instead of failing.
            return _fetch_branch_for_head(clone, url)
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


def _fetch_branch_for_head(clone: Path, url: str) -> str:
    """The registry's default state when its HEAD is dangling: ``main``, ``master``, or its only branch."""
    try:
        listed = gitio.git(clone, "ls-remote", "--heads", "origin")
    except gitio.GitError as exc:
        raise PedataError(f"cannot list the branches of registry {url}: {exc.message.removeprefix('git ls-remote failed: ')}") from None
    heads = [line.split("\t", 1)[1] for line in listed.splitlines() if "\t" in line]
    pick: str | None = next((h for h in ("refs/heads/main", "refs/heads/master") if h in heads), None)
    if pick is None and len(heads) == 1:
        pick = heads[0]
    if pick is None:
        names = ", ".join(h.removeprefix("refs/heads/") for h in heads) or "none"
        raise PedataError(
            f"registry {url}: its HEAD names a branch that does not exist and no main branch can be chosen"
            f" (branches: {names}); pass --rev BRANCH, or set the origin's HEAD (git symbolic-ref HEAD refs/heads/BRANCH)"
        )
    try:
        gitio.git(clone, "fetch", "-q", "--depth", "1", "--no-tags", "origin", pick)
    except gitio.GitError as exc:
        raise PedataError(f"cannot fetch {pick!r} from registry {url}: {exc.message.removeprefix('git fetch failed: ')}") from None
    commit = gitio.git(clone, "rev-parse", "FETCH_HEAD^{commit}")
    gitio.git(clone, "update-ref", _ref_name(None), commit)
    return commit


def _open_url(url: str, rev: str | None, *, offline: bool, current: bool = True) -> RegistryView:
    clone = clones_dir() / hashlib.sha256(url.encode()).hexdigest()
    with _clone_lock(clone):
        if offline:
            commit = _local_commit(clone, rev) if (clone / "HEAD").is_file() else None
            if commit is None:
                what = f"revision {rev!r}" if rev else "its default branch"
                raise OfflineError(
                    f"offline: registry {url} ({what}) has never been fetched into the cache; resolve once online first"
                )
            view = RegistryView(clone, commit, url)
        else:
            _init_clone(clone, url)
            commit = None
            if rev is not None and (_SHA1_RE.match(rev) or not rev.startswith("refs/")):
                # Commit ids and tags are citation points: use them as already fetched.
                probe = rev if _SHA1_RE.match(rev) else f"refs/tags/{rev}"
                commit = gitio.git(clone, "rev-parse", "--verify", "-q", f"{probe}^{{commit}}", check=False) or None
            if commit is None:
                commit = _fetch(clone, url, rev)
            view = RegistryView(clone, commit, url)
        if rev is not None and current:
            _add_current_head(view, clone, url, rev, offline=offline)
        return view


def _add_current_head(view: RegistryView, clone: Path, url: str, rev: str, *, offline: bool) -> None:
    """The URL's default HEAD, where revocations made after ``rev`` live (fetched now unless offline)."""
    if offline:
        head = _local_commit(clone, None)
        if head is None:
            view.notes.append(
                f"offline: the default branch of registry {url} was never fetched, so a revocation made after"
                f" revision {rev!r} cannot be seen; resolve once online to check"
            )
            return
        label = f"the default branch of registry {url} as last fetched ({head[:12]})"
    else:
        try:
            head = _fetch(clone, url, None)
        except PedataError as exc:
            raise PedataError(
                f"{exc.message} (its default branch is read to check for revocations made after revision {rev!r};"
                " --offline uses the last fetch)"
            ) from None
        label = f"the default branch of registry {url} ({head[:12]})"
    if head != view.rev:
        view.current.append((head, label))


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
