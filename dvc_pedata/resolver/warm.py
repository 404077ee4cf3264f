"""The warm-cache fast path: answer a repeated resolution without re-running the resolver.

A full resolution (:mod:`dvc_pedata.resolver.resolve`) imports the document model, the schema validator and the
trust code, and asks git for the work tree's top: about 50 ms of a fresh process, most of it
imports. When the same URI was resolved before from the same registry work tree, this module
answers from a *resolution memo* instead, importing only ``os``, ``marshal``, ``hashlib`` and
``time`` (and ``pathlib`` for the returned path).

A memo is sound only if nothing the resolver read has changed, so it records the sha256 of the
exact bytes of every registry file the resolver read (``pedata.json``, the channel or release,
the manifest, the trust root versions and the listing of ``trust/root/``), the files it found
absent (the artifact's tombstone), the earliest expiry it checked, and the size of the cached
object. A hit re-reads and re-hashes those few small files (a few KB): a promotion, a
revocation, a root rotation, a ``git checkout`` or an expiry sends the call back to the full
resolver, which writes a fresh memo. Timestamps are never trusted, so there is no racy-clean
window. The memo lives in the cache folder (``<cache>/warm/``), the same trust domain as the
cached bytes it points to; a damaged memo is a miss, never an error.

Only plain-file resolutions from a local work tree (no ``rev``, no git URL) are memoised;
directory artifacts and registries with a remote audit trail always take the full path.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import time

from dvc_pedata.base.cachedir import cache_dir_text
from dvc_pedata.base.version import __version__

FORMAT = 1
_GIT_ENV = ("GIT_DIR", "GIT_WORK_TREE")


def _work_tree(registry: object) -> str | None:
    """The git work tree a local registry argument lives in, found like git does (walking up)."""
    if any(os.environ.get(v) for v in _GIT_ENV):
        return None
    text = os.fspath(registry) if registry is not None else (os.environ.get("PEDATA_REGISTRY") or ".")  # type: ignore[arg-type]
    if "://" in text or ("@" in text and ":" in text.split("/", 1)[0]):
        return None  # a git URL: read through a cached clone, never memoised
    here = os.path.realpath(os.path.expanduser(text))
    while True:
        if os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def _memo_path(top: str, uri: str, trusted_root: str | None) -> str:
    key = f"{FORMAT}\0{__version__}\0{top}\0{uri}\0{trusted_root or ''}".encode("utf-8", "surrogatepass")
    return os.path.join(cache_dir_text(), "warm", hashlib.sha256(key).hexdigest()[:40] + ".marshal")


def _digest(path: str) -> str | None:
    # A link anywhere below the work tree is never followed (the full resolver refuses it by
    # name, see docfile): it matches neither a recorded digest nor a recorded absence.
    if os.path.realpath(path) != path:
        return "link"
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def root_listing(top: str) -> tuple[str, ...]:
    """The names in ``trust/root/`` the trust code considers (``<digits>.json``), sorted."""
    try:
        names = os.listdir(os.path.join(top, "trust", "root"))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    return tuple(sorted(n for n in names if n.endswith(".json") and n[:-5].isascii() and n[:-5].isdigit()))


def lookup(uri: str, registry: object = None, rev: str | None = None,
           trusted_root: str | None = None) -> tuple[str, tuple[str, ...]] | None:
    """(the cached object's path, the warnings to repeat) if a memo for this resolution still
    holds, else None. The caller reports the warnings (this module never prints)."""
    if rev is not None or not isinstance(uri, str):
        return None
    try:
        top = _work_tree(registry)
        if top is None:
            return None
        uri = uri.strip()
        path = _memo_path(top, uri, trusted_root)
        with open(path, "rb") as fh:
            rec = marshal.load(fh)
        if rec["format"] != FORMAT or rec["version"] != __version__ or rec["top"] != top or rec["uri"] != uri:
            return None
        not_after = rec["not_after"]
        if not_after is not None and time.time() >= not_after:
            return None
        for rel, digest in rec["files"]:
            if _digest(os.path.join(top, rel)) != digest:
                return None
        if rec["root_listing"] is not None and root_listing(top) != rec["root_listing"]:
            return None
        obj = rec["object"]
        if os.stat(obj).st_size != rec["size"]:
            return None
        _log(rec, top)
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError):
        return None
    return obj, tuple(rec["warnings"])


def record(
    *,
    top: str,
    uri: str,
    trusted_root: str | None,
    files: dict[str, str | None],
    root_files: tuple[str, ...] | None,
    not_after: float | None,
    obj: str,
    size: int,
    warnings: list[str],
    log: dict[str, str],
) -> None:
    """Write the memo for one successful full resolution (best effort: a memo is only a speed-up)."""
    rec = {
        "format": FORMAT, "version": __version__, "top": top, "uri": uri.strip(),
        "files": sorted(files.items()), "root_listing": root_files, "not_after": not_after,
        "object": obj, "size": size, "warnings": list(warnings), "log": log,
    }
    path = _memo_path(top, uri.strip(), trusted_root)
    tmp = f"{path}.pedata-tmp-{os.getpid()}"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, marshal.dumps(rec))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


# -- the access-log line, without importing json ---------------------------------------------------
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def json_string(text: str) -> str:
    """``json.dumps(text, ensure_ascii=False)``, byte for byte."""
    out = []
    for ch in text:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def now_text() -> str:
    """UTC now with microseconds (``datetime`` costs an import on every cache hit)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def current_user() -> str:
    """Like ``getpass.getuser()`` (environment first, then the password database), lazily."""
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry (some containers)
        return str(os.getuid())


def access_line(fields: dict[str, str | None]) -> bytes:
    """One access-log line: ``json.dumps(fields, sort_keys=True, ensure_ascii=False)`` plus newline."""
    parts = []
    for key in sorted(fields):
        value = fields[key]
        parts.append(f"{json_string(key)}: {'null' if value is None else json_string(value)}")
    return ("{" + ", ".join(parts) + "}\n").encode("utf-8", "surrogateescape")


def append_access(line: bytes) -> None:
    """Append one line with one ``write`` on an ``O_APPEND`` descriptor (never interleaved)."""
    root = cache_dir_text()
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, "access.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _log(rec: dict[str, object], top: str) -> None:
    fields = dict(rec["log"])  # type: ignore[call-overload]
    fields.update(time=now_text(), user=current_user(), source="cache", registry=top, rev=None)
    append_access(access_line(fields))
