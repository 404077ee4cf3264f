"""``pedata import``: a DVC-native consumer copy, checked against the pin.

``dvc import`` records the registry URL, the artifact's path and the revision in a ``.dvc`` file,
so ``dvc pull`` and ``dvc update`` in the consumer keep working with plain DVC. DVC identifies the
bytes by md5 only; pedata then hashes the imported file and removes it (and its ``.dvc`` file) if
its sha256 is not the one the release or channel pins.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.hashing import hash_file
from dvc_pedata.errors import IntegrityError, PedataError
from dvc_pedata.resolver.resolve import Resolution, describe, log_access


@dataclass
class Imported:
    resolution: Resolution
    out: Path
    dvcfile: Path
    rev: str

    def to_json(self) -> dict[str, Any]:
        return {**self.resolution.to_json(), "out": str(self.out), "dvcfile": str(self.dvcfile), "import_rev": self.rev}


def _import_rev(res: Resolution) -> str:
    """The release tag ``<ns>/v<version>`` when it exists, else the exact commit resolved."""
    view = res.view
    assert view is not None
    if res.ref_kind == "release":
        version = res.uri.rsplit("@v", 1)[1]
        tag = f"{res.namespace}/v{version}"
        if gitio.git(view.root, "rev-parse", "--verify", "-q", f"refs/tags/{tag}", check=False):
            return tag
    commit = view.rev or gitio.head(view.root)
    if commit is None:
        raise PedataError(f"registry {view.location} has no commits: commit the published documents first")
    return commit


def import_uri(
    uri: str,
    out: Path | str,
    registry: str | os.PathLike[str] | None = None,
    rev: str | None = None,
    *,
    trusted_root: str | None = None,
    project: Path | str = ".",
) -> Imported:
    """Resolve ``uri`` (with all trust checks), ``dvc import`` it to ``out``, verify its sha256."""
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        find_project,
        import_artifact,
    )

    res = describe(uri, registry, rev, trusted_root=trusted_root)
    view = res.view
    assert view is not None
    src_path = res.manifest.body.get("path")
    if not src_path:
        raise PedataError(f"{res.uri}: the manifest records no path in the registry, so DVC cannot import it")
    consumer = find_project(Path(project).resolve())
    out_path = Path(out).resolve()
    at = _import_rev(res)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    dvcfile = import_artifact(consumer, view.location, src_path, out_path, at)
    got = hash_file(out_path).sha256 if out_path.is_file() else None
    if got != res.sha256:
        for p in (out_path, dvcfile):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        raise IntegrityError(
            f"{res.uri}: dvc import of {src_path} at {at} gave sha256 {got}, but the pin is {res.sha256}; removed {out_path.name}"
        )
    res.source = "dvc-import"
    log_access(view, res, offline=False)  # every resolution leaves its line, imports included
    return Imported(res, out_path, dvcfile, at)
