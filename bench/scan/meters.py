"""What bench.scan measures besides the responses: CPU by process group from /proc, and what the
PostgreSQL backends are doing."""

from __future__ import annotations

import os
import resource
import threading

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
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            if comm.startswith("postgres"):
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    comm = fh.read().replace(b"\0", b" ").decode(errors="replace").strip() or comm
        except (OSError, ValueError):
            continue
        rest = raw[raw.rindex(")") + 2 :].split()
        out[int(entry)] = (comm, (int(rest[11]) + int(rest[12])) / CLK)  # utime + stime
    return out


def children_cpu(before) -> float:
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
        words = title.split(": ", 1)[-1].split()  # "postgres: [15/main: ]user database host(port) state"
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
            elif pid == os.getpid():  # the Python client's threads
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
                "AND application_name <> 'bench-floor'",
                (name,),
            ).fetchall()
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
