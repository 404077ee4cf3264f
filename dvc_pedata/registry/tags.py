"""A registry's git tags as pedata reads them: annotated or not, the commit, the release digest.

``certify`` writes annotated tags whose message carries a ``release-digest: sha256:<hex>`` line
(:func:`dvc_pedata.releases.catalog.tag_message`); whoever follows a tag (replay, verify, site,
citation) reads it here and checks that digest against the release file at the tag's commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.base.timeutil import format_time, from_epoch

DIGEST_LINE_RE = re.compile(r"^release-digest: sha256:([0-9a-f]{64})$", re.M)



@dataclass
class TagInfo:
    """An existing git tag: its object id (None for a lightweight tag), commit and message."""

    name: str
    object: str
    commit: str
    annotated: bool
    message: str = ""
    tagger_date: str | None = None

    @property
    def digest(self) -> str | None:
        """The release digest the tag message names, if any."""
        m = DIGEST_LINE_RE.search(self.message)
        return m.group(1) if m else None


def read_tag(root: Any, name: str) -> TagInfo | None:
    """The tag ``name`` in the repository at ``root``, or None if it does not exist."""
    obj = gitio.git(root, "rev-parse", "--verify", "-q", f"refs/tags/{name}", check=False)
    if not obj:
        return None
    otype = gitio.git(root, "cat-file", "-t", obj)
    commit = gitio.git(root, "rev-parse", f"{obj}^{{commit}}")
    if otype != "tag":
        return TagInfo(name, obj, commit, False)
    raw = gitio.git(root, "cat-file", "tag", obj)
    header, _, message = raw.partition("\n\n")
    date = None
    for line in header.splitlines():
        if line.startswith("tagger "):
            epoch = line.rsplit(" ", 2)[-2]

            date = format_time(from_epoch(int(epoch)))
    return TagInfo(name, obj, commit, True, message, date)
