"""dvc-pedata: a git + DVC data registry for citable, signed, revocable scientific microdata.

The resolver functions are imported lazily so that ``import dvc_pedata`` stays cheap and never
imports DVC.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["get_path", "open", "schema", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("get_path", "open", "schema"):
        from . import resolve

        return getattr(resolve, name)
    raise AttributeError(f"module 'dvc_pedata' has no attribute {name!r}")
