"""What a consumer remembers about each registry, so a registry can never take it backwards.

TUF's client rule: once a client has verified something newer, an older state is an attack
(a rollback by a force-push, a frozen or hostile mirror). Per *registry identity* -- the digest
of its trust root 1, the same value ``--trusted-root`` pins -- the resolver remembers:

* ``root_version``: the newest trust root version it verified; a registry whose chain ends
  lower is refused;
* ``channels``: the newest version of each *signed* channel it served (``latest`` is unsigned:
  anyone with push access could write any number, so it is never remembered); an older version
  is refused;
* ``releases``: the digest of the pins (canonical JSON) of each release it served: a release
  never changes what it pins once cited (docs/trust.md), so other pins are refused;
* ``tombstones``: every artifact sha256 it has seen revoked (by name, in ``tombstones/``);
  those bytes are never served again -- not from the registry, not from its own cache --
  whatever the registry says later.

Invariants and crash ordering: the state lives beside the cache
(``<cache>/trust-state/<registry id>.json``), is only ever replaced whole (temp file, fsync,
rename: :func:`dvc_pedata.atomic.write_bytes`) under an exclusive ``flock`` on a lock file next
to it, and only grows: values are merged by maximum / union, so two processes racing lose
nothing, and a crash leaves the old or the new file. A new revocation first removes every
warm-cache memo (``<cache>/warm/``) and then writes the state, so no memo written before it can
answer for revoked bytes. A damaged state file is an error naming the file (never silently
reset): ``pedata trust state --reset ID`` forgets one registry on purpose.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic, gitio
from dvc_pedata.errors import PedataError, RevokedError, SignatureError
from dvc_pedata.model import layout
from dvc_pedata.model.documents import Root
from dvc_pedata.resolver.cache import cache_dir
from dvc_pedata.trust.judge import role_for
from dvc_pedata.trust.signing import check_threshold

FORMAT = 1
_ID_RE = re.compile(r"^[0-9a-f]{64}\Z")


class StateError(PedataError):
    """A consumer state file that cannot be read, or an unknown registry id."""


def state_dir() -> Path:
    return cache_dir() / "trust-state"


def state_path(registry_id: str) -> Path:
    if not _ID_RE.match(registry_id):
        raise StateError(f"{registry_id!r} is not a registry id (the 64-hex sha256 digest of its trust root 1)")
    return state_dir() / f"{registry_id}.json"


def _empty(registry_id: str) -> dict[str, Any]:
    return {"format": FORMAT, "registry": registry_id, "root_version": 0, "channels": {}, "releases": {},
            "tombstones": {}}


def load(registry_id: str) -> dict[str, Any]:
    """The remembered state for ``registry_id`` (an empty one if never seen)."""
    path = state_path(registry_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _empty(registry_id)
    except OSError as exc:  # pragma: no cover - a permission problem on the cache folder
        raise StateError(f"{path}: cannot read the consumer trust state ({exc.strerror})") from None
    try:
        obj = json.loads(data)
        ok = (isinstance(obj, dict) and obj.get("format") == FORMAT and obj.get("registry") == registry_id
              and isinstance(obj.get("root_version"), int) and isinstance(obj.get("channels"), dict)
              and isinstance(obj.get("tombstones"), dict) and isinstance(obj.setdefault("releases", {}), dict))
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise StateError(f"{path}: not a pedata consumer trust state; inspect it, or forget this registry with "
                         f"'pedata trust state --reset {registry_id}'")
    return obj


@contextlib.contextmanager
def _locked(registry_id: str) -> Iterator[None]:
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{registry_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _save(registry_id: str, state: dict[str, Any]) -> None:
    data = (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()
    atomic.write_if_changed(state_path(registry_id), data)


def _drop_warm_memos() -> None:
    """Every warm-cache memo goes: one may answer for bytes just seen revoked (memos are a speed-up)."""
    shutil.rmtree(cache_dir() / "warm", ignore_errors=True)


def check(registry_id: str, *, root_version: int | None, channel: tuple[str, int] | None,
          sha256s: list[str], where: str, release: tuple[str, str] | None = None, uri: str | None = None) -> None:
    """Refuse what is older than, or revoked by, what this consumer already saw (nothing written)."""
    state = load(registry_id)
    reset = f"if the registry was reset on purpose: pedata trust state --reset {registry_id}"
    for sha in sha256s:
        if sha in state["tombstones"]:
            raise RevokedError(f"{uri + ': ' if uri else ''}sha256 {sha} was {state['tombstones'][sha]} (this consumer "
                               "saw the tombstone; revoked bytes are never served again, whatever the registry "
                               f"{where} says now); {reset}")
    if root_version is not None and root_version < state["root_version"]:
        raise SignatureError(f"registry {where} serves trust root version {root_version}, but this consumer already "
                             f"verified version {state['root_version']}: a rollback (older keys would count again); {reset}")
    if channel is not None:
        name, version = channel
        seen = state["channels"].get(name, 0)
        if version < seen:
            raise SignatureError(f"channel {name} is at version {version} in registry {where}, but this consumer "
                                 f"already served version {seen}: a rollback or a frozen mirror; {reset}")
    if release is not None and state["releases"].get(release[0], release[1]) != release[1]:
        raise SignatureError(f"release {release[0]} in registry {where} pins other bytes than when this consumer "
                             f"resolved it before: a cited release never changes its pins; {reset}")


def record(registry_id: str, *, root_version: int | None, channel: tuple[str, int] | None,
           tombstones: dict[str, str], release: tuple[str, str] | None = None) -> None:
    """Merge what was just verified or seen into the state (maximum / union; never lowers anything)."""
    with _locked(registry_id):
        state = load(registry_id)
        new = dict(state, channels=dict(state["channels"]), tombstones=dict(state["tombstones"]),
                   releases=dict(state["releases"]))
        if release is not None:
            new["releases"].setdefault(release[0], release[1])
        if root_version is not None:
            new["root_version"] = max(state["root_version"], root_version)
        if channel is not None:
            name, version = channel
            new["channels"][name] = max(state["channels"].get(name, 0), version)
        fresh = {sha: note for sha, note in tombstones.items() if sha not in state["tombstones"]}
        new["tombstones"].update(fresh)
        if new == state:
            return
        if fresh:
            _drop_warm_memos()
        _save(registry_id, new)


def known() -> list[dict[str, Any]]:
    """Every remembered registry's state, by id."""
    folder = state_dir()
    if not folder.is_dir():
        return []
    return [load(p.stem) for p in sorted(folder.glob("*.json")) if _ID_RE.match(p.stem)]


def reset(registry_id: str) -> bool:
    """Forget one registry on purpose; True if there was something to forget."""
    path = state_path(registry_id)
    with _locked(registry_id):
        try:
            path.unlink()
        except FileNotFoundError:
            return False
    _drop_warm_memos()
    return True


# -- the resolver's side ----------------------------------------------------------------------------
def registry_identity(view: Any) -> str | None:
    """The digest of the registry's trust root 1 (None: no trust root, so nothing to remember)."""
    data = view.read(layout.root(1))
    if data is None:
        return None
    try:
        return Root.from_bytes(data, view.where(layout.root(1))).digest
    except PedataError:
        return None  # the chain check (verify, or a ref that needs signatures) reports it


def _claimed_root_version(view: Any, state: str | None = None) -> int:
    """The highest ``trust/root/<N>.json`` listed at ``state`` (default: the view's own; "" = work tree).

    Unverified: only ever compared with what was verified before, never recorded.
    """
    rev = view.rev if state is None else (state or None)
    if rev is None:
        folder = view.root / "trust" / "root"
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    else:
        names = [p.rsplit("/", 1)[-1] for p in gitio.ls_tree(view.root, rev, "trust/root")]
    stems = [n[:-5] for n in names if n.endswith(".json")]
    return max((int(s) for s in stems if s.isascii() and s.isdigit()), default=0)


def consult(view: Any, *, trusted_root: str | None, channel: tuple[str, int] | None, sha256s: list[str],
            release: tuple[str, str] | None = None, uri: str | None = None) -> str | None:
    """Refuse a registry state older than what this consumer saw, then remember what it verified now.

    Read at an explicit revision, the root version compared is the registry's current one and
    channel versions are neither compared nor remembered. The root chain is verified here when the registry has one (a chain that does not verify only
    skips the remembering: the refs that need it refuse on their own). Tombstones are remembered
    only once their revoker signatures verify under that chain, so a push without keys cannot
    make a consumer refuse bytes for good. Returns a warning when the state cannot be written (a
    read-only cache): the resolution stands, but its memory did not grow.
    """
    registry_id = registry_identity(view)
    if registry_id is None:
        return None
    roots = None
    try:
        from dvc_pedata.trust.root import (
            load_root_versions,  # lazy: cryptography; only signed refs and signing pay for it
        )

        roots = load_root_versions(view.registry, trusted_root, view.rev, check_expiry=False)
    except PedataError:
        roots = None
    version = int(roots[-1].version) if roots else _claimed_root_version(view)
    # An explicit revision (--rev, pedata import's tag) is history the user asked for: its root and
    # channel versions may be older. The registry's current state (view.current) must not be.
    current = max((_claimed_root_version(view, state) for state, _ in view.current), default=version)
    if view.current:
        channel = None
    check(registry_id, root_version=max(version, current), channel=channel, sha256s=sha256s, where=view.location,
          release=release, uri=uri)
    state = load(registry_id)
    seen = _verified_tombstones(view, roots, set(state["tombstones"])) if roots else {}
    try:
        record(registry_id, root_version=version if roots else None, channel=channel if roots else None,
               tombstones=seen, release=release if roots else None)
    except OSError as exc:  # a read-only cache: the resolution stands, the memory does not grow (say so)
        return f"cannot remember this registry's state in {state_dir()} ({exc.strerror}): rollbacks go unnoticed"
    return None


def _verified_tombstones(view: Any, roots: list[Any], known: set[str]) -> dict[str, str]:
    """Tombstones listed by the view (its state and the registry's current one) not yet remembered, once verified."""
    out: dict[str, str] = {}
    for sha in sorted(view.tombstone_names() - known):
        found = None
        with contextlib.suppress(PedataError):
            found = view.find_tombstone(sha)
        if found is None:
            continue
        ts, _ = found
        rel = layout.tombstone(sha)
        need = role_for(rel, ts)
        if ts.artifact_sha256 != sha or need is None or check_threshold(ts, roots[-1], need[0], need[1]):
            continue
        out[sha] = f"revoked on {ts.date} by {ts.authority}: {ts.reason}"
    return out
