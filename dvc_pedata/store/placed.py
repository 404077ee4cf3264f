"""A small record of the files ``pedata get -o`` placed, so ``pedata status`` knows them.

``<cache>/placed.log``: one JSON line per placement (time, absolute ``out`` path, uri, sha256,
registry, rev), appended with one ``write`` on an ``O_APPEND`` descriptor like the access log,
so concurrent gets never interleave lines. It is written *after* the bytes were placed: a crash
in between leaves a file that status does not know, never a record of a file that was not
written. The last line for a path wins (a later ``get -o`` to the same place replaces it).

``pedata status`` reports a recorded file as revoked only if the registry has a tombstone for
its sha256 *and* the file on disk still hashes to it (a file replaced since is not the revoked
bytes); only revoked candidates are hashed, so status stays cheap.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base.hashing import hash_file
from dvc_pedata.errors import NotFoundError, PedataError
from dvc_pedata.resolver.cache import cache_dir
from dvc_pedata.resolver.warm import now_text


def log_path() -> Path:
    return cache_dir() / "placed.log"


def record(out: Path, uri: str, sha256: str, registry: str, rev: str | None) -> None:
    line = json.dumps({"time": now_text(), "out": str(out.absolute()), "uri": uri, "sha256": sha256,
                       "registry": registry, "rev": rev}, sort_keys=True, ensure_ascii=False) + "\n"
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def placed_under(top: Path) -> dict[str, dict[str, Any]]:
    """The last record for each placed path under ``top`` (a damaged line is skipped)."""
    try:
        text = log_path().read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return {}
    top_text = str(top.resolve())
    found: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        out = rec.get("out") if isinstance(rec, dict) else None
        if not isinstance(out, str) or not isinstance(rec.get("sha256"), str) or not isinstance(rec.get("registry"), str):
            continue
        if out == top_text or out.startswith(top_text.rstrip("/") + "/"):
            found[out] = rec
    return found


def revoked_placed(top: Path | str = ".") -> list[dict[str, Any]]:
    """Files ``pedata get -o`` wrote under ``top`` that still hold bytes their registry has revoked."""
    from dvc_pedata.store.revoke import (
        revocations,  # lazy: cryptography; only signed refs and signing pay for it
    )

    start = Path(top).resolve()
    lists: dict[str, dict[str, dict[str, Any]]] = {}
    out: list[dict[str, Any]] = []
    for path, rec in sorted(placed_under(start).items()):
        reg = rec["registry"]
        if reg not in lists:
            try:
                lists[reg] = {r["sha256"]: r for r in revocations(reg)}
            except PedataError:
                lists[reg] = {}  # a registry no longer reachable: say nothing rather than guess
        ts = lists[reg].get(rec["sha256"])
        p = Path(path)
        if ts is None or not p.exists():
            continue
        if p.is_file() and hash_file(p).sha256 != rec["sha256"]:
            continue  # replaced by other bytes since
        out.append({"path": os.path.relpath(p, start), "sha256": rec["sha256"], "reason": ts["reason"],
                    "authority": ts["authority"], "date": ts["date"], "uri": rec.get("uri"),
                    "source": "pedata get -o", "registry": reg})
    return out


@dataclass
class ProjectStatus:
    """``pedata status``: revoked bytes among this project's DVC outputs and imports (``tracked``)
    and among the files ``pedata get -o`` wrote here (``fetched``)."""

    tracked: list[dict[str, Any]] = field(default_factory=list)
    fetched: list[dict[str, Any]] = field(default_factory=list)

    @property
    def items(self) -> list[dict[str, Any]]:
        return self.tracked + self.fetched


def project_status(top: Path | str = ".") -> ProjectStatus:
    """Revoked artifacts under ``top``: a DVC project's outputs and imports, and files from
    ``pedata get -o``; a folder that is neither a DVC project nor holds such files is an error."""
    from dvc_pedata.store.revoke import (
        status,  # lazy: cryptography; only signed refs and signing pay for it
    )

    try:
        tracked = status(top)
    except NotFoundError:
        if not placed_under(Path(top)):
            raise  # neither a DVC project nor a folder pedata get -o wrote to
        tracked = []
    return ProjectStatus(tracked, revoked_placed(top))
