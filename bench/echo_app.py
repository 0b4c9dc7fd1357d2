"""The bare-Flask baseline for bench.scan: the same request shape, no database, no auth.

    gunicorn "bench.echo_app:create_app()"

POST /api/v1/scans parses the JSON body and returns it as JSON; that is all a Flask app
served the same way can do per request, so bench.scan's ratio is "how much of the bare
framework + server throughput survives the real scan path".
"""

from __future__ import annotations

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/v1/scans")
    def echo():
        return jsonify(request.get_json())

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


def create_db_app() -> Flask:
    """A floor for the scan path, not the baseline: the echo plus one INSERT and COMMIT on PostgreSQL
    through plain psycopg (a connection per thread, no ORM).  bench.scan reports it as db_floor_per_s
    with BENCH_SCAN_FLOOR=1, to show how much of the bare rate any write-per-request design keeps here."""
    import os
    import threading

    import psycopg

    app = Flask(__name__)
    dsn = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    local = threading.local()

    def conn():
        if getattr(local, "conn", None) is None or local.conn.closed:
            local.conn = psycopg.connect(dsn, application_name="bench-floor")
        return local.conn

    @app.post("/api/v1/scans")
    def insert_one():
        body = request.get_json()
        c = conn()
        with c.cursor() as cur:
            cur.execute("INSERT INTO bench_floor_scans (code) VALUES (%s)", (body["code"],))
        c.commit()
        return jsonify(body)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


def create_batched_app() -> Flask:
    """A ceiling for the scan path's design, not the baseline: the echo, with each request's code
    written through the same group commit as the scans (groupcommit.py, same linger) as one INSERT
    per batch on an autocommit connection. No auth, verification, throttle or rewards: what is left
    of the echo rate when a request waits for a batch and its one round trip. Serve it as the app
    side of bench.scan: BENCH_SCAN_APP="bench.echo_app:create_batched_app()" (it writes to
    bench_floor_scans, which bench.scan creates unless BENCH_SCAN_FLOOR=0)."""
    import os
    import threading

    import psycopg

    from loyalty.scanning.batch import SCAN_LINGER_S
    from loyalty.scanning.groupcommit import for_this_process

    app = Flask(__name__)
    dsn = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    local = threading.local()

    def conn():
        if getattr(local, "conn", None) is None or local.conn.closed:
            local.conn = psycopg.connect(dsn, autocommit=True, application_name="bench-batched")
        return local.conn

    def flush(jobs):
        conn().execute(
            "INSERT INTO bench_floor_scans (code) SELECT unnest(%s::text[])", ([job.payload["code"] for job in jobs],)
        )
        for job in jobs:
            job.result = job.payload

    group = for_this_process(flush, SCAN_LINGER_S)

    @app.post("/api/v1/scans")
    def insert_batched():
        return jsonify(group.run(request.get_json()))

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app
