"""Run mypy over dvc_pedata and compare with tools/mypy-baseline.txt: no new error may appear.

The baseline lists known errors as ``path: message`` (no line numbers, so unrelated edits do not
churn it). It may only shrink: an error fixed must leave the file (``--update`` rewrites it),
and any error not in it fails ``make lint``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

BASELINE = Path(__file__).with_name("mypy-baseline.txt")


def current() -> Counter[str]:
    proc = subprocess.run([sys.executable, "-m", "mypy", "dvc_pedata"], capture_output=True, text=True)
    found: Counter[str] = Counter()
    for line in proc.stdout.splitlines():
        m = re.match(r"^(\S+?):\d+: error: (.*)$", line)
        if m:
            found[f"{m.group(1)}: {m.group(2)}"] += 1
    return found


def main() -> int:
    now = current()
    if "--update" in sys.argv:
        BASELINE.write_text("".join(f"{k}\n" * n for k, n in sorted(now.items())))
        print(f"mypy baseline: {sum(now.values())} known errors written to {BASELINE.name}")
        return 0
    known: Counter[str] = Counter(BASELINE.read_text().splitlines()) if BASELINE.exists() else Counter()
    new = now - known
    fixed = known - now
    for k in sorted(new):
        print(f"new mypy error: {k}")
    if fixed:
        print(f"{sum(fixed.values())} baseline errors are fixed: run 'python tools/mypy_baseline.py --update'")
    print(f"mypy: {sum(now.values())} errors, {sum(known.values())} in the baseline, {sum(new.values())} new")
    return 1 if new or fixed else 0


if __name__ == "__main__":
    sys.exit(main())
