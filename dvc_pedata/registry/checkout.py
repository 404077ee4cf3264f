"""A work tree to read a registry from, for the commands that only read it (``--registry URL``).

``schema``, ``diff``, ``releases``, ``show``, ``cite``, ``export`` and ``lineage`` read a
registry through :class:`~dvc_pedata.registry.Registry`: files in a work tree, its git history
and its tags. For a local checkout that is the checkout. For a git URL (or a bare repository on
disk) it is a detached ``git worktree`` of the resolver's cached clone (:mod:`regsource`, one
clone per URL under ``<cache>/registries``): no second clone mechanism, no second copy of the
objects.

- Online, the clone's default branch is fetched as the resolver does (a dangling HEAD falls back
  to ``main``), then its full history and every tag (``releases`` lists tags, ``cite`` names the
  tagger, ``lineage`` and trust-root judgments read older commits).
- ``offline=True`` uses the last fetch (the resolver's offline rules and errors).
- One work tree per commit, at ``<cache>/registries/<sha256(url)>.trees/<commit>``: a commit's
  tree never changes, so a finished work tree is reused as it is. It is finished when
  ``<commit>.ok`` exists next to it; the marker is written after ``git worktree add`` succeeded,
  so a crash in between leaves a tree without a marker, which the next call (under the clone's
  lock) removes and makes again. Each use touches the marker; a work tree unused for
  :data:`KEEP_SECONDS` (a day: no command reads one that long) is removed when another is made,
  so a registry that moves every hour does not fill the cache with old checkouts.
- Nothing here writes to the work tree after it is made; the commands only read it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dvc_pedata.base import gitio
from dvc_pedata.errors import PedataError
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.source import _clone_lock, is_git_url, open_registry

KEEP_SECONDS = 24 * 3600


def registry_root(registry: str | os.PathLike[str] | None = None, *, offline: bool = False) -> Path:
    """The work tree to read ``registry`` from (default: ``$PEDATA_REGISTRY``, else the current folder)."""
    if registry is None:
        registry = os.environ.get("PEDATA_REGISTRY") or "."
    text = os.fspath(registry)
    path = Path(text).expanduser()
    bare = not is_git_url(text) and (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / ".git").exists()
    if not is_git_url(text) and not bare:
        return Registry.find(path).root
    view = open_registry(text, None, offline=offline)  # fetch (or find) the default branch's tip
    clone, commit = view.root, view.rev
    assert commit is not None
    with _clone_lock(clone):
        if not offline:
            _fetch_history_and_tags(clone, view.location)
        trees = clone.parent / f"{clone.name}.trees"
        tree, marker = trees / commit, trees / f"{commit}.ok"
        if marker.is_file() and (tree / ".git").is_file():
            os.utime(marker)  # in use: keep it
            return tree
        trees.mkdir(parents=True, exist_ok=True)
        if tree.exists():  # a crash between worktree add and the marker: make it again
            shutil.rmtree(tree, ignore_errors=True)
        gitio.git(clone, "worktree", "prune")
        try:
            gitio.git(clone, "worktree", "add", "-q", "--detach", str(tree), commit)
        except gitio.GitError as exc:
            raise PedataError(f"cannot check out registry {view.location} at {commit[:12]} into {tree}: {exc.message}") from None
        marker.write_bytes(b"")
        _drop_unused(clone, trees, keep=commit)
        return tree


def _drop_unused(clone: Path, trees: Path, keep: str) -> None:
    """Remove work trees whose marker was last touched more than :data:`KEEP_SECONDS` ago (best effort)."""
    import time

    cutoff = time.time() - KEEP_SECONDS
    for marker in trees.glob("*.ok"):
        commit = marker.name[: -len(".ok")]
        try:
            if commit == keep or marker.stat().st_mtime > cutoff:
                continue
            marker.unlink()  # first: a half-removed tree is then one without a marker (made again if needed)
        except OSError:
            continue
        shutil.rmtree(trees / commit, ignore_errors=True)
    gitio.git(clone, "worktree", "prune", check=False)


def _fetch_history_and_tags(clone: Path, url: str) -> None:
    """Deepen the clone to full history and fetch every branch and tag (a few KB of documents each)."""
    shallow = gitio.git(clone, "rev-parse", "--is-shallow-repository", check=False) == "true"
    try:
        gitio.git(clone, "fetch", "-q", *(["--unshallow"] if shallow else []), "--tags", "origin",
                  "+refs/heads/*:refs/pedata/remote/heads/*")
    except gitio.GitError as exc:
        raise PedataError(f"cannot fetch the history and tags of registry {url}: {exc.message.removeprefix('git fetch failed: ')}") from None
