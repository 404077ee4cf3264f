"""The shape of DVC output facts that pure modules depend on, without importing DVC."""

from __future__ import annotations

from typing import Any, Protocol


class OutLike(Protocol):
    path: str
    md5: str | None
    size: int | None
    is_dir: bool
    dvcfile: str
    stage: str | None
    cmd: str | None
    deps: list[dict[str, Any]]
    params: dict[str, dict[str, Any]]
