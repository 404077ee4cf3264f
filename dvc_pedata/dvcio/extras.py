"""One line instead of a traceback when a DVC remote's filesystem plugin is not installed.

DVC's filesystem registry (``dvc_objects.fs``) raises ``ImportError("s3 is supported, but
requires 'dvc-s3' to be installed")`` from deep inside a fetch or push; DVC sometimes wraps the
same text in its own exception. :func:`hint` turns either into the install line a user needs:
pedata's own extras (``[s3]``, ``[gs]``: the versions tested with pedata) where there is one,
else the DVC plugin package.
"""

from __future__ import annotations

import re

_MISSING_RE = re.compile(r"(?P<proto>[\w-]+) is supported, but requires '(?P<pkg>[\w.-]+)' to be installed")
EXTRAS = {"dvc-s3": "s3", "dvc-gs": "gs"}  # pyproject.toml [project.optional-dependencies]


def hint(text: str) -> str | None:
    """The one-line error for a missing remote plugin named in ``text``, or None."""
    m = _MISSING_RE.search(text)
    if m is None:
        return None
    proto, pkg = m.group("proto"), m.group("pkg")
    extra = EXTRAS.get(pkg)
    install = f"pip install 'dvc-pedata[{extra}]'" if extra else f"pip install {pkg}"
    return f"this registry's DVC remote is a {proto} remote, but {pkg} is not installed: {install}"
