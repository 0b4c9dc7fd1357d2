"""bench.scan's knobs (BENCH_SCAN_*, read when the module is imported), the campaign it seeds and the
configuration both the seeding and the served app get."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from bench.support import APP_SECRETS, beside, postgres_url

SECRETS = APP_SECRETS
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
    # capacity (see run.main); one level measures at that concurrency only.
    levels: tuple[int, ...] = tuple(
        int(c) for c in os.environ.get("BENCH_SCAN_CONNECTIONS", "16,24,32").split(",") if c.strip()
    )
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
        return {
            "server": "gunicorn",
            "worker_class": self.worker_class,
            "workers": self.workers,
            "threads": self.threads if self.worker_class == "gthread" else 1,
        }


def scratch_url() -> str:
    """A database beside DATABASE_URL's, named for this run's process."""
    return beside(postgres_url("bench.scan"), f"bench_scan_{os.getpid()}")


def app_config(url: str, settings: Settings) -> dict:
    return {"DATABASE_URL": url, "REDIS_URL": f"redis://127.0.0.1:6379/{settings.redis_db}", **SECRETS, **LIMITS}
