"""bench.scan's load generators: wrk with bench/scan_wrk.lua, or a Python thread pool; their results,
merged over rounds; the concurrency level a side is reported at."""

from __future__ import annotations

import http.client
import json
import os
import resource
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

from bench.scan.config import Settings
from bench.scan.meters import CpuMeter, children_cpu
from bench.support import ROOT

LUA = os.path.join(ROOT, "bench", "scan_wrk.lua")


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
    points: list[tuple[float, float]] = field(default_factory=list)  # (latency ms, weight in requests)
    verdicts: dict = field(default_factory=dict)  # scan responses: verdict -> count
    rewards: int = 0  # coupons listed in scan responses

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
    return LoadResult(
        requests=sum(r.requests for r in results),
        ok=sum(r.ok for r in results),
        seconds=sum(r.seconds for r in results),
        p50_ms=_quantile(points, 0.50),
        p90_ms=_quantile(points, 0.90),
        p99_ms=_quantile(points, 0.99),
        max_ms=max(r.max_ms for r in results),
        statuses=statuses,
        errors=errors,
        wrapped=sum(r.wrapped for r in results),
        cpu=cpu,
        points=points,
        verdicts=verdicts,
        rewards=sum(r.rewards for r in results),
    )


def write_pairs(pairs: list[tuple[str, str]]) -> str:
    fd, path = tempfile.mkstemp(prefix="bench-scan-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        for token, code in pairs:
            fh.write(f"{token} {code}\n")
    return path


def run_wrk(
    port: int,
    pairs: list[tuple[str, str]],
    connections: int,
    seconds: int,
    meter: CpuMeter | None,
    wrk_threads: int = 2,
) -> LoadResult:
    path = write_pairs(pairs)
    try:
        cmd = [
            "wrk",
            "-t",
            str(wrk_threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            LUA,
            f"http://127.0.0.1:{port}",
            "--",
            path,
            str(wrk_threads),
        ]
        if meter:
            meter.start()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=seconds + 120)
        cpu = meter.stop(client_seconds=children_cpu(children)) if meter else {}
    finally:
        os.unlink(path)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
    data = json.loads(line[len("WRKJSON ") :])
    ok = data["statuses"].get("200", 0)
    return LoadResult(
        requests=data["requests"],
        ok=ok,
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        statuses=data["statuses"],
        errors=data["errors"],
        wrapped=data["wrapped"],
        cpu=cpu,
        points=[(v / 1000, data["requests"] / 1000) for v in data["quantiles_us"]],
        verdicts=data["verdicts"],
        rewards=data["rewards"],
    )


def run_python(
    port: int, pairs: list[tuple[str, str]], connections: int, seconds: int, meter: CpuMeter | None
) -> LoadResult:
    """Fallback client: one thread per connection, http.client keep-alive, fixed duration."""
    source = iter(pairs)  # list iterators are safe to share under the GIL
    stop_at = [0.0]
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    verdicts: dict[str, int] = {}  # updated from several threads: dict item updates are atomic enough
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
                conn.request(
                    "POST",
                    "/api/v1/scans",
                    body,
                    {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
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

    return LoadResult(
        requests=len(latencies),
        ok=statuses.get("200", 0),
        seconds=elapsed,
        p50_ms=pct(0.5),
        p90_ms=pct(0.9),
        p99_ms=pct(0.99),
        max_ms=(latencies[-1] * 1000 if latencies else 0.0),
        statuses=statuses,
        wrapped=wrapped[0],
        cpu=cpu,
        points=[(v * 1000, 1.0) for v in latencies],
        verdicts=verdicts,
        rewards=won[0],
    )


def load(
    settings: Settings, port: int, pairs, seconds: int, meter: CpuMeter | None, connections: int | None = None
) -> LoadResult:
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
