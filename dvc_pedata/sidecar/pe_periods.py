"""PolicyEngine period strings, as policyengine-core's ``periods.period()`` accepts them.

A PolicyEngine HDF5 dataset stores one dataset per variable and period: ``<variable>/<period>``.
The period strings its loader accepts (policyengine-core ``periods/helpers.py``):

* ``eternity`` (or ``ETERNITY``): values that never change — entity ids and links;
* ISO forms: ``YYYY`` (a year), ``YYYY-MM`` (a month), ``YYYY-MM-DD`` (a day); month and day
  may have one digit (``2014-2``);
* ``<unit>:<ISO form>[:<size>]`` with unit ``year``, ``month`` or ``day`` and a whole size
  (``year:2014``, ``month:2014-02:3``), where the unit is not shorter than the ISO form's own
  (``month:2014`` is ambiguous and refused).

Anything else under a variable's group is not a period: the dataset is then a variable of its
own path (the generic reading), so a malformed name never silently becomes a period.
"""

from __future__ import annotations

import datetime as _dt
import re

ETERNITY = "eternity"
_ISO = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_WEIGHT = {"day": 100, "month": 200, "year": 300}


def _iso(text: str) -> tuple[str, tuple[int, int, int]] | None:
    """(unit, start) of an ISO period string, or None when it is not a real date."""
    m = _ISO.match(text)
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    try:
        _dt.date(year, month, day)
    except ValueError:
        return None
    unit = "day" if m.group(3) else "month" if m.group(2) else "year"
    return unit, (year, month, day)


def parse(text: str) -> tuple[str, tuple[int, int, int]] | None:
    """(unit, start) of a PolicyEngine period string (``eternity`` starts at year 0); None if it is not one."""
    if text in (ETERNITY, "ETERNITY"):
        return ETERNITY, (0, 1, 1)
    simple = _iso(text)
    if simple is not None:
        return simple
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in _WEIGHT:
        return None
    base = _iso(parts[1])
    if base is None or _WEIGHT[base[0]] > _WEIGHT[parts[0]]:
        return None
    if len(parts) == 3 and not parts[2].isdigit():
        return None
    return parts[0], base[1]


def is_period(text: str) -> bool:
    return parse(text) is not None


def latest_key(text: str) -> tuple[int, tuple[int, int, int], str]:
    """Sort key for "the latest period": eternity first, then by start, then by the string itself."""
    parsed = parse(text)
    if parsed is None or parsed[0] == ETERNITY:
        return (0, (0, 1, 1), text)
    return (1, parsed[1], text)
