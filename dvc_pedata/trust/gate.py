"""The resolver's use of the trust API: load the root chain, demand a role's threshold.

Kept in one small module so the resolver states *what* a ref demands (certifier for releases,
promoter for non-``latest`` channels) while :mod:`dvc_pedata.judge` (binding, room, expiry,
history), :mod:`dvc_pedata.trust` and :mod:`dvc_pedata.signing` own *how* it is judged --
the same rules ``pedata verify`` applies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dvc_pedata.errors import SignatureError
from dvc_pedata.model.documents import Document
from dvc_pedata.registry.source import RegistryView
from dvc_pedata.trust.judge import expiry_problem, judge_in_view


def _trust_api() -> tuple[Any, Any]:
    try:
        from dvc_pedata.trust.root import (  # lazy: cryptography; only signed refs and signing pay for it
            load_root_chain,
        )
    except ImportError:  # pragma: no cover - only before the trust module exists
        raise SignatureError("cannot verify signatures: this pedata installation has no trust module") from None
    try:
        from dvc_pedata.trust.root import (  # lazy: cryptography; only signed refs and signing pay for it
            check_threshold,
        )
    except ImportError:
        pass
    return load_root_chain, check_threshold


def load_root(view: RegistryView, trusted_root: str | None) -> Any:
    """The newest root reachable from root 1 (pinned to ``trusted_root`` if given)."""
    load_root_chain, _ = _trust_api()
    note = view.note if view.reads is not None else None
    return load_root_chain(view.registry, trusted_root=trusted_root, rev=view.rev, note=note)


def require(doc: Document, root: Any, role: str, namespace: str, what: str) -> None:
    """Raise a one-line :class:`SignatureError` unless ``doc`` meets ``role``'s threshold."""
    _, check_threshold = _trust_api()
    problems = check_threshold(doc, root, role, namespace)
    if problems:
        raise SignatureError(f"{what} is not trusted: {'; '.join(problems)}")


def require_committed(view: RegistryView, doc: Document, path: str, root: Any, role: str, namespace: str,
                      what: str, trusted_root: str | None, offline: bool = False) -> None:
    """Like :func:`require` for a release at ``path``: if the newest root refuses it, the root in force when it was committed decides.

    That judgment reads git history (:mod:`judge`, imported only then), which the warm-cache
    memo cannot re-check, so such a resolution is not memoised.
    """
    _, check_threshold = _trust_api()
    if not check_threshold(doc, root, role, namespace):
        return

    problem = judge_in_view(view, doc, path, trusted_root, offline)
    if problem:
        raise SignatureError(f"{what} is not trusted: {problem}")
    view.reads = None


def require_unexpired(expires: str | None, what: str, now: datetime | None = None) -> None:
    """Signed pointers carry an expiry so a frozen mirror cannot serve stale state forever (the judge's rule)."""
    problem = expiry_problem(expires, now)
    if problem:
        raise SignatureError(f"{what} {problem}")
