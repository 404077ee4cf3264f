"""Short sha256s as input, and "did you mean" hints for near-miss refs and names.

pedata prints sha256s shortened to 12 hex digits; a user pastes them back. A prefix of at least
:data:`MIN_PREFIX` hex digits is accepted wherever a sha256 is (``@sha256:<prefix>`` in a URI, a
bare sha256 for ``revoke``). It is expanded to the full digest **once**, from the manifest names
the registry holds at the state being read (``manifests/<ns>/<name>/<sha256>.json``), and from
then on everything (the manifest's own ``sha256``, the pin, the bytes hashed while streaming) is
checked against the full digest, never the prefix. A prefix that matches no manifest or more than
one is an error that says so; it is never guessed.

The hints only add words to an error that is raised anyway; they never change what resolves.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import NotFoundError, UsageError
from dvc_pedata.model import layout
from dvc_pedata.model.semver import SEMVER_RE

MIN_PREFIX = 12
_NAME_RE = re.compile(r"^([0-9a-f]{64})\.json\Z")  # a manifest, not a companion (<sha>.files.json)


def is_prefix(hexd: str) -> bool:
    return MIN_PREFIX <= len(hexd) < 64 and re.fullmatch(r"[0-9a-f]+", hexd) is not None


def digests(names: Iterable[str]) -> list[str]:
    """The sha256s named by manifest file names (base names or paths)."""
    out = []
    for n in names:
        m = _NAME_RE.match(n.rsplit("/", 1)[-1])
        if m:
            out.append(m.group(1))
    return out


def pick(prefix: str, candidates: Iterable[str], what: str) -> str:
    """The one full sha256 starting with ``prefix`` among ``candidates``; an error otherwise."""
    matches = sorted({c for c in candidates if c.startswith(prefix)})
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(f"no manifest for {what} with a sha256 starting {prefix}")
    shown = ", ".join(m[: len(prefix) + 4] + "…" for m in matches[:5])
    raise UsageError(f"sha256 prefix {prefix} is ambiguous: {len(matches)} manifests of {what} start with it ({shown}); give more digits")


def expand_in_view(view: Any, uri: Any) -> Any:
    """``uri`` with a ``sha256:`` prefix replaced by the full digest, listed at ``view``'s state."""
    if uri.ref_kind != "sha256" or not is_prefix(uri.ref):
        return uri

    ns = view.namespace(uri.namespace)
    rel = layout.manifest_dir(ns, uri.name)
    if view.rev is None:
        folder = view.root / rel
        names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    else:
        names = gitio.ls_tree(view.root, view.rev, rel)
    return replace(uri, ref_kind="sha256", ref=pick(uri.ref, digests(names), f"{ns}/{uri.name}"))


def expand_in_registry(reg: Any, uri: Any) -> Any:
    """The same for a :class:`~dvc_pedata.registry.Registry` work tree (schema, diff, revoke)."""
    if uri.ref_kind != "sha256" or not is_prefix(uri.ref):
        return uri
    ns = reg.namespace(uri.namespace)
    folder = Path(reg.root) / layout.manifest_dir(ns, uri.name)
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return replace(uri, ref_kind="sha256", ref=pick(uri.ref, digests(names), f"{ns}/{uri.name}"))


def expand_bare(root: Path, hexd: str) -> str:
    """A bare sha256 or prefix (``revoke``) -> the full digest, from every manifest in the work tree."""
    if not is_prefix(hexd):
        return hexd
    names = [str(p) for p in (Path(root) / layout.MANIFESTS).glob("*/*/*.json")]
    return pick(hexd, digests(names), "any artifact")


# -- did you mean ------------------------------------------------------------------------------
def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close match among ``known``, else ``""``."""
    close = difflib.get_close_matches(word, sorted(set(known)), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def channel_hint(ns: str, ref: str, channels: Iterable[str], releases: Iterable[str]) -> str:
    """Why ``@<ref>`` named no channel: a version without its ``v``, or a near-miss channel name."""
    if SEMVER_RE.match(ref):
        have = " (that release exists)" if ref in set(releases) else ""
        return f"; releases are written with a v: did you mean @v{ref}?{have}"
    hint = did_you_mean(ref, channels)
    if hint:
        return hint
    known = sorted(set(channels))
    return f" (channels: {', '.join(known)})" if known else ""


def view_names(view: Any, folder: str) -> list[str]:
    """Stems of ``*.json`` files in ``folder`` at the view's state (for hints only)."""
    if view.rev is None:
        path = view.root / folder
        return [p.stem for p in path.glob("*.json")] if path.is_dir() else []
    return [Path(p).stem for p in gitio.ls_tree(view.root, view.rev, folder) if p.endswith(".json")]
