"""Git access through the real ``git`` command.

The git CLI is what users run, is fast for bulk history reads (``cat-file --batch``), and keeps
``import dvc_pedata`` light; DVC's own scmrepo is only used inside :mod:`dvcio`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from dvc_pedata.errors import NotARegistryError, PedataError, UsageError


class GitError(PedataError):
    """A git command failed; carries git's own first line of stderr."""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["LC_ALL"] = "C"
    return env


def git(root: Path | str, *args: str, input: bytes | None = None, check: bool = True) -> str:
    """Run ``git -C root args...`` and return stdout as text (stripped of the final newline)."""
    return git_bytes(root, *args, input=input, check=check).decode("utf-8", "replace").rstrip("\n")


def git_bytes(root: Path | str, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    proc = subprocess.run(
        ["git", "-C", str(root), *args], input=input, capture_output=True, env=_env(), check=False
    )
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        first = next((m for m in msg if m.startswith(("fatal", "error"))), msg[0] if msg else "")
        raise GitError(f"git {args[0]} failed: {first or 'exit ' + str(proc.returncode)}")
    return proc.stdout


def store_blob(root: Path | str, rel: str, data: bytes) -> None:
    """Put ``data`` in git's object store as the blob ``git add rel`` would make (``--path``:
    the same attributes and filters), touching neither the work tree nor the index.

    ``git add`` of the same bytes later finds the object and only hashes them: compressing a
    folder's 10 MB listing and inputs lock took 0.46 s after ``dvc push`` in ``publish``, and
    costs nothing on the critical path when done beside it. Best effort: an object nothing names
    is what ``git gc`` prunes, and ``git add`` reports any real error itself."""
    with contextlib.suppress(OSError):
        git_bytes(root, "hash-object", "-w", "--stdin", f"--path={rel}", input=data, check=False)


def git_concurrently(root: Path | str, *argvs: Sequence[str]) -> list[bytes]:
    """Run several read-only git commands at once (each ``git -C root argv...``); their stdouts
    in order. Two walks of a large work tree cost the longer one, not the sum."""
    procs = [subprocess.Popen(["git", "-C", str(root), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
             for argv in argvs]
    outs = [p.communicate() for p in procs]
    for argv, p, (_out, err) in zip(argvs, procs, outs, strict=True):
        if p.returncode != 0:
            msg = err.decode("utf-8", "replace").strip().splitlines()
            first = next((m for m in msg if m.startswith(("fatal", "error"))), msg[0] if msg else "")
            raise GitError(f"git {argv[0]} failed: {first or 'exit ' + str(p.returncode)}")
    return [out for out, _err in outs]


def toplevel(start: Path | str) -> Path:
    try:
        return Path(git(start, "rev-parse", "--show-toplevel"))
    except GitError:
        raise NotARegistryError(f"{Path(start).resolve()} is not inside a git repository") from None


def head(root: Path) -> str | None:
    """The commit HEAD names, or None in a repository with no commits yet."""
    out = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
    return out or None


def check_user_rev(rev: str, what: str = "git revision") -> str:
    """A revision a user gave (``--rev``, ``get_path(rev=…)``, ``--base``), refused unless it can
    only be read as a revision.

    Git parses any argument that starts with ``-`` as an option wherever it appears before ``--``
    (``--upload-pack=CMD`` on ``git fetch`` runs CMD), so such a name never reaches git; nor do
    control characters or spaces, which no ref name may hold and which would only confuse the
    one-line messages that quote the revision. Callers that pass it on also put it after
    ``--end-of-options`` where git supports that (defence in depth).
    """
    if not isinstance(rev, str) or not rev or rev.startswith("-") or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in rev):
        raise UsageError(f"invalid {what} {rev!r}: give a branch, tag or commit id (a revision may not start with '-' or contain spaces or control characters)")
    return rev


def rev_parse(root: Path, rev: str) -> str:
    check_user_rev(rev)
    try:
        return git(root, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
    except GitError:
        raise PedataError(f"unknown git revision {rev!r}") from None


def show(root: Path, rev: str, path: str) -> bytes | None:
    """Bytes of ``path`` at ``rev``, or None if it does not exist there."""
    proc = subprocess.run(
        ["git", "-C", str(root), "cat-file", "blob", f"{rev}:{path}"], capture_output=True, env=_env()
    )
    return proc.stdout if proc.returncode == 0 else None


def ls_tree(root: Path, rev: str, path: str) -> list[str]:
    """Paths of files under ``path`` at ``rev`` (recursive)."""
    out = git(root, "ls-tree", "-r", "--name-only", rev, "--", path, check=False)
    return [p for p in out.splitlines() if p]


def is_dirty(root: Path, paths: Sequence[str] = ()) -> bool:
    return bool(git(root, "status", "--porcelain", "--", *paths))


def add(root: Path, paths: Iterable[str]) -> None:
    paths = list(paths)
    if paths:
        git(root, "add", "--", *paths)


def commit(root: Path, message: str, paths: Iterable[str] | None = None) -> str:
    """Commit the given paths (or the whole index) and return the new commit id.

    With ``paths``, only those are committed (``git commit -- paths``): changes the user had
    staged for their own commit stay staged instead of riding along in pedata's.
    """
    if paths is not None:
        paths = list(paths)
        add(root, paths)
        git(root, "commit", "-q", "-m", message, "--", *paths)
    else:
        git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


def current_branch(root: Path) -> str | None:
    out = git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    return out or None


def batch_read(root: Path, specs: Sequence[str]) -> Iterator[tuple[str, bytes | None]]:
    """Read many objects (``rev:path`` or blob ids) in one ``git cat-file --batch`` process."""
    if not specs:
        return
    proc = subprocess.Popen(
        ["git", "-C", str(root), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_env(),
    )
    assert proc.stdin and proc.stdout
    import threading

    def feed() -> None:
        try:
            for spec in specs:
                proc.stdin.write(spec.encode() + b"\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    out = proc.stdout
    for spec in specs:
        header = out.readline().rstrip(b"\n").split(b" ")
        if len(header) == 3:
            size = int(header[2])
            data = out.read(size)
            out.read(1)
            yield spec, data
        else:
            yield spec, None
    t.join()
    proc.wait()
