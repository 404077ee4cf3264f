"""The feature checks ``pedata verify`` runs after its tree and history checks, in this order.

Each module listed defines ``run(ctx: Context) -> None`` and reports through
``ctx.violation(file, reason, commit=None)``. The table is explicit (no discovery): adding a
check is one import and one line here, and a typo fails at import time, not silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dvc_pedata.verify import baseline, directories, external, fields, releases, tombstones

CHECKS: tuple[tuple[str, Callable[[Any], None]], ...] = (
    ("baseline", baseline.run),
    ("directories", directories.run),
    ("external", external.run),
    ("fields", fields.run),
    ("releases", releases.run),
    ("tombstones", tombstones.run),
)
