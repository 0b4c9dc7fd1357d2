"""python -m bench.scan: concurrent POST /api/v1/scans on PostgreSQL, against a bare Flask echo.

Both sides are served by gunicorn with the same worker configuration on free local ports and
loaded by the same client with the same requests: POST /api/v1/scans {"code": <url>} with a
consumer's Bearer token, every code distinct, keep-alive connections, at each of several
concurrency levels (BENCH_SCAN_CONNECTIONS, default 16, 24 and 32 connections). Each round runs
echo then scans at every level (BENCH_SCAN_ROUNDS rounds), so that a noisy neighbour on the
machine weighs on both sides of the ratio. Each side is then reported at its capacity: the echo at
the level where it served the most requests per second, whatever its latency (the stricter
baseline); the scans at the level where they served the most within the p99 goal
(BENCH_SCAN_P99_GOAL_MS, 50), or at the level with the lowest p99 when none meets it. A fixed
concurrency compares a latency-bound scan server (each scan waits for its batch's commit, so 16
connections leave cores idle) with a CPU-bound echo; at capacity both are CPU-bound.
- scans_per_s: 200 responses per second from the real app (a scratch PostgreSQL database beside
  DATABASE_URL's, dropped at the end; REDIS_URL on the local Redis for the throttle counters), one
  active scan-reward campaign (30% brand coupon, 10% points, 60% no prize), 200 consumers,
  per-consumer/IP throttles set out of reach.
- bare_flask_per_s: the same from bench/echo_app.py (parse the JSON body, return it).
- ratio = scans_per_s / bare_flask_per_s.  p50_ms / p99_ms are the scan side's latencies, merged
  over the rounds; concurrency and bare_concurrency the levels each side is reported at, and
  levels every level's rates and p99s.
- double_rewards: after the run, from the database: (campaign, serial) pairs with more than one
  coupon + codes claimed by more than one scan + coupons held by someone other than the code's
  claimer.  Also checked: every scan was a first scan ("genuine", claimed) and the campaign's
  issued / committed_fen equal its coupon rows (counters_match).
- cpu_ms_per_scan: CPU time per request by process group (gunicorn workers, PostgreSQL, Redis,
  the load generator, other = kernel and every other process) from /proc; other_cpu_cores shows
  how busy the machine was with someone else's work during the load.
- cpu_ratio: (CPU per echo request) / (CPU per scan), counting the server, PostgreSQL, Redis and
  the client: what the ratio would be on an idle machine when both sides are CPU-bound; steadier
  than ratio when other work shares the cores.
- pg_backends: pg_stat_activity sampled every 100 ms during the scans: average backends by state
  ("idle in transaction" = waiting for the app; Lock:* = row locks such as the campaign row).
- db_floor_per_s / db_floor_ratio: a third server in the same rounds, the echo plus one INSERT +
  COMMIT through plain psycopg: about the most a design that commits once per request can keep of
  the bare rate on this machine (the scan path commits once per batch of scans instead) (BENCH_SCAN_FLOOR=0 skips it).

The client is wrk with bench/scan_wrk.lua when installed (apt-get install wrk), otherwise a
Python thread pool (http.client keep-alive); BENCH_SCAN_CLIENT=wrk|python chooses.  On two cores
the client shares the CPU with the server; wrk costs far less of it than Python.

Knobs (environment): BENCH_SCAN_SECONDS (20, scan load over all rounds), BENCH_SCAN_ECHO_SECONDS
(10), both per level, BENCH_SCAN_ROUNDS (2), BENCH_SCAN_WARMUP (3), BENCH_SCAN_CONNECTIONS ("16,24,32"; one
number measures at that concurrency only; bench.scan_profile and bench.scan_probe load with the first),
BENCH_SCAN_P99_GOAL_MS (50),
BENCH_SCAN_WORKER_CLASS (gevent, as the README serves it; gthread for threads), BENCH_SCAN_WORKERS (2),
BENCH_SCAN_THREADS (8, gthread only),
BENCH_SCAN_CONSUMERS (200), BENCH_SCAN_CODES (250000), BENCH_SCAN_REDIS_DB (14),
BENCH_SCAN_FLOOR (1), BENCH_SCAN_APP (gunicorn app spec, default "app:create_app()", for measuring a
proposed variant of the app), BENCH_SCAN_KEEP_DB=1 (leave the scratch database for inspection).
Prints progress lines, then one JSON object on the last line.  bench.scan_profile breaks the
scan path down (statements per scan, py-spy by stage); bench.scan_probe times the batches inside the
workers under this load.
"""

from __future__ import annotations

from bench.scan.config import LIMITS, SECRETS, TIERS, Settings, app_config, env_int, scratch_url
from bench.scan.load import LUA, LoadResult, at_capacity, load, merge, run_python, run_wrk, write_pairs
from bench.scan.meters import CpuMeter, PgMonitor
from bench.scan.report import check, cpu_line, describe
from bench.scan.run import main
from bench.scan.seed import Codes, Seed, seed
from bench.scan.server import VENV_BIN, Server
from bench.support import ROOT, create_database, drop_database, free_port, log

# what bench.scan_profile and bench.scan_probe use, from where it lives now
__all__ = [
    "LIMITS",
    "LUA",
    "ROOT",
    "SECRETS",
    "TIERS",
    "VENV_BIN",
    "Codes",
    "CpuMeter",
    "LoadResult",
    "PgMonitor",
    "Seed",
    "Server",
    "Settings",
    "app_config",
    "at_capacity",
    "check",
    "cpu_line",
    "create_database",
    "describe",
    "drop_database",
    "env_int",
    "free_port",
    "load",
    "log",
    "main",
    "merge",
    "run_python",
    "run_wrk",
    "scratch_url",
    "seed",
    "write_pairs",
]
