"""The app served the way production serves it: gunicorn's gevent workers on PostgreSQL + Redis.

Under gevent every request is a greenlet, psycopg and redis-py wait cooperatively, and the scans'
group commit keeps two batches in the database at once (loyalty.scanning.groupcommit.for_this_process). Forty
phones race over real HTTP through two such workers; the outcome must be as exact as with threads,
and the scans must really have been batched (several rows written by one transaction). A large
CSV export, which runs in a process pool, must come out as it does in-process.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

import db
import settings
from bench.support import all_at_once, free_port
from tests.api.test_scan_batches_race import (
    assert_exact_outcome,
    mixed_race,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 60


@pytest.fixture
def gevent_server(app, app_settings, postgres_only, tmp_path):
    """gunicorn -k gevent -w 2 serving the test database; yields its port."""
    port = free_port()
    # the test app's settings that an environment carries (not TESTING or RQ_IS_ASYNC)
    passed_on = {k: str(v) for k, v in app_settings.items() if k in settings.BY_NAME and v is not None}
    env = {
        **os.environ,
        **passed_on,
        "EXPORT_PROCESSES": "2",
    }  # large exports through the process pool, whatever the machine's cores
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            "gevent",
            "-w",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.time() + TIMEOUT
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.time() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield port
    finally:
        proc.send_signal(signal.SIGQUIT)  # quick shutdown: nothing is in flight any more
        proc.wait(TIMEOUT)
        log.seek(0)
        logged = log.read()
        log.close()
    assert "Traceback" not in logged, logged[-3000:]


def race_over_http(port, plan, consumers):
    """Each phone opens its connection first, then all send their scan at once."""

    def connect(_i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.connect()
        return conn

    def send(i, conn):
        try:
            conn.request(
                "POST",
                "/api/v1/scans",
                body=json.dumps({"code": plan[i]}),
                headers={**consumers[i].headers, "Content-Type": "application/json"},
            )
            r = conn.getresponse()
            raw = r.read()
            return r.status, json.loads(raw) if r.status == 200 else raw
        finally:
            conn.close()

    return all_at_once(len(plan), connect, send)


def test_gevent_workers_racing_scans_over_http_claim_once_reward_once_and_batch_their_writes(api, app, gevent_server):
    campaign, codes, plan, consumers = mixed_race(api)

    results = race_over_http(gevent_server, plan, consumers)

    assert_exact_outcome(app, campaign, codes, plan, consumers, results)
    with db.engine(app).connect() as conn:  # rows one transaction wrote share its xmin
        transactions = conn.execute(text("SELECT count(DISTINCT xmin::text) FROM scans")).scalar()
    assert transactions < len(plan), "the workers wrote every scan in a transaction of its own: no batching"


def test_a_gevent_worker_exports_a_large_batch_through_its_process_pool_as_the_in_process_export_does(
    api, app, gevent_server
):
    from codes import export

    brand = api.brand()
    batch = api.batch(brand, quantity=export.PARALLEL_MIN)  # the server has 2 export processes, the test app 1
    path = f"/api/v1/brand/batches/{batch['id']}/codes.csv"
    expected = api.get(path, who=brand, expect=200).data

    conn = http.client.HTTPConnection("127.0.0.1", gevent_server, timeout=TIMEOUT)
    conn.request("GET", path, headers=brand.headers)
    r = conn.getresponse()
    served = r.read()
    conn.close()

    assert r.status == 200 and served.count(b"\n") == export.PARALLEL_MIN + 1
    assert hashlib.sha256(served).hexdigest() == hashlib.sha256(expected).hexdigest()
