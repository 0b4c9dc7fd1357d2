"""A gunicorn serving one side of bench.scan on a free local port, as production serves the app."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time

from bench.scan.config import Settings
from bench.support import ROOT, free_port, log

VENV_BIN = os.path.dirname(sys.executable)


class Server:
    def __init__(self, app_spec: str, env: dict, settings: Settings, name: str):
        self.port = free_port()
        self.name = name
        cmd = [
            os.path.join(VENV_BIN, "gunicorn"),
            "--config",
            os.path.join(ROOT, "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(settings.workers),
            "--worker-class",
            settings.worker_class,
            "--keep-alive",
            "30",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ]
        if settings.worker_class == "gthread":
            cmd += ["--threads", str(settings.threads)]
        cmd.append(app_spec)
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix=f"bench-scan-{name}-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
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
