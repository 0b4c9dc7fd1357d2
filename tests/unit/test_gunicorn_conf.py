"""gunicorn.conf.py: what every worker does once it has loaded the app."""

import json
import os
import subprocess
import sys

from tests.conftest import MASTER_KEY

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = """
import gc, json, os, runpy
from app import create_app
secrets = dict.fromkeys(("ADMIN_API_KEY", "MINIAPP_SECRET", "PAYMENT_WEBHOOK_SECRET", "SECRET_KEY"), "test")
app = create_app({"TESTING": True, "DATABASE_URL": "sqlite://", "CODE_MASTER_KEY": os.environ["TEST_MASTER_KEY"],
                  **secrets})
before = gc.get_freeze_count()
runpy.run_path("gunicorn.conf.py")["post_worker_init"](None)
after = gc.get_freeze_count()
print(json.dumps({"before": before, "after": after, "app_frozen": not any(o is app for o in gc.get_objects())}))
"""


def test_a_worker_freezes_the_loaded_app_out_of_the_garbage_collectors_full_collections():
    """After post_worker_init the app and everything loaded with it sit in the permanent generation,
    where the collector no longer walks them (gc.get_objects lists only the generations it walks)."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": ROOT, "TEST_MASTER_KEY": MASTER_KEY},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0
    assert seen["after"] > 10_000  # the app, SQLAlchemy's models, marshmallow's schemas, the libraries
    assert seen["app_frozen"]
