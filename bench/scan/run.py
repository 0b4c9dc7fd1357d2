"""bench.scan's run: seed, serve the echo, the app and the floor, load them in alternating rounds at
every concurrency level, report each side at its capacity, check the database; the last line is the JSON."""

from __future__ import annotations

import json
import os
import shutil
import time

from bench.scan.config import Settings, app_config, scratch_url
from bench.scan.load import at_capacity, load, merge
from bench.scan.meters import CpuMeter, PgMonitor
from bench.scan.report import check, cpu_line, describe
from bench.scan.seed import Codes, seed
from bench.scan.server import Server
from bench.support import create_database, drop_database, log


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
        log(
            f"seeding through the API: {settings.codes:,} activated codes, {settings.consumers} consumers, "
            "campaign 30% brand coupon / 10% points ..."
        )
        seeded = seed(url, settings)
        codes = Codes(seeded.pairs)
        log(
            f"seeded in {time.time() - started:.1f} s; client {settings.client}, connections {list(settings.levels)}, "
            f"server {settings.server()}"
        )

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
                conn.execute(
                    text(
                        "CREATE TABLE bench_floor_scans (id bigserial PRIMARY KEY, code text NOT NULL, "
                        "at timestamp NOT NULL DEFAULT now())"
                    )
                )
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
                    part = load(
                        settings,
                        echo.port,
                        echo_pairs,
                        max(1, settings.echo_seconds // settings.rounds),
                        CpuMeter(echo.worker_pids(), dbname),
                        c,
                    )
                    log(describe(f"{name} bare flask echo", part))
                    bare_parts[c].append(part)
                    budget = (len(codes.pairs) - codes.at) // slots
                    slots -= 1
                    pg.active = True
                    part = load(
                        settings,
                        app_server.port,
                        codes.take(budget),
                        max(1, settings.seconds // settings.rounds),
                        CpuMeter(app_server.worker_pids(), dbname),
                        c,
                    )
                    pg.active = False
                    log(describe(f"{name} scans", part))
                    scan_parts[c].append(part)
                    if floor_server:
                        part = load(
                            settings,
                            floor_server.port,
                            echo_pairs,
                            max(1, settings.echo_seconds // settings.rounds),
                            CpuMeter(floor_server.worker_pids(), dbname),
                            c,
                        )
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
            log(
                f"{c} connections: scans {scanned[c].ok_per_s:,.0f}/s p99 {scanned[c].p99_ms:.1f} ms, echo "
                f"{bares[c].ok_per_s:,.0f}/s p99 {bares[c].p99_ms:.1f} ms"
                + (f", floor {floors[c].ok_per_s:,.0f}/s" if c in floors else "")
            )
        if floor:
            log(describe("floor at its capacity: echo + one INSERT/COMMIT via psycopg", floor))
            log(cpu_line("floor", floor))
        log(describe(f"bare flask echo at its capacity ({bare_c} connections)", bare))
        log(cpu_line("echo", bare))
        log(describe(f"scans at their capacity within p99 {settings.p99_goal_ms:g} ms ({scan_c} connections)", result))
        log(cpu_line("scan", result))
        log(f"PostgreSQL backends of the app during scans, average count by state: {pg.summary()}")
        server_errors = app_server.errors()
        if server_errors:
            log(f"the app logged {server_errors} unhandled exceptions (500s), e.g.:\n{app_server.tail()[-1500:]}")
        for server in list(servers):
            server.stop(keep_log=server is app_server and server_errors > 0)
            servers.remove(server)
        every = merge([part for parts in scan_parts.values() for part in parts])  # every level: for the checks
        if every.wrapped or warm.wrapped:
            log(
                f"WARNING: ran out of distinct codes ({every.wrapped} repeats, {warm.wrapped} in the warm-up); "
                "raise BENCH_SCAN_CODES"
            )
        other = {
            "echo": round(bare.cpu.get("other", 0) / bare.seconds, 2),
            "scan": round(result.cpu.get("other", 0) / result.seconds, 2),
        }
        if max(other.values()) > 0.25:
            log(
                f"WARNING: other processes kept {max(other.values())} of {os.cpu_count()} cores busy during the "
                "load; absolute figures are depressed (the interleaved ratio less so)"
            )

        checks = check(url, seeded)
        log(f"checks: {checks}")
        answered = warm.rewards + every.rewards
        if every.verdicts.get("genuine", 0) != every.ok or answered > checks["coupons"]:
            log(
                f"WARNING: responses say {every.verdicts} for {every.ok} scans of distinct codes and list "
                f"{answered} rewards against {checks['coupons']} coupon rows"
            )
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
            "levels": [
                {
                    "connections": c,
                    "scans_per_s": round(scanned[c].ok_per_s, 1),
                    "p99_ms": round(scanned[c].p99_ms, 1),
                    "bare_flask_per_s": round(bares[c].ok_per_s, 1),
                    "bare_p99_ms": round(bares[c].p99_ms, 1),
                }
                for c in levels
            ],
            "client": settings.client,
            **settings.server(),
            "consumers": seeded.consumers,
            "coupons": checks["coupons"],
            "counters_match": checks["counters_match"],
            "not_first_scans": checks["not_first_scans"] + every.wrapped + warm.wrapped,
            "response_verdicts": every.verdicts,
            "response_rewards": every.rewards + warm.rewards,
            "cpu_ms_per_scan": cpu_per,
            "cpu_ms_per_echo": (
                {k: round(v * 1000 / bare.requests, 3) for k, v in bare.cpu.items()} if bare.requests else {}
            ),
            "pg_backends": pg.summary(),
            "other_cpu_cores": other,
            "rounds": settings.rounds,
            **({"app": settings.app_spec} if settings.app_spec != "app:create_app()" else {}),
            **(
                {
                    "db_floor_per_s": round(floor.ok_per_s, 1),
                    "db_floor_p99_ms": round(floor.p99_ms, 1),
                    "db_floor_ratio": round(floor.ok_per_s / bare.ok_per_s, 3),
                }
                if floor
                else {}
            ),
            "cores": os.cpu_count(),
            "elapsed_s": round(time.time() - started, 1),
        }
        print(json.dumps(out), flush=True)
        return 0
    finally:
        for server in servers:  # only left here when something failed: keep their logs
            server.stop(keep_log=True)
        if not settings.keep_db:
            try:
                drop_database(url)
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the real error
                log(f"could not drop {url}: {exc}")
