"""Using pedata as a library must not disturb the host program."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_dvc_layer_leaves_stdout_and_stderr_alone():
    """`import dvc` runs colorama.init(), which swaps sys.stdout/sys.stderr for wrappers around the
    streams of that moment; a host program (or pytest's capture) would then write through stale
    wrappers. dvcio undoes it."""
    code = (
        "import sys\n"
        "out, err = sys.stdout, sys.stderr\n"
        "import dvc_pedata.dvcio\n"
        "assert sys.stdout is out and sys.stderr is err, (type(sys.stdout), type(sys.stderr))\n"
        "import logging\n"
        "assert logging.getLogger('dvc').getEffectiveLevel() == logging.WARNING\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
