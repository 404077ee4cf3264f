"""``pedata update [PATH]``: move a ``pedata import`` that follows a channel to the channel's current pin.

An import made by ``pedata import`` carries ``meta.pedata`` (the URI and the sha256 checked) in its
``.dvc`` file. A channel URI is resolved again with every check ``pedata import`` makes (promoter
signatures, expiry, tombstones, the manifest's digest); if it now pins other bytes, ``dvc update
--rev <rev>`` moves the import to the revision that holds them (the same choice as the import:
:func:`consumer_import._import_rev`), and the bytes on disk are hashed against the new pin.

Crash and failure ordering: the old ``.dvc`` text is kept in memory; if DVC's update fails or the
new bytes do not hash to the pin, the old ``.dvc`` file is written back and DVC checks the old
bytes out again from the consumer's cache (nothing lost). ``meta.pedata`` is rewritten only after
the new bytes were verified, so a crash in between leaves a record naming the old sha256, which
``pedata status`` and the next ``pedata update`` then see differs from the file.

Releases and ``sha256:`` refs never move: they are reported as pinned. A channel import also
records the channel's version; a channel resolved at a lower version (or the same version pinning
other bytes: a registry whose history was force-pushed back) is refused and nothing changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.base.atomic import write_bytes
from dvc_pedata.base.hashing import hash_file
from dvc_pedata.errors import DvcError, IntegrityError, NotFoundError, PedataError
from dvc_pedata.model.uri import parse
from dvc_pedata.resolver.dvcimport import _import_rev, channel_version, record_pin, recorded_pin
from dvc_pedata.resolver.resolve import describe, log_access


@dataclass
class Updated:
    dvcfile: Path
    uri: str
    status: str  # updated | up-to-date | pinned
    old_sha256: str
    sha256: str
    rev: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"dvcfile": str(self.dvcfile), "uri": self.uri, "status": self.status,
                "old_sha256": self.old_sha256, "sha256": self.sha256, "rev": self.rev}

    def line(self) -> str:
        if self.status == "updated":
            return f"updated  {self.dvcfile.name}: {self.uri} sha256 {self.old_sha256[:12]} -> {self.sha256[:12]} (rev {self.rev}, verified)"
        if self.status == "pinned":
            return f"pinned   {self.dvcfile.name}: {self.uri} names fixed bytes (a release or sha256), nothing to move"
        return f"current  {self.dvcfile.name}: {self.uri} still pins sha256 {self.sha256[:12]}"


def import_files(project: Path) -> list[Path]:
    """Every ``.dvc`` file under ``project`` (not in .git/.dvc) that ``pedata import`` wrote."""
    found: list[Path] = []
    for top, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in (".git", ".dvc"))
        found += [Path(top) / f for f in sorted(files) if f.endswith(".dvc") and recorded_pin(Path(top) / f)]
    return found


def dvcfile_for(path: Path) -> Path:
    """``data/x.parquet`` or ``data/x.parquet.dvc`` -> the ``.dvc`` file, which must exist."""
    cand = path if path.name.endswith(".dvc") else path.with_name(path.name + ".dvc")
    if not cand.is_file():
        raise NotFoundError(f"{path}: no {cand.name} next to it (update takes a file made by pedata import, or its .dvc file)")
    return cand


def _source(dvcfile: Path) -> tuple[str, str]:
    """(registry URL, output path) from an import's ``.dvc`` file."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(dvcfile.read_text(encoding="utf-8"))
    try:
        return data["deps"][0]["repo"]["url"], data["outs"][0]["path"]
    except (KeyError, IndexError, TypeError):
        raise PedataError(f"{dvcfile}: not a dvc import (no deps[0].repo.url / outs[0].path)") from None


def update_one(dvcfile: Path, *, trusted_root: str | None = None) -> Updated:
    rec = recorded_pin(dvcfile)
    if rec is None:
        raise PedataError(f"{dvcfile}: not made by pedata import (no meta.pedata record); use dvc update for plain imports")
    uri = parse(rec["uri"])
    if uri.ref_kind != "channel":
        return Updated(dvcfile, rec["uri"], "pinned", rec["sha256"], rec["sha256"])
    url, out = _source(dvcfile)
    res = describe(uri, url, trusted_root=trusted_root)
    version, seen = channel_version(res), rec["channel_version"]
    if seen is not None and (version is None or version < seen or (version == seen and res.sha256 != rec["sha256"])):
        raise IntegrityError(
            f"{dvcfile}: {res.uri} is now channel version {version}, but this import already followed version {seen}"
            f" (sha256 {rec['sha256'][:12]}); a channel never goes back: the registry's history was rewritten; nothing was changed"
        )
    if res.sha256 == rec["sha256"]:
        return Updated(dvcfile, rec["uri"], "up-to-date", rec["sha256"], res.sha256)
    rev = _import_rev(res)
    out_path = dvcfile.parent / out
    old_text = dvcfile.read_bytes()
    _dvc_update(dvcfile, rev)
    got = hash_file(out_path).sha256 if out_path.is_file() else None
    if got != res.sha256:
        _restore(dvcfile, old_text)
        raise IntegrityError(
            f"{res.uri}: dvc update of {dvcfile.name} to {rev} gave sha256 {got}, but the pin is {res.sha256};"
            f" restored the previous import (sha256 {rec['sha256']})"
        )
    record_pin(dvcfile, rec["uri"], res.sha256, version)
    res.source = "dvc-import"
    log_access(res.view, res, offline=False)  # type: ignore[arg-type]
    return Updated(dvcfile, rec["uri"], "updated", rec["sha256"], res.sha256, rev)


def _dvc_update(dvcfile: Path, rev: str) -> None:
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcException,
        Repo,
        _quiet_dvc,
        find_project,
    )

    _quiet_dvc()
    try:
        with Repo(str(find_project(dvcfile.parent.resolve()))) as repo:
            repo.update(targets=[str(dvcfile.resolve())], rev=rev)
    except DvcException as exc:
        raise DvcError(f"dvc update of {dvcfile} failed: {exc}") from exc


def _restore(dvcfile: Path, old_text: bytes) -> None:
    """Put the previous ``.dvc`` file back and let DVC check its bytes out from the consumer cache."""
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        Repo,
        _quiet_dvc,
        find_project,
    )

    write_bytes(dvcfile, old_text)
    _quiet_dvc()
    with Repo(str(find_project(dvcfile.parent.resolve()))) as repo:
        repo.checkout(targets=[str(dvcfile.resolve())], force=True)


def update(paths: list[str], project: Path | str = ".", *, trusted_root: str | None = None) -> list[Updated]:
    from dvc_pedata.dvcio.repo import (
        find_project,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    if paths:
        files = [dvcfile_for(Path(p)) for p in paths]
    else:
        files = import_files(find_project(Path(project).resolve()))
    return [update_one(f, trusted_root=trusted_root) for f in files]
