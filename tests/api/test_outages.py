"""When a dependency fails, requests answer quickly with 503 and Retry-After, or go on without it
where it is not needed for a correct answer; never a 500.

Each Redis test starts a redis-server of its own on a free port and kills (SIGKILL) or hangs
(SIGSTOP) that one; the database tests terminate only the PostgreSQL backends of their own app
(marked with an application_name of their own), in the test session's scratch database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, text

import db
import jobs
from bench.support import free_port
from loyalty import throttle
from storefront.ledger.models import Payout, PayoutStatus
from tests.factories import Api
from tests.money import give_store

SCANS, BALANCE, ORDERS = "/api/v1/scans", "/api/v1/store/balance", "/api/v1/orders"
PAYOUTS, RUN = "/api/v1/store/payouts", "/api/v1/admin/payouts/run"


class RedisServer:
    """A redis-server of the test's own, on a free port, with nothing saved to disk."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        from redis import Redis

        probe = Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        for _ in range(100):
            try:
                probe.ping()
                break
            except Exception:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        probe.close()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def hang(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def own_redis():
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode:
        pytest.skip("needs redis-server on PATH")
    server = RedisServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_app(app, app_settings, own_redis):
    """The test app's settings on the test's own Redis, with a few scans a minute allowed."""
    from app import create_app

    other = create_app(
        {
            **app_settings,
            "REDIS_URL": own_redis.url,
            "REDIS_TIMEOUT_MS": 200,
            "SCAN_LIMIT_PER_CONSUMER": 3,
        }
    )
    yield other
    db.dispose(other)


@pytest.fixture
def frozen_minute(monkeypatch):
    """The throttle's clock stands still mid-minute: its fixed window cannot roll over mid-test."""
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))


def scan_statuses(api: Api, consumer, codes) -> list[int]:
    return [api.post(SCANS, {"code": c["url"]}, who=consumer).status_code for c in codes]


def shop(api: Api):
    """A brand with a product, a partner store and a consumer: enough to place an order."""
    brand = api.brand()
    store = api.store(partner_of=brand)
    product = api.product(brand, price_fen=1200)
    return SimpleNamespace(brand=brand, store=store, product=product, consumer=api.consumer())


def order(api: Api, s) -> int:
    body = {"store_id": s.store.id, "items": [{"product_id": s.product["id"], "quantity": 1}]}
    return api.post(ORDERS, body, who=s.consumer).status_code


# --- Redis killed ---------------------------------------------------------------------------


def test_scans_answer_with_redis_killed_and_the_in_process_throttle_still_limits(redis_app, own_redis, frozen_minute):
    api = Api(redis_app, redis_app.test_client())
    brand, consumer = api.brand(), api.consumer()
    codes = api.codes(brand, api.batch(brand, quantity=5))
    assert scan_statuses(api, consumer, codes[:1]) == [200]  # counted in Redis

    own_redis.kill()

    # Counted in this process from now on, from zero: three more within the limit, then refused.
    assert scan_statuses(api, consumer, codes[1:5]) == [200, 200, 200, 429]
    refused = api.post(SCANS, {"code": codes[0]["url"]}, who=consumer)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    first = api.post(SCANS, {"code": codes[1]["url"]}, who=api.consumer(), expect=200).json
    assert first["verdict"] == "genuine_repeat" and first["scan_count"] == 2


def test_the_payout_run_with_redis_killed_is_503_with_retry_after_and_the_sweep_pays_later(redis_app, own_redis, app):
    api = Api(redis_app, redis_app.test_client())
    store = api.store()
    give_store(redis_app, store.id, available_fen=1000)
    payout = api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201).json

    own_redis.kill()

    r = api.post(RUN, who=api.admin, expect=503)
    assert r.json["error"]["code"] == "service_unavailable" and int(r.headers["Retry-After"]) >= 1
    with db.session_scope(redis_app) as session:
        assert session.get(Payout, payout["id"]).status == PayoutStatus.REQUESTED  # nothing lost
    out = redis_app.test_cli_runner().invoke(args=["jobs", "run-due"]).output  # what the operator can run
    assert "payouts: {" in out
    with db.session_scope(redis_app) as session:
        assert session.get(Payout, payout["id"]).status == PayoutStatus.PAID


def test_orders_are_taken_with_redis_killed_and_their_expiry_is_left_to_the_sweep(redis_app, own_redis):
    api = Api(redis_app, redis_app.test_client())
    s = shop(api)
    own_redis.kill()
    assert [order(api, s), order(api, s)] == [201, 201]


def test_readiness_reports_redis_down_and_stays_ready_while_the_database_answers(redis_app, own_redis):
    client = redis_app.test_client()
    assert client.get("/readyz").json == {"db": True, "redis": True}
    own_redis.kill()
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json == {"db": True, "redis": False}


# --- Redis hung (SIGSTOP): every call gives up after REDIS_TIMEOUT_MS ----------------------------


def test_a_hung_redis_costs_its_timeout_not_the_request(redis_app, own_redis, frozen_minute):
    api = Api(redis_app, redis_app.test_client())
    brand, consumer = api.brand(), api.consumer()
    codes = api.codes(brand, api.batch(brand, quantity=4))
    s = shop(api)
    store = api.store()
    give_store(redis_app, store.id, available_fen=1000)
    api.post(PAYOUTS, {"amount_fen": 600}, who=store, expect=201)
    client = jobs.redis_client(own_redis.url, redis_app.config["REDIS_TIMEOUT_MS"])
    assert client.connection_pool.connection_kwargs["socket_timeout"] == 0.2  # REDIS_TIMEOUT_MS, configured

    own_redis.hang()

    assert scan_statuses(api, consumer, codes) == [200, 200, 200, 429]  # in-process after the first timeout
    assert not jobs.redis_usable(own_redis.url)  # the next calls skip it instead of waiting again
    assert order(api, s) == 201
    r = api.post(RUN, who=api.admin, expect=503)
    assert "Retry-After" in r.headers
    ready = redis_app.test_client().get("/readyz")
    assert ready.status_code == 200 and ready.json["redis"] is False


# --- the database ---------------------------------------------------------------------------


@pytest.fixture
def marked_app(app, app_settings, postgres_only):
    """The test app's settings, its connections marked with an application_name of their own."""
    from app import create_app

    name = f"outage-{uuid.uuid4().hex[:12]}"
    url = app_settings["DATABASE_URL"]
    other = create_app({**app_settings, "DATABASE_URL": f"{url}?application_name={name}"})
    other.extensions["outage_mark"] = name
    yield other
    db.dispose(other)


def terminate_backends(app) -> int:
    """pg_terminate_backend on this app's own connections (its mark, in this scratch database), and
    wait until they are gone: by then each has told its client socket goodbye."""
    admin = create_engine(app.config["DATABASE_URL"].split("?")[0], isolation_level="AUTOCOMMIT")
    mine = (
        "FROM pg_stat_activity WHERE datname = current_database() AND application_name = :mark"
        " AND pid <> pg_backend_pid()"
    )
    mark = {"mark": app.extensions["outage_mark"]}
    try:
        with admin.connect() as conn:
            terminated = len(conn.execute(text(f"SELECT pg_terminate_backend(pid) {mine}"), mark).all())
            for _ in range(200):
                if not conn.execute(text(f"SELECT count(*) {mine}"), mark).scalar():
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the terminated backends did not exit")
        return terminated
    finally:
        admin.dispose()


def test_balance_reads_survive_their_backends_being_terminated(marked_app):
    api = Api(marked_app, marked_app.test_client())
    store = api.store()
    give_store(marked_app, store.id, available_fen=500)
    assert api.get(BALANCE, who=store, expect=200).json["available_fen"] == 500  # pooled: no idle ping next

    assert terminate_backends(marked_app) >= 1

    assert api.get(BALANCE, who=store, expect=200).json["available_fen"] == 500
    assert terminate_backends(marked_app) >= 1
    assert api.get(BALANCE, who=store, expect=200).json["available_fen"] == 500


def test_orders_survive_their_backends_being_terminated(marked_app):
    api = Api(marked_app, marked_app.test_client())
    s = shop(api)
    assert order(api, s) == 201

    assert terminate_backends(marked_app) >= 1

    assert order(api, s) == 201


def test_scans_survive_their_backends_being_terminated(marked_app):
    api = Api(marked_app, marked_app.test_client())
    brand, consumer = api.brand(), api.consumer()
    codes = api.codes(brand, api.batch(brand, quantity=2))
    api.post(SCANS, {"code": codes[0]["url"]}, who=consumer, expect=200)
    assert terminate_backends(marked_app) >= 1
    assert api.post(SCANS, {"code": codes[1]["url"]}, who=consumer, expect=200).json["verdict"] == "genuine"


def test_an_unreachable_database_is_503_with_retry_after_not_500(app, app_settings):
    """Nothing listens where DATABASE_URL points (PostgreSQL down): requests and readiness say so."""
    from app import create_app

    down = create_app({**app_settings, "DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone"})
    try:
        client = down.test_client()
        admin = {"Authorization": f"Bearer {app_settings['ADMIN_API_KEY']}"}
        r = client.post("/api/v1/admin/brands", json={"name": "Unwritten"}, headers=admin)
        assert r.status_code == 503 and r.json["error"]["code"] == "service_unavailable"
        assert int(r.headers["Retry-After"]) >= 1
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["db"] is False
    finally:
        db.dispose(down)


def test_only_a_lost_connection_counts_as_the_database_being_unavailable():
    """A lost connection is the database's outage (503); a failing statement is our bug (500)."""
    import psycopg
    from sqlalchemy.exc import OperationalError, ProgrammingError

    gone = psycopg.OperationalError("server closed the connection unexpectedly")
    assert db.lost_connection(OperationalError("SELECT 1", {}, gone))
    assert not db.lost_connection(ProgrammingError("SELEC 1", {}, psycopg.errors.SyntaxError("syntax error")))
    assert not db.lost_connection(ValueError("not a database error"))


# --- a server's child processes die with it -------------------------------------------------


def _processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, start time) of every process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found[int(entry)] = (int(fields[1]), fields[0], fields[19])
    return found


def descendants(pid: int) -> dict[int, str]:
    """The living processes below `pid`, each with its start time (a reused pid is another process)."""
    table = _processes()
    found, parents = {}, {pid}
    while parents:
        parents = {p for p, (ppid, state, _) in table.items() if ppid in parents and state != "Z" and p not in found}
        found.update({p: table[p][2] for p in parents})
    return found


def still_running(processes: dict[int, str]) -> dict[int, str]:
    table = _processes()
    return {p: t for p, t in processes.items() if p in table and table[p][2] == t and table[p][1] != "Z"}


def wait_for(condition, what: str, seconds: float = 30):
    for _ in range(int(seconds / 0.05)):
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(what)


@pytest.fixture
def served_app(app, app_settings, tmp_path):
    """`flask --app app run` on a free port over the test database, with two export processes;
    yields (process, port). Stopped (SIGKILL) at the end if the test has not."""
    import http.client
    import sys

    import settings

    port = free_port()
    passed_on = {k: str(v) for k, v in app_settings.items() if k in settings.BY_NAME and v is not None}
    env = {**os.environ, **passed_on, "EXPORT_PROCESSES": "2", "INLINE_SWEEP_SECONDS": "0"}
    env.pop("FLASK_DEBUG", None)
    log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 - closed below
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port), "--no-reload"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=log,
    )

    def answers():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return proc.poll() is not None  # exited: reported below

    try:
        wait_for(answers, "the server did not start", 60)
        assert proc.poll() is None, "the server exited"
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        log.close()


def start_large_export(api, port):
    """Ask the server for a CSV export big enough for its process pool, read its first bytes and
    stop reading: the server is mid-export, its pool's workers busy or waiting to send."""
    import http.client

    from codes import export

    brand = api.brand()
    batch = api.batch(brand, quantity=2 * export.PARALLEL_MIN, activate=False)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", f"/api/v1/brand/batches/{batch['id']}/codes.csv", headers=brand.headers)
    response = conn.getresponse()
    assert response.status == 200 and response.read(64 * 1024).startswith(b"serial,token,url\n")
    return conn


def export_pool(server_pid: int) -> dict[int, str]:
    """The server's processes once its export pool is up: the forkserver and the resource tracker
    (the server's children) and the two workers (the forkserver's)."""

    def up():
        found = descendants(server_pid)
        return found if len(found) >= 4 else None

    return wait_for(up, "no export pool")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_large_exports_processes_die_with_their_server(api, served_app, stop):
    proc, port = served_app
    conn = start_large_export(api, port)
    children = export_pool(proc.pid)

    proc.send_signal(stop)
    proc.wait(30)

    left = wait_for(lambda: not still_running(children) or None, f"left running: {still_running(children)}")
    assert left is True
    conn.close()


def test_an_abandoned_export_closes_its_pool(api, served_app):
    """The client goes away mid-export: its pool's workers exit, the server goes on serving."""
    proc, port = served_app
    conn = start_large_export(api, port)
    table = _processes()
    workers = {p: t for p, t in export_pool(proc.pid).items() if table[p][0] != proc.pid}
    assert len(workers) >= 2

    conn.close()

    wait_for(lambda: not still_running(workers) or None, f"workers left running: {still_running(workers)}")
    assert proc.poll() is None
