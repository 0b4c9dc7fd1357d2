"""Run a script in a fresh gevent-patched Python (how a gunicorn gevent worker runs the app), so the
test process itself is never monkey-patched."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.support import ROOT

PATCH = "from gevent import monkey\nmonkey.patch_all()\n"


def run_under_gevent(script: str, timeout: float = 120):
    """The JSON the script prints last. The script should not patch gevent itself: PATCH goes first."""
    out = subprocess.run(
        [sys.executable, "-c", PATCH + script], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
