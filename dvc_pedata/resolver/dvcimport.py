"""``pedata import``: a DVC-native consumer copy, checked against the pin.

``dvc import`` records the registry URL, the artifact's path and the revision in a ``.dvc`` file,
so ``dvc pull`` and ``dvc update`` in the consumer keep working with plain DVC. The revision is one
whose tree holds exactly the pinned bytes (:func:`_import_rev`: the release tag, else the commit
that added the pin's manifest), never merely the registry's tip, so both keep giving those bytes
after the registry moves on. DVC identifies the bytes by md5 only; pedata then hashes the imported
file and removes it (and its ``.dvc`` file) if its sha256 is not the one the release or channel pins.

Order: resolve and check the pin; ``dvc import``; hash; only then add ``meta.pedata`` (URI and
sha256, for ``pedata update``) to the ``.dvc`` file. A crash before the last step leaves a plain
DVC import of verified bytes, which ``pedata status`` still checks but ``pedata update`` does not
move.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.atomic import write_bytes
from dvc_pedata.base.hashing import hash_file
from dvc_pedata.errors import IntegrityError, PedataError
from dvc_pedata.model import layout
from dvc_pedata.model.uri import tag_name
from dvc_pedata.registry.source import RegistryView, _clone_lock, ensure_history
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
    """The git revision whose tree holds exactly the pinned bytes, fetched into the clone if needed.

    A release: its tag ``<ns>/v<version>`` (fetched from a git URL, whose cached clone holds only
    the default branch's tip). Otherwise, and for a release without its tag: the commit that first
    added the pin's manifest, i.e. the commit publish recorded those bytes in (a clone is deepened
    once to find it). The registry's tip is the last resort: its ``dvc.lock`` may name newer bytes,
    which the sha256 check after ``dvc import`` then refuses.
    """
    view = res.view
    assert view is not None
    if res.ref_kind == "release":
        version = res.uri.split(";", 1)[0].rsplit("@v", 1)[1]
        tag = tag_name(res.namespace, version)
        if _have_tag(view, tag):
            return tag
    found = introducing_commit(view, layout.manifest(res.namespace, res.name, res.directory_sha256 or res.sha256))
    if found is not None:
        return found
    commit = view.rev or gitio.head(view.root)
    if commit is None:
        raise PedataError(f"registry {view.location} has no commits: commit the published documents first")
    return commit


def _have_tag(view: RegistryView, tag: str) -> bool:
    """Whether ``refs/tags/<tag>`` is in the registry (fetched into a URL's cached clone first)."""
    if gitio.git(view.root, "rev-parse", "--verify", "-q", f"refs/tags/{tag}", check=False):
        return True
    if view.url is None:
        return False

    with _clone_lock(view.root):
        try:
            gitio.git(view.root, "fetch", "-q", "--depth", "1", "--no-tags", "origin", f"+refs/tags/{tag}:refs/tags/{tag}")
        except gitio.GitError:
            return False  # no such tag at the origin: fall back to the manifest's commit
    return True


def introducing_commit(view: RegistryView, rel: str) -> str | None:
    """The oldest commit (up to the view's state) that added ``rel``; None if it was never committed."""
    tip = view.rev or gitio.head(view.root)
    if tip is None:
        return None
    if view.url is not None and ensure_history(view) is not None:
        return None  # still shallow: its boundary commit would look like it added every file
    out = gitio.git(view.root, "log", "--diff-filter=A", "--format=%H", tip, "--", rel, check=False)
    commits = out.split()
    return commits[-1] if commits else None


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
    from dvc_pedata.dvcio.imports import (
        import_artifact,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )
    from dvc_pedata.dvcio.repo import (
        find_project,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
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
    record_pin(dvcfile, res.uri, res.sha256, channel_version(res))
    res.source = "dvc-import"
    log_access(view, res, offline=False)  # every resolution leaves its line, imports included
    return Imported(res, out_path, dvcfile, at)


def channel_version(res: Resolution) -> int | None:
    """The version of the channel document a channel ref was resolved from (None for other refs).

    ``pedata update`` keeps it so that a registry whose history was rewritten (a force-push back to
    an older, validly signed channel) cannot move an import back: channel versions only go forward.
    """
    if res.ref_kind != "channel" or res.view is None:
        return None
    ch = res.view.load_channel(res.namespace, res.uri.split(";", 1)[0].rsplit("@", 1)[1])
    return ch.version if ch is not None else None


def record_pin(dvcfile: Path, uri: str, sha256: str, version: int | None = None) -> None:
    """Note in the ``.dvc`` file which URI it follows and the sha256 checked (``pedata update``, ``status``).

    DVC keeps a ``.dvc`` file's ``meta`` as it is, also through ``dvc update``; the file is
    rewritten (round-trip YAML, DVC's own layout kept) through a temp file and rename, so a crash
    leaves the old file or the new one.
    """
    import io

    from ruamel.yaml import YAML


    yaml = YAML()
    data = yaml.load(dvcfile.read_text(encoding="utf-8"))
    meta = data.get("meta")
    if not isinstance(meta, dict):
        meta = data["meta"] = {}
    meta["pedata"] = {"uri": uri, "sha256": sha256, **({"channel_version": version} if version is not None else {})}
    buf = io.StringIO()
    yaml.dump(data, buf)
    write_bytes(dvcfile, buf.getvalue().encode("utf-8"))


def recorded_pin(dvcfile: Path) -> dict[str, Any] | None:
    """The ``meta.pedata`` record :func:`record_pin` wrote, or None (not a pedata import)."""
    from ruamel.yaml import YAML, YAMLError

    try:
        data = YAML(typ="safe").load(dvcfile.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    meta = data.get("meta") if isinstance(data, dict) else None
    rec = meta.get("pedata") if isinstance(meta, dict) else None
    if isinstance(rec, dict) and isinstance(rec.get("uri"), str) and isinstance(rec.get("sha256"), str):
        version = rec.get("channel_version")
        return {"uri": rec["uri"], "sha256": rec["sha256"],
                "channel_version": version if isinstance(version, int) and not isinstance(version, bool) else None}
    return None
