"""Jobs: inline without Redis; through a real RQ worker (`flask worker --burst`) with Redis."""

import pytest

import jobs


def test_run_due_runs_every_registered_sweep_once(app):
    runner = app.test_cli_runner()
    out = runner.invoke(args=["jobs", "run-due"]).output
    for name in ("coupon_expiry", "settlement", "payouts", "order_expiry", "daily_rebates", "campaign_end"):
        assert f"{name}: " in out and f"{name}: error" not in out


def test_job_ids_are_made_safe_for_rq():
    assert jobs._safe_id("order-expiry:or_1/2") == "order-expiry-or_1-2"


def test_a_real_rq_worker_runs_an_enqueued_job_in_the_app(app, monkeypatch):
    if not app.config.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL (the PostgreSQL + Redis run)")
    from redis import Redis
    from rq import Queue

    monkeypatch.setitem(app.config, "RQ_IS_ASYNC", True)
    state = app.extensions["jobs"]
    saved, state["queue"] = state["queue"], None
    try:
        with app.app_context():
            job = jobs.enqueue(jobs.run_due, job_id="test-real-worker-run-due")
        assert job.get_status(refresh=True) in ("queued", "scheduled")
        result = app.test_cli_runner().invoke(args=["worker", "--burst"])
        assert result.exit_code == 0, result.output
        job.refresh()
        assert job.get_status() == "finished"
        assert "settlement" in job.return_value()
    finally:
        Queue("default", connection=Redis.from_url(app.config["REDIS_URL"])).empty()
        state["queue"] = saved
