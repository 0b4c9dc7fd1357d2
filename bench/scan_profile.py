"""python -m bench.scan_profile: where one POST /api/v1/scans spends its time, on PostgreSQL.

Same data and configuration as bench.scan (scratch database, 30%/10% campaign, Redis throttles).
1. In-process, one thread: N sequential scans of distinct codes through app.test_client(), with
   SQLAlchemy cursor-execute listeners: statements per scan (by kind and by statement), wall and
   CPU ms per scan, ms per scan spent inside cursor.execute (round trips to PostgreSQL).
1b. scan_rewards._flush called directly on batches of 1, 4 and 16 scans: CPU per batch and per
   scan, i.e. what bigger batches save (BENCH_PROFILE_FLUSHES per size, default 150).
2. Sampled (needs py-spy in the venv: .venv/bin/pip install py-spy): py-spy record --gil on the
   in-process loop, then (BENCH_PROFILE_LOAD=1, default) on every gunicorn worker under bench.scan's
   wrk load.  --gil keeps only samples of the thread holding the GIL, so the split is the
   server's Python CPU time by stage of the scan path.

Knobs: BENCH_PROFILE_SCANS (1000), BENCH_PROFILE_LOAD (1), BENCH_PROFILE_SECONDS (15),
BENCH_PROFILE_TOP (20), plus bench.scan's BENCH_SCAN_* server/client knobs.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from bench import scan as bench

N = bench.env_int("BENCH_PROFILE_SCANS", 1000)
TOP = bench.env_int("BENCH_PROFILE_TOP", 20)
SPY = os.path.join(bench.VENV_BIN, "py-spy")


def _normalize(statement: str) -> str:
    s = " ".join(statement.split())
    s = re.sub(r"%\(\w+\)s", "?", s)
    return s[:150]


# --- stage attribution of sampled stacks ----------------------------------------------------
REPO_FILES = {
    "identity/auth.py": "auth: bearer token",
    "loyalty/throttle.py": "throttle: one Redis pipeline per batch",
    "codes/verify.py": "verify: parse, MAC, catalog lookups",
    "codes/catalog.py": "verify: parse, MAC, catalog lookups",
    "codes/tokens.py": "verify: parse, MAC, catalog lookups",
    "codes/scans.py": "claim + record: codes INSERT, scans INSERT",
    "loyalty/scan_statement.py": "batch: one statement (rows, bodies; PostgreSQL)",
    "loyalty/draw.py": "grant: draw, campaign UPDATE, coupons INSERT",
    "loyalty/coupons.py": "grant: draw, campaign UPDATE, coupons INSERT",
    "groupcommit.py": None,  # the batching itself: attribute to what it runs (waits are not sampled with --gil)
    "db.py": None,  # helpers: attribute to the caller
}
SCAN_REWARDS = {
    "_grant": "grant: draw, campaign UPDATE, coupons INSERT",
    "_take_limits": "grant: draw, campaign UPDATE, coupons INSERT",
    "_take_all": "grant: draw, campaign UPDATE, coupons INSERT",
    "_grant_all": "grant: draw, campaign UPDATE, coupons INSERT",
    "_coupon": "grant: draw, campaign UPDATE, coupons INSERT",
    "live_campaigns": "grant: draw, campaign UPDATE, coupons INSERT",
    "_bump": "grant: draw, campaign UPDATE, coupons INSERT",
    "_response": "response dict",
    "_warning": "response dict",
    "_after_bound_claim": "after-claim hooks (bound items)",
    "_draws": "grant: draw, campaign UPDATE, coupons INSERT",
    "_everyday": "batch: one statement (rows, bodies; PostgreSQL)",
    "_scan_all": "batch: session, COMMIT",
    "_general": "batch: session, COMMIT",
    "_region_near": "region lookup",
    "_earlier_rewards": "rescan: earlier rewards",
    "_flush": "batch: session, COMMIT",
    "_scan_batch": "batch: catalog refresh, blacklist, bound store",
}


def _frame(frame: str) -> tuple[str, str]:
    """'func (path:line)' -> (func, path)."""
    func, _, rest = frame.partition(" (")
    return func, rest.rsplit(":", 1)[0]


_repo_cache: dict[str, str | None] = {}


def _repo_path(path: str) -> str | None:
    """The repository-relative path of a frame's file, or None for libraries (py-spy shortens paths)."""
    if path not in _repo_cache:
        rel = os.path.relpath(path, bench.ROOT) if os.path.isabs(path) else path
        inside = not rel.startswith(("..", ".venv")) and os.path.isfile(os.path.join(bench.ROOT, rel))
        _repo_cache[path] = rel if inside else None
    return _repo_cache[path]


def bucket(frames: list[str]) -> str:
    """Stage of one sample; frames run root..leaf."""
    text = ";".join(frames)
    if "loyalty/views.py" not in text and "/scans" not in text:
        in_request = any(x in text for x in ("handle_request", "run_wsgi_app", "full_dispatch_request"))
        if not in_request:
            return "outside requests (gunicorn accept/poll, py-spy, ...)"
    for i in range(len(frames) - 1, -1, -1):
        func, path = _frame(frames[i])
        rel = _repo_path(path)
        if rel is None:
            continue
        if rel in REPO_FILES:
            if REPO_FILES[rel] is None:
                continue
            return REPO_FILES[rel]
        if rel == "loyalty/scan_rewards.py":
            if func in SCAN_REWARDS:
                return SCAN_REWARDS[func]
            return f"scan_rewards.{func}"
        if rel == "loyalty/views.py":
            return "view: other"
        if rel.startswith("bench/"):
            break
    if "webargs" in text or "flask_smorest/arguments.py" in text:
        return "request body parse + validate (webargs/marshmallow)"
    if "marshmallow" in text or "flask_smorest/response.py" in text:
        return "response serialize (marshmallow dump + JSON)"
    if "_close_request_session" in text or "do_teardown" in text:
        return "teardown (session close: ROLLBACK/return to pool)"
    return "framework: gunicorn/werkzeug/flask request + response"


def _package(frames: list[str]) -> str:
    if not frames:
        return "?"
    _, path = _frame(frames[-1])
    if _repo_path(path) is not None:
        return "our code (repository)"
    top = path.split("/", 1)[0]
    return {
        "sqlalchemy": "SQLAlchemy",
        "psycopg": "psycopg",
        "redis": "redis-py",
        "marshmallow": "marshmallow",
        "werkzeug": "werkzeug",
        "flask": "flask",
        "flask_smorest": "flask-smorest",
        "webargs": "webargs",
        "gunicorn": "gunicorn",
        "itsdangerous": "itsdangerous",
        "json": "json (stdlib)",
        "cryptography": "cryptography",
    }.get(top, f"other: {top}")


def spy(pid: int, seconds: int, out: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            SPY,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--gil",
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            out,
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def summarize(outs: list[str], title: str) -> None:
    stages: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    packages: collections.Counter = collections.Counter()
    for out in outs:
        if not os.path.exists(out):
            continue
        with open(out) as fh:
            for line in fh:
                stack_text, _, count = line.rstrip("\n").rpartition(" ")
                if not stack_text or not count.isdigit():
                    continue
                frames = [f for f in stack_text.split(";") if " (" in f]
                stage = bucket(frames)
                stages[stage] += int(count)
                if not stage.startswith("outside"):
                    packages[_package(frames)] += int(count)
                if frames:
                    func, path = _frame(frames[-1])
                    short = path.split("site-packages/")[-1].replace(bench.ROOT + "/", "")
                    leaves[f"{func} ({short})"] += int(count)
        keep = os.environ.get("BENCH_PROFILE_RAW_DIR")
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.move(out, os.path.join(keep, os.path.basename(out)))
        else:
            os.unlink(out)
    total = sum(stages.values())
    if not total:
        print(f"{title}: no samples (is ptrace allowed?)")
        return
    inside = sum(v for k, v in stages.items() if not k.startswith("outside"))
    print(f"\n{title}: {total} GIL-holding samples, {inside} inside requests; share of in-request Python CPU:")
    for stage, count in stages.most_common():
        share = f"{count / inside * 100:5.1f}%" if not stage.startswith("outside") else "   -  "
        print(f"  {share}  {count:6d}  {stage}")
    print("  by package of the leaf frame (in-request samples):")
    for package, count in packages.most_common(12):
        print(f"    {count / inside * 100:5.1f}%  {package}")
    print("  top leaf functions (own time, all samples):")
    for frame, count in leaves.most_common(TOP):
        print(f"    {count / total * 100:5.1f}%  {frame}")


def _xacts(url: str) -> tuple[int, int]:
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://").rpartition("/")[0] + "/postgres", autocommit=True
    ) as conn:
        return conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()


# --- 1. in-process --------------------------------------------------------------------------
def in_process(url: str, seeded: bench.Seed, settings: bench.Settings, codes: bench.Codes) -> None:
    from sqlalchemy import event

    import db
    from app import create_app

    app = create_app(bench.app_config(url, settings))
    client = app.test_client()
    engine = db.engine(app)
    counts: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()
    sql = {"time": 0.0, "commits": 0, "start": 0.0}

    # Counted on psycopg's cursors: the scan path runs its hottest statements on psycopg directly
    # (db.pg_connection), which SQLAlchemy's cursor events never see.
    import psycopg

    originals = {name: getattr(psycopg.Cursor, name) for name in ("execute", "executemany")}

    def counting(original):
        def run(self, query, *args, **kwargs):
            text = query if isinstance(query, str) else query.decode() if isinstance(query, bytes) else str(query)
            counts[_normalize(text)] += 1
            kinds[text.split(None, 1)[0].upper()] += 1
            start = time.perf_counter()
            try:
                return original(self, query, *args, **kwargs)
            finally:
                sql["time"] += time.perf_counter() - start

        return run

    for name, original in originals.items():
        setattr(psycopg.Cursor, name, counting(original))

    @event.listens_for(engine, "commit")
    def _commit(conn):
        sql["commits"] += 1

    def one(token, code):
        r = client.post("/api/v1/scans", json={"code": code}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        return r.json

    pings = [0]
    original_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection):  # pool_pre_ping: a hidden SELECT 1 per pool checkout
        pings[0] += 1
        return original_ping(dbapi_connection)

    engine.dialect.do_ping = counting_ping
    checkouts = [0]

    def _checkout(*_):
        checkouts[0] += 1

    for pool_owner in (engine, app.extensions["db"]["autocommit"]):  # the sessions' pool and pg_autocommit's
        if pool_owner is not None:
            event.listen(pool_owner, "checkout", _checkout)

    for token, code in codes.take(200):
        one(token, code)
    counts.clear(), kinds.clear()
    sql.update(time=0.0, commits=0)
    pings[0] = checkouts[0] = 0
    before = _xacts(url)
    measured = codes.take(N)
    won = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for token, code in measured:
        won += bool(one(token, code)["rewards"])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    n = len(measured)
    time.sleep(1.5)  # backends report their transaction counts to pg_stat_database within ~1 s
    after = _xacts(url)
    print(f"in-process, one thread, {n} scans ({won} won a reward):")
    print(
        f"  per scan, PostgreSQL side (pg_stat_database): {(after[0] - before[0]) / n:.2f} commits, "
        f"{(after[1] - before[1]) / n:.2f} rollbacks; pool checkouts {checkouts[0] / n:.2f}, "
        f"pre-ping SELECT 1 {pings[0] / n:.2f} (not in the statement counts below)"
    )
    print(
        f"  {wall / n * 1000:.2f} ms wall and {cpu / n * 1000:.2f} ms CPU per scan; "
        f"{sql['time'] / n * 1000:.2f} ms per scan inside cursor.execute; "
        f"{kinds.total() / n:.2f} statements + {sql['commits'] / n:.2f} COMMIT per scan "
        f"(+ BEGIN implicit, + ROLLBACK on session close)"
    )
    print("  by kind: " + ", ".join(f"{k} {v / n:.2f}" for k, v in kinds.most_common()))
    for statement, c in counts.most_common():
        print(f"  {c / n:5.2f}  {statement}")

    for name, original in originals.items():
        setattr(psycopg.Cursor, name, original)
    event.remove(engine, "commit", _commit)
    have_spy = shutil.which(SPY) or os.path.exists(SPY)
    if os.environ.get("BENCH_PROFILE_SPY", "1") == "1" and have_spy:
        fd, out = tempfile.mkstemp(prefix="bench-scan-spy-self-", suffix=".txt")
        os.close(fd)
        seconds = max(5, int(wall / n * N / 1000 * 1.0) + 5)
        proc = spy(os.getpid(), seconds, out)
        time.sleep(1.0)
        deadline = time.time() + seconds - 2
        scanned = 0
        for token, code in codes.take(20_000):
            one(token, code)
            scanned += 1
            if time.time() > deadline:
                break
        proc.wait(timeout=60)
        summarize([out], f"py-spy --gil, in-process loop ({scanned} scans)")
    elif not have_spy:
        print("py-spy not installed: .venv/bin/pip install py-spy for the sampled breakdown")
    db.dispose(app)


# --- 1b. one batch's cost by its size ---------------------------------------------------------
def by_batch_size(url: str, settings: bench.Settings, codes: bench.Codes) -> None:
    """CPU of scan_rewards._flush (throttle, transaction, statements, commit) for batches of fixed
    size, called directly in one thread: what a batch costs per scan as batches grow."""
    from app import create_app
    from identity.auth import _consumer_id
    from loyalty.scanning import batch as scan_rewards
    from loyalty.scanning.groupcommit import Job
    from loyalty.scanning.request import ScanSettings

    app = create_app(bench.app_config(url, settings))
    flushes = bench.env_int("BENCH_PROFILE_FLUSHES", 150)
    print("\nin-process, scan_rewards._flush called directly on batches of fixed size:")
    with app.test_request_context():

        def batch(size):
            return [
                Job(
                    scan_rewards.ScanRequest(
                        _consumer_id(token[3:]),
                        code,
                        None,
                        None,
                        "127.0.0.1",
                        scan_rewards.utcnow(),
                        ScanSettings.from_config(app.config),
                    ),
                    None,
                )
                for token, code in codes.take(size)
            ]

        for size in (1, 4, 16):
            for _ in range(20):
                scan_rewards._flush(batch(size))
            jobs = [batch(size) for _ in range(flushes)]
            start = time.thread_time()
            for one_batch in jobs:
                scan_rewards._flush(one_batch)
            cpu = (time.thread_time() - start) / flushes
            assert all(job.error is None for one_batch in jobs for job in one_batch)
            print(f"  batch of {size:2d}: {cpu * 1000:.2f} ms CPU per batch, {cpu / size * 1000:.3f} ms per scan")
    from db import dispose

    dispose(app)


# --- 2. under load --------------------------------------------------------------------------
def under_load(url: str, settings: bench.Settings, codes: bench.Codes) -> None:
    seconds = bench.env_int("BENCH_PROFILE_SECONDS", 15)
    env = {k: str(v) for k, v in bench.app_config(url, settings).items()}
    server = bench.Server(settings.app_spec, env, settings, "app")
    outs, procs = [], []
    try:
        bench.load(settings, server.port, codes.take(4000), 2, None)
        for pid in server.worker_pids():
            fd, out = tempfile.mkstemp(prefix=f"bench-scan-spy-{pid}-", suffix=".txt")
            os.close(fd)
            outs.append(out)
            procs.append(spy(pid, seconds, out))
        time.sleep(1)
        result = bench.load(
            settings,
            server.port,
            codes.take(),
            seconds - 3,
            bench.CpuMeter(server.worker_pids(), url.rpartition("/")[2]),
        )
        print("\n" + bench.describe(f"scans under py-spy ({settings.server()}, {settings.connections} conns)", result))
        print(bench.cpu_line("scan", result))
        for p in procs:
            p.wait(timeout=seconds + 60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        server.stop()
    summarize(outs, "py-spy --gil, gunicorn workers under load")


def main() -> int:
    settings = bench.Settings()
    if not os.environ.get("BENCH_SCAN_CODES"):
        settings.codes = 60_000
    url = bench.scratch_url()
    try:
        bench.create_database(url)
        from migrations import upgrade

        upgrade(url)
        seeded = bench.seed(url, settings)
        codes = bench.Codes(seeded.pairs)
        in_process(url, seeded, settings, codes)
        by_batch_size(url, settings, codes)
        if os.environ.get("BENCH_PROFILE_LOAD", "1") == "1" and settings.client == "wrk":
            under_load(url, settings, codes)
    finally:
        bench.drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
