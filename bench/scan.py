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

import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
LUA = os.path.join(ROOT, "bench", "scan_wrk.lua")

SECRETS = {
    "ADMIN_API_KEY": "bench-admin-key",
    "MINIAPP_SECRET": "bench-miniapp-secret",
    "PAYMENT_WEBHOOK_SECRET": "bench-webhook-secret",
    "SECRET_KEY": "bench-secret-key",
    "CODE_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "PUBLIC_BASE_URL": "https://qr.example.com",
}
LIMITS = {"SCAN_LIMIT_PER_CONSUMER": 1_000_000_000, "SCAN_LIMIT_PER_IP": 1_000_000_000}
TIERS = [
    {"probability": 0.3, "reward": {"kind": "brand_coupon", "value_fen": 500, "valid_days": 30}},
    {"probability": 0.1, "reward": {"kind": "points", "value_fen": 100, "valid_days": 30}},
]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass
class Settings:
    seconds: int = env_int("BENCH_SCAN_SECONDS", 20)
    echo_seconds: int = env_int("BENCH_SCAN_ECHO_SECONDS", 10)
    rounds: int = env_int("BENCH_SCAN_ROUNDS", 2)
    warmup: int = env_int("BENCH_SCAN_WARMUP", 3)
    # The load's concurrency levels: every level runs in every round, and each side is reported at its
    # capacity (see main); one level measures at that concurrency only.
    levels: tuple[int, ...] = tuple(int(c) for c in os.environ.get("BENCH_SCAN_CONNECTIONS", "16,24,32").split(",")
                                    if c.strip())
    p99_goal_ms: float = float(os.environ.get("BENCH_SCAN_P99_GOAL_MS") or 50)
    workers: int = env_int("BENCH_SCAN_WORKERS", 2)
    threads: int = env_int("BENCH_SCAN_THREADS", 8)
    worker_class: str = os.environ.get("BENCH_SCAN_WORKER_CLASS", "gevent")
    consumers: int = env_int("BENCH_SCAN_CONSUMERS", 200)
    codes: int = env_int("BENCH_SCAN_CODES", 250_000)
    redis_db: int = env_int("BENCH_SCAN_REDIS_DB", 14)
    client: str = os.environ.get("BENCH_SCAN_CLIENT") or ("wrk" if shutil.which("wrk") else "python")
    keep_db: bool = os.environ.get("BENCH_SCAN_KEEP_DB") == "1"
    floor: bool = os.environ.get("BENCH_SCAN_FLOOR", "1") == "1"
    app_spec: str = os.environ.get("BENCH_SCAN_APP", "app:create_app()")

    @property
    def connections(self) -> int:
        """The first level: what bench.scan_profile and bench.scan_probe load with."""
        return self.levels[0]

    def server(self) -> dict:
        return {"server": "gunicorn", "worker_class": self.worker_class, "workers": self.workers,
                "threads": self.threads if self.worker_class == "gthread" else 1}


def log(message: str) -> None:
    print(message, flush=True)


# --- scratch database ------------------------------------------------------------------------
def scratch_url() -> str:
    url = os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1/test"
    if not url.startswith("postgresql"):
        raise SystemExit(f"bench.scan needs PostgreSQL; DATABASE_URL is {url!r}")
    base, _, name = url.rpartition("/")
    return f"{base}/{name.split('?')[0]}_bench_scan_{os.getpid()}"


def _admin_engine(url: str):
    from sqlalchemy import create_engine

    base, _, _ = url.rpartition("/")
    return create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")


def create_database(url: str) -> None:
    from sqlalchemy import text

    name = url.rpartition("/")[2]
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    from sqlalchemy import text

    name = url.rpartition("/")[2]
    admin = _admin_engine(url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# --- data through the HTTP API -----------------------------------------------------------------
@dataclass
class Seed:
    brand_id: str
    campaign_id: str
    batch_id: str
    pairs: list[tuple[str, str]]          # (consumer token, code url), every code distinct
    consumers: int


def app_config(url: str, settings: Settings) -> dict:
    return {"DATABASE_URL": url, "REDIS_URL": f"redis://127.0.0.1:6379/{settings.redis_db}", **SECRETS, **LIMITS}


def seed(url: str, settings: Settings) -> Seed:
    from app import create_app
    from tests.factories import Api, deposit, scan_campaign

    app = create_app({"TESTING": True, **app_config(url, settings)})
    api = Api(app, app.test_client())
    brand = api.brand("Bench dairy")
    budget = settings.codes * 500   # enough for every code to win the 500-fen coupon
    deposit(api, brand, budget)
    batch = api.batch(brand, quantity=settings.codes)
    codes = api.codes(brand, batch)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=TIERS, budget_fen=budget)
    tokens = [api.consumer(f"bench-openid-{i}").key for i in range(settings.consumers)]
    pairs = [(tokens[i % len(tokens)], row["url"]) for i, row in enumerate(codes)]
    from db import dispose

    dispose(app)
    return Seed(brand.id, campaign["id"], batch["id"], pairs, len(tokens))


# --- servers -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, app_spec: str, env: dict, settings: Settings, name: str):
        self.port = free_port()
        self.name = name
        cmd = [os.path.join(VENV_BIN, "gunicorn"), "--config", os.path.join(ROOT, "gunicorn.conf.py"),
               "--bind", f"127.0.0.1:{self.port}",
               "--workers", str(settings.workers), "--worker-class", settings.worker_class,
               "--keep-alive", "30", "--backlog", "2048", "--log-level", "warning", "--timeout", "60"]
        if settings.worker_class == "gthread":
            cmd += ["--threads", str(settings.threads)]
        cmd.append(app_spec)
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix=f"bench-scan-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready(settings.workers)
        except BaseException:
            self.stop(keep_log=True)
            raise

    def _wait_ready(self, workers: int) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited with {self.proc.returncode}: {self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                ok = conn.getresponse().status == 200
                conn.close()
                if ok and len(self.worker_pids()) >= workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} server not ready after 60 s: {self.tail()}")

    def worker_pids(self) -> list[int]:
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as fh:
                return [int(p) for p in fh.read().split()]
        except OSError:
            return []

    def tail(self) -> str:
        try:
            with open(self.log.name, errors="replace") as fh:
                return fh.read()[-3000:]
        except OSError:
            return ""

    def errors(self) -> int:
        """Tracebacks the server logged so far (unhandled exceptions -> 500s)."""
        try:
            with open(self.log.name, errors="replace") as fh:
                return fh.read().count("Traceback (most recent call last)")
        except OSError:
            return 0

    def stop(self, keep_log: bool = False) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.log.close()
        if keep_log:
            log(f"{self.name} server log kept: {self.log.name}")
        else:
            try:
                os.unlink(self.log.name)
            except OSError:
                pass


# --- CPU accounting from /proc -----------------------------------------------------------------
CLK = os.sysconf("SC_CLK_TCK")


def _proc_cpu() -> dict[int, tuple[str, float]]:
    """pid -> (name, CPU seconds); PostgreSQL processes are named by their title (database, role)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            if comm.startswith("postgres"):
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    comm = fh.read().replace(b"\0", b" ").decode(errors="replace").strip() or comm
        except (OSError, ValueError):
            continue
        rest = raw[raw.rindex(")") + 2:].split()
        out[int(entry)] = (comm, (int(rest[11]) + int(rest[12])) / CLK)   # utime + stime
    return out


def _children_cpu(before) -> float:
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _total_cpu() -> tuple[float, float]:
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLK, idle / CLK


class CpuMeter:
    """CPU seconds used between start() and stop(), grouped: server (gunicorn workers), postgres,
    redis, client (the load generator), other (kernel threads and every other process on the machine,
    e.g. someone else's test run: a noisy neighbour shows up here), idle."""

    def __init__(self, server_pids: list[int], database: str | None = None):
        self.server_pids, self.database = set(server_pids), database

    def _is_ours(self, title: str) -> bool:
        """A PostgreSQL process that works for this run: our database's backends and the shared
        background processes (WAL writer, checkpointer, ...), not other databases' backends."""
        if self.database and f" {self.database} " in f"{title} ":
            return True
        words = title.split(": ", 1)[-1].split()   # "postgres: [15/main: ]user database host(port) state"
        if words and words[0].endswith(":"):
            words = words[1:]
        backend = len(words) >= 3 and ("(" in words[2] or words[2] == "[local]")
        return not backend and "autovacuum worker" not in title

    def start(self):
        self.before, self.total_before = _proc_cpu(), _total_cpu()

    def stop(self, client_seconds: float = 0.0) -> dict:
        """client_seconds: CPU of a load generator that has exited by now (wrk, from RUSAGE_CHILDREN)."""
        after, total_after = _proc_cpu(), _total_cpu()
        groups = {"server": 0.0, "postgres": 0.0, "redis": 0.0, "client": client_seconds}
        for pid, (comm, cpu) in after.items():
            used = cpu - self.before.get(pid, (comm, 0.0))[1]
            if used <= 0:
                continue
            if pid in self.server_pids:
                groups["server"] += used
            elif comm.startswith("postgres"):
                if self._is_ours(comm):
                    groups["postgres"] += used
            elif comm.startswith("redis"):
                groups["redis"] += used
            elif pid == os.getpid():     # the Python client's threads
                groups["client"] += used
        busy = total_after[0] - self.total_before[0]
        idle = total_after[1] - self.total_before[1]
        groups["other"] = max(0.0, busy - sum(groups.values()))
        groups["idle"] = idle
        return groups


# --- what PostgreSQL backends are doing during the run ----------------------------------------
class PgMonitor:
    """Samples pg_stat_activity for the scratch database every 100 ms: active backends and what they
    wait on (Lock = row/transaction locks, e.g. the campaign row; IO/WAL = commit flushes; Client =
    waiting for the app to send the next statement)."""

    def __init__(self, url: str):
        self.url, self.samples, self.waits, self.active = url, 0, {}, False
        self._stop = threading.Event()

    def __enter__(self):
        import psycopg

        self.conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        name = self.url.rpartition("/")[2]
        while not self._stop.wait(0.1):
            if not self.active:
                continue
            rows = self.conn.execute(
                "SELECT state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
                "AND application_name <> 'bench-floor'", (name,)).fetchall()
            self.samples += 1
            for state, kind, event in rows:
                if state == "idle":
                    key = "idle"
                elif state == "idle in transaction":
                    key = "idle in transaction (app working)"
                elif kind is None:
                    key = "active on CPU"
                else:
                    key = f"{kind}:{event}"
                self.waits[key] = self.waits.get(key, 0) + 1

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        self.conn.close()

    def summary(self) -> dict:
        """Average number of backends in each state."""
        n = max(1, self.samples)
        return {k: round(v / n, 2) for k, v in sorted(self.waits.items(), key=lambda kv: -kv[1])}


# --- load generators -----------------------------------------------------------------------------
@dataclass
class LoadResult:
    requests: int
    ok: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict
    errors: dict = field(default_factory=dict)
    wrapped: int = 0
    cpu: dict = field(default_factory=dict)
    points: list[tuple[float, float]] = field(default_factory=list)   # (latency ms, weight in requests)
    verdicts: dict = field(default_factory=dict)    # scan responses: verdict -> count
    rewards: int = 0                                # coupons listed in scan responses

    @property
    def ok_per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _quantile(points: list[tuple[float, float]], q: float) -> float:
    points = sorted(points)
    total = sum(w for _, w in points)
    seen = 0.0
    for value, weight in points:
        seen += weight
        if seen >= q * total:
            return value
    return points[-1][0] if points else 0.0


def merge(results: list[LoadResult]) -> LoadResult:
    """Several load segments as one: counts and CPU summed, latency distributions mixed by weight."""
    points = [p for r in results for p in r.points]
    statuses, errors, cpu, verdicts = {}, {}, {}, {}
    for r in results:
        for target, source in ((statuses, r.statuses), (errors, r.errors), (cpu, r.cpu), (verdicts, r.verdicts)):
            for k, v in source.items():
                target[k] = target.get(k, 0) + v
    return LoadResult(requests=sum(r.requests for r in results), ok=sum(r.ok for r in results),
                      seconds=sum(r.seconds for r in results), p50_ms=_quantile(points, 0.50),
                      p90_ms=_quantile(points, 0.90), p99_ms=_quantile(points, 0.99),
                      max_ms=max(r.max_ms for r in results), statuses=statuses, errors=errors,
                      wrapped=sum(r.wrapped for r in results), cpu=cpu, points=points, verdicts=verdicts,
                      rewards=sum(r.rewards for r in results))


def write_pairs(pairs: list[tuple[str, str]]) -> str:
    fd, path = tempfile.mkstemp(prefix="bench-scan-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        for token, code in pairs:
            fh.write(f"{token} {code}\n")
    return path


def run_wrk(port: int, pairs: list[tuple[str, str]], connections: int, seconds: int, meter: CpuMeter | None,
            wrk_threads: int = 2) -> LoadResult:
    path = write_pairs(pairs)
    try:
        cmd = ["wrk", "-t", str(wrk_threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", LUA, f"http://127.0.0.1:{port}", "--", path, str(wrk_threads)]
        if meter:
            meter.start()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=seconds + 120)
        cpu = meter.stop(client_seconds=_children_cpu(children)) if meter else {}
    finally:
        os.unlink(path)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
    data = json.loads(line[len("WRKJSON "):])
    ok = data["statuses"].get("200", 0)
    return LoadResult(requests=data["requests"], ok=ok, seconds=data["duration_us"] / 1e6,
                      p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000, p99_ms=data["p99_us"] / 1000,
                      max_ms=data["max_us"] / 1000, statuses=data["statuses"], errors=data["errors"],
                      wrapped=data["wrapped"], cpu=cpu,
                      points=[(v / 1000, data["requests"] / 1000) for v in data["quantiles_us"]],
                      verdicts=data["verdicts"], rewards=data["rewards"])


def run_python(port: int, pairs: list[tuple[str, str]], connections: int, seconds: int,
               meter: CpuMeter | None) -> LoadResult:
    """Fallback client: one thread per connection, http.client keep-alive, fixed duration."""
    source = iter(pairs)          # list iterators are safe to share under the GIL
    stop_at = [0.0]
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    verdicts: dict[str, int] = {}      # updated from several threads: dict item updates are atomic enough
    won = [0]
    wrapped = [0]

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, codes = [], {}
        while time.perf_counter() < stop_at[0]:
            pair = next(source, None)
            if pair is None:
                wrapped[0] += 1
                break
            token, code = pair
            body = json.dumps({"code": code})
            start = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/scans", body, {"Authorization": f"Bearer {token}",
                                                              "Content-Type": "application/json"})
                resp = conn.getresponse()
                payload = resp.read()
                status = str(resp.status)
                if status == "200" and b'"verdict"' in payload:
                    reply = json.loads(payload)
                    verdicts[reply["verdict"]] = verdicts.get(reply["verdict"], 0) + 1
                    won[0] += len(reply.get("rewards") or [])
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                status = "error"
            mine.append(time.perf_counter() - start)
            codes[status] = codes.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for k, v in codes.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    if meter:
        meter.start()
    begin = time.perf_counter()
    stop_at[0] = begin + seconds
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - begin
    cpu = meter.stop() if meter else {}
    latencies.sort()

    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    return LoadResult(requests=len(latencies), ok=statuses.get("200", 0), seconds=elapsed, p50_ms=pct(0.5),
                      p90_ms=pct(0.9), p99_ms=pct(0.99), max_ms=(latencies[-1] * 1000 if latencies else 0.0),
                      statuses=statuses, wrapped=wrapped[0], cpu=cpu,
                      points=[(v * 1000, 1.0) for v in latencies], verdicts=verdicts, rewards=won[0])


class Codes:
    """Hands out disjoint slices of the seeded (token, code) pairs to successive load phases."""

    def __init__(self, pairs):
        self.pairs, self.at = pairs, 0

    def take(self, n: int | None = None):
        n = len(self.pairs) - self.at if n is None else n
        chunk = self.pairs[self.at:self.at + n]
        self.at += len(chunk)
        return chunk


def load(settings: Settings, port: int, pairs, seconds: int, meter: CpuMeter | None,
         connections: int | None = None) -> LoadResult:
    connections = connections or settings.connections
    if settings.client == "wrk":
        return run_wrk(port, pairs, connections, seconds, meter)
    return run_python(port, pairs, connections, seconds, meter)


def at_capacity(levels: dict[int, LoadResult], p99_goal_ms: float | None = None) -> int:
    """The concurrency level with the most 200s per second, among those whose p99 meets the goal
    when one is given; when none does, the level with the lowest p99."""
    meeting = [c for c, r in levels.items() if p99_goal_ms is None or r.p99_ms <= p99_goal_ms]
    if not meeting:
        return min(levels, key=lambda c: levels[c].p99_ms)
    return max(meeting, key=lambda c: levels[c].ok_per_s)


def describe(name: str, r: LoadResult) -> str:
    return (f"{name}: {r.ok:,} x 200 of {r.requests:,} in {r.seconds:.1f} s = {r.ok_per_s:,.0f}/s, "
            f"p50 {r.p50_ms:.1f} ms, p90 {r.p90_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms, "
            f"statuses {r.statuses}" + (f", errors {r.errors}" if any(r.errors.values()) else ""))


def cpu_line(name: str, r: LoadResult) -> str:
    c = r.cpu
    if not c or not r.requests:
        return ""
    per = {k: round(v * 1000 / r.requests, 3) for k, v in c.items()}
    return f"{name} CPU ms per request: {per} (run {r.seconds:.1f} s, {os.cpu_count()} cores)"


# --- checks --------------------------------------------------------------------------------------
def check(url: str, seed_: Seed) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        q = lambda sql, **kw: conn.execute(text(sql), kw).scalar()
        dup_coupons = q("SELECT count(*) FROM (SELECT campaign_id, serial FROM coupons WHERE serial IS NOT NULL "
                        "GROUP BY campaign_id, serial HAVING count(*) > 1) d")
        dup_claims = q("SELECT count(*) FROM (SELECT serial FROM scans WHERE claimed GROUP BY serial "
                       "HAVING count(*) > 1) d")
        coupon_other_consumer = q("SELECT count(*) FROM coupons c JOIN codes k ON k.serial = c.serial "
                                  "WHERE c.consumer_id <> k.claimed_by")
        scans = q("SELECT count(*) FROM scans")
        not_first = q("SELECT count(*) FROM scans WHERE verdict <> 'genuine' OR NOT claimed")
        claimed_codes = q("SELECT count(*) FROM codes WHERE claimed_by IS NOT NULL")
        coupons = q("SELECT count(*) FROM coupons WHERE campaign_id = :c", c=seed_.campaign_id)
        coupon_fen = q("SELECT coalesce(sum(budget_fen), 0) FROM coupons WHERE campaign_id = :c",
                       c=seed_.campaign_id)
        kinds = dict(conn.execute(text("SELECT kind, count(*) FROM coupons GROUP BY kind")).all())
        issued, committed = conn.execute(text("SELECT issued, committed_fen FROM campaigns WHERE id = :c"),
                                         {"c": seed_.campaign_id}).one()
    engine.dispose()
    return {"double_rewards": dup_coupons + dup_claims + coupon_other_consumer, "dup_coupons": dup_coupons,
            "dup_claims": dup_claims, "coupon_not_claimer": coupon_other_consumer, "scan_rows": scans,
            "not_first_scans": not_first, "claimed_codes": claimed_codes, "coupons": coupons,
            "coupon_kinds": kinds, "campaign_issued": issued, "campaign_committed_fen": committed,
            "coupon_budget_fen": coupon_fen,
            "counters_match": issued == coupons and committed == coupon_fen and claimed_codes == scans}


# --- main ----------------------------------------------------------------------------------------
def main() -> int:
    settings = Settings()
    if settings.client == "wrk" and not shutil.which("wrk"):
        raise SystemExit("BENCH_SCAN_CLIENT=wrk but wrk is not installed (apt-get install -y wrk)")
    url = scratch_url()
    dbname = url.rpartition("/")[2]
    servers: list[Server] = []
    started = time.time()
    try:
        log(f"scratch database {url.rpartition('/')[2]}; migrating ...")
        create_database(url)
        from migrations import upgrade

        upgrade(url)
        log(f"seeding through the API: {settings.codes:,} activated codes, {settings.consumers} consumers, "
            "campaign 30% brand coupon / 10% points ...")
        seeded = seed(url, settings)
        codes = Codes(seeded.pairs)
        log(f"seeded in {time.time() - started:.1f} s; client {settings.client}, connections {list(settings.levels)}, "
            f"server {settings.server()}")

        # Both servers up at once (an idle one costs no CPU); the load alternates echo, scans, echo,
        # scans ... so a neighbour's CPU use or a slow minute hits both sides alike.
        echo = Server("bench.echo_app:create_app()", {}, settings, "echo")
        servers.append(echo)
        env = {k: str(v) for k, v in app_config(url, settings).items()}
        app_server = Server(settings.app_spec, env, settings, "app")
        servers.append(app_server)
        floor_server = None
        if settings.floor:
            from sqlalchemy import create_engine, text

            engine = create_engine(url)
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE bench_floor_scans (id bigserial PRIMARY KEY, code text NOT NULL, "
                                  "at timestamp NOT NULL DEFAULT now())"))
            engine.dispose()
            floor_server = Server("bench.echo_app:create_db_app()", {"DATABASE_URL": url}, settings, "floor")
            servers.append(floor_server)
        echo_pairs = seeded.pairs[:50_000]
        load(settings, echo.port, echo_pairs, settings.warmup, None)
        if floor_server:
            load(settings, floor_server.port, echo_pairs, settings.warmup, None)
        warm = load(settings, app_server.port, codes.take(5_000 * max(1, settings.warmup)), settings.warmup, None)
        log(describe("scan warm-up", warm))
        levels = settings.levels
        bare_parts = {c: [] for c in levels}
        scan_parts = {c: [] for c in levels}
        floor_parts = {c: [] for c in levels}
        slots = settings.rounds * len(levels)
        with PgMonitor(url) as pg:
            for i in range(settings.rounds):
                for c in levels:
                    name = f"round {i + 1}/{settings.rounds}, {c} connections:"
                    part = load(settings, echo.port, echo_pairs, max(1, settings.echo_seconds // settings.rounds),
                                CpuMeter(echo.worker_pids(), dbname), c)
                    log(describe(f"{name} bare flask echo", part))
                    bare_parts[c].append(part)
                    budget = (len(codes.pairs) - codes.at) // slots
                    slots -= 1
                    pg.active = True
                    part = load(settings, app_server.port, codes.take(budget),
                                max(1, settings.seconds // settings.rounds), CpuMeter(app_server.worker_pids(), dbname),
                                c)
                    pg.active = False
                    log(describe(f"{name} scans", part))
                    scan_parts[c].append(part)
                    if floor_server:
                        part = load(settings, floor_server.port, echo_pairs,
                                    max(1, settings.echo_seconds // settings.rounds),
                                    CpuMeter(floor_server.worker_pids(), dbname), c)
                        log(describe(f"{name} floor (echo + 1 INSERT/COMMIT)", part))
                        floor_parts[c].append(part)
        bares = {c: merge(parts) for c, parts in bare_parts.items()}
        scanned = {c: merge(parts) for c, parts in scan_parts.items()}
        floors = {c: merge(parts) for c, parts in floor_parts.items() if parts}
        # Each side at its capacity: the echo at its best rate whatever its latency (the stricter
        # baseline), the scans at their best rate whose p99 meets the goal.
        bare_c, scan_c = at_capacity(bares), at_capacity(scanned, settings.p99_goal_ms)
        bare, result = bares[bare_c], scanned[scan_c]
        floor = floors[at_capacity(floors)] if floors else None
        for c in levels:
            log(f"{c} connections: scans {scanned[c].ok_per_s:,.0f}/s p99 {scanned[c].p99_ms:.1f} ms, echo "
                f"{bares[c].ok_per_s:,.0f}/s p99 {bares[c].p99_ms:.1f} ms"
                + (f", floor {floors[c].ok_per_s:,.0f}/s" if c in floors else ""))
        if floor:
            log(describe("floor at its capacity: echo + one INSERT/COMMIT via psycopg", floor))
            log(cpu_line("floor", floor))
        log(describe(f"bare flask echo at its capacity ({bare_c} connections)", bare))
        log(cpu_line("echo", bare))
        log(describe(f"scans at their capacity within p99 {settings.p99_goal_ms:g} ms ({scan_c} connections)",
                     result))
        log(cpu_line("scan", result))
        log(f"PostgreSQL backends of the app during scans, average count by state: {pg.summary()}")
        server_errors = app_server.errors()
        if server_errors:
            log(f"the app logged {server_errors} unhandled exceptions (500s), e.g.:\n{app_server.tail()[-1500:]}")
        for server in list(servers):
            server.stop(keep_log=server is app_server and server_errors > 0)
            servers.remove(server)
        every = merge([part for parts in scan_parts.values() for part in parts])   # every level: for the checks
        if every.wrapped or warm.wrapped:
            log(f"WARNING: ran out of distinct codes ({every.wrapped} repeats, {warm.wrapped} in the warm-up); "
                "raise BENCH_SCAN_CODES")
        other = {"echo": round(bare.cpu.get("other", 0) / bare.seconds, 2),
                 "scan": round(result.cpu.get("other", 0) / result.seconds, 2)}
        if max(other.values()) > 0.25:
            log(f"WARNING: other processes kept {max(other.values())} of {os.cpu_count()} cores busy during the "
                "load; absolute figures are depressed (the interleaved ratio less so)")

        checks = check(url, seeded)
        log(f"checks: {checks}")
        answered = warm.rewards + every.rewards
        if every.verdicts.get("genuine", 0) != every.ok or answered > checks["coupons"]:
            log(f"WARNING: responses say {every.verdicts} for {every.ok} scans of distinct codes and list "
                f"{answered} rewards against {checks['coupons']} coupon rows")
        scans_per_s = result.ok_per_s
        cpu_per = {k: round(v * 1000 / result.requests, 3) for k, v in result.cpu.items()} if result.requests else {}
        # CPU spent on each request by everything the run itself runs (server, PostgreSQL, Redis, client):
        # when both sides are CPU-bound this is the ratio an otherwise idle machine would show, and it
        # barely moves when a neighbour steals cores.
        own = ("server", "postgres", "redis", "client")
        scan_cpu = sum(result.cpu.get(k, 0) for k in own) / max(1, result.requests)
        echo_cpu = sum(bare.cpu.get(k, 0) for k in own) / max(1, bare.requests)
        out = {
            "scans_per_s": round(scans_per_s, 1),
            "p99_ms": round(result.p99_ms, 1),
            "bare_flask_per_s": round(bare.ok_per_s, 1),
            "ratio": round(scans_per_s / bare.ok_per_s, 3) if bare.ok_per_s else None,
            "double_rewards": checks["double_rewards"],
            "p50_ms": round(result.p50_ms, 1),
            "p90_ms": round(result.p90_ms, 1),
            "bare_p99_ms": round(bare.p99_ms, 1),
            "cpu_ratio": round(echo_cpu / scan_cpu, 3) if scan_cpu else None,
            "scans": every.ok,
            "non_200": every.requests - every.ok,
            "warmup_non_200": warm.requests - warm.ok,
            "server_errors": server_errors,
            "seconds": round(result.seconds, 1),
            "concurrency": scan_c,
            "bare_concurrency": bare_c,
            "levels": [{"connections": c, "scans_per_s": round(scanned[c].ok_per_s, 1),
                        "p99_ms": round(scanned[c].p99_ms, 1), "bare_flask_per_s": round(bares[c].ok_per_s, 1),
                        "bare_p99_ms": round(bares[c].p99_ms, 1)} for c in levels],
            "client": settings.client,
            **settings.server(),
            "consumers": seeded.consumers,
            "coupons": checks["coupons"],
            "counters_match": checks["counters_match"],
            "not_first_scans": checks["not_first_scans"] + every.wrapped + warm.wrapped,
            "response_verdicts": every.verdicts,
            "response_rewards": every.rewards + warm.rewards,
            "cpu_ms_per_scan": cpu_per,
            "cpu_ms_per_echo": ({k: round(v * 1000 / bare.requests, 3) for k, v in bare.cpu.items()}
                                if bare.requests else {}),
            "pg_backends": pg.summary(),
            "other_cpu_cores": other,
            "rounds": settings.rounds,
            **({"app": settings.app_spec}
               if settings.app_spec != "app:create_app()" else {}),
            **({"db_floor_per_s": round(floor.ok_per_s, 1), "db_floor_p99_ms": round(floor.p99_ms, 1),
                "db_floor_ratio": round(floor.ok_per_s / bare.ok_per_s, 3)} if floor else {}),
            "cores": os.cpu_count(),
            "elapsed_s": round(time.time() - started, 1),
        }
        print(json.dumps(out), flush=True)
        return 0
    finally:
        for server in servers:      # only left here when something failed: keep their logs
            server.stop(keep_log=True)
        if not settings.keep_db:
            try:
                drop_database(url)
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the real error
                log(f"could not drop {url}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
