"""What ``pedata adopt`` checks before it fetches anything, and what it takes back when DVC fails.

* :func:`checked_remote`: the DVC remote adopt will push to (``--remote``, else pedata.json's
  ``remote``, else DVC's default) must exist, so a typo is one line before any byte is fetched
  or written rather than a ``dvc push`` failure after the copy and ``dvc add``.
* :func:`undo_on_failure`: if copying, ``dvc add`` or ``dvc push`` still fails (an unreachable
  remote, a full disk), the payload copy, its ``.dvc`` file and the folder's ``.gitignore`` are
  put back as they were and emptied folders removed, so nothing is left for ``git status``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from dvc_pedata.base import atomic
from dvc_pedata.errors import NotFoundError, PedataError, UsageError
from dvc_pedata.registry.repo import Registry

NOTHING_DONE = "nothing was fetched or written"


def checked_remote(reg: Registry, remote: str | None, push: bool) -> str | None:
    """The remote named by ``--remote`` or pedata.json (None: DVC's default), checked to exist."""
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcRepo,
    )

    named = remote or reg.config.get("remote")
    with DvcRepo(reg.root) as repo:
        names, default = sorted(repo.remotes()), repo.default_remote()
    known = f"DVC remotes: {', '.join(names)}" if names else "no DVC remote is configured"
    if named is not None and named not in names:
        where = "--remote" if remote else f"{reg.rel(reg.config_path)}'s 'remote'"
        raise NotFoundError(f"DVC remote {named!r} does not exist (named by {where}; {known}); {NOTHING_DONE}")
    if named is None and default is not None and default not in names:
        raise NotFoundError(f"DVC's default remote {default!r} does not exist ({known}); {NOTHING_DONE}")
    if push and named is None and default is None:
        raise UsageError(f"no DVC remote to push to ({known}): pass --remote NAME, or --no-push; {NOTHING_DONE}")
    return named


@contextlib.contextmanager
def undo_on_failure(root: Path, new_files: list[str], edited: list[str]) -> Iterator[None]:
    """On an exception: remove ``new_files`` that did not exist before, restore ``edited`` files'
    bytes (or remove them if they did not exist), then remove the folders this left empty."""
    absent = [rel for rel in new_files if not (root / rel).exists()]
    before = {rel: (root / rel).read_bytes() if (root / rel).is_file() else None for rel in edited}
    try:
        yield
    except BaseException as exc:
        for rel in [*absent, *(r for r, data in before.items() if data is None)]:
            with contextlib.suppress(OSError):
                (root / rel).unlink(missing_ok=True)
        for rel, data in before.items():
            if data is not None:
                with contextlib.suppress(OSError):
                    atomic.write_if_changed(root / rel, data)
        for rel in (*new_files, *edited):
            folder = (root / rel).parent
            while folder != root and root in folder.parents:
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent
        if not isinstance(exc, PedataError):
            raise
        message = f"{exc.message}; adopt took back what it had written"
        try:
            again = type(exc)(message, exit_code=exc.exit_code)
        except TypeError:  # a subclass with its own constructor
            again = PedataError(message, exit_code=exc.exit_code)
        raise again from None
