"""Consumer login through the mini app's one-time proof: {openid, ts, signature}, fresh and used once."""

import hashlib
import hmac
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

import db
from bench.support import all_at_once
from db import utcnow
from identity.models import LoginProof
from tests.factories import login_proof

LOGIN = "/api/v1/auth/consumer"


@pytest.fixture
def proof(app):
    def make(openid="wx-openid-1", ts=None, secret=None):
        return login_proof(secret or app.config["MINIAPP_SECRET"], openid, ts)

    return make


def test_a_fresh_proof_signs_the_consumer_in_for_thirty_days(api, proof):
    body = api.post(LOGIN, proof(), expect=200).json
    assert body["token"].startswith("ct_") and body["consumer_id"].startswith("cs_")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")).timestamp()
    assert abs(expires - (time.time() + 30 * 24 * 3600)) < 5
    api.get("/api/v1/me/coupons", who={"Authorization": f"Bearer {body['token']}"}, expect=200)


def test_the_same_openid_signing_in_with_a_new_proof_is_the_same_consumer(api, proof):
    now = int(time.time())
    first = api.post(LOGIN, proof(ts=now), expect=200).json
    again = api.post(LOGIN, proof(ts=now - 1), expect=200).json
    assert first["consumer_id"] == again["consumer_id"]


def test_a_used_proof_is_refused_even_with_its_hex_in_capitals(api, proof):
    sent = proof()
    api.post(LOGIN, sent, expect=200)
    r = api.post(LOGIN, sent, expect=401)
    assert r.json["error"]["code"] == "unauthorized" and "already used" in r.json["error"]["message"]
    api.post(LOGIN, {**sent, "signature": sent["signature"].upper()}, expect=401)


def test_a_proof_older_than_five_minutes_is_refused(api, proof):
    now = int(time.time())
    r = api.post(LOGIN, proof(ts=now - 301), expect=401)
    assert "older than 300 seconds" in r.json["error"]["message"]
    api.post(LOGIN, proof(ts=now - 280), expect=200)


def test_a_proof_dated_more_than_a_moment_ahead_is_refused(api, proof):
    now = int(time.time())
    ahead = api.post(LOGIN, proof(ts=now + 120))
    assert ahead.status_code == 401 and "token" not in ahead.json
    assert api.post(LOGIN, proof(ts=now + 5)).json["token"].startswith("ct_")  # a clock a moment fast is fine


def test_a_proof_signed_with_another_secret_or_for_another_openid_is_refused(api, proof):
    other_secret = api.post(LOGIN, proof(secret="not-the-miniapp-secret"))
    forged = api.post(LOGIN, {**proof(openid="victim"), "openid": "attacker"})
    assert [other_secret.status_code, forged.status_code] == [401, 401]
    assert other_secret.json["error"]["code"] == forged.json["error"]["code"] == "unauthorized"
    with db.session_scope(api.app) as session:
        assert session.scalar(select(func.count()).select_from(LoginProof)) == 0  # nothing was accepted


def test_the_old_openid_only_signature_no_longer_signs_in(api, app):
    """Before proofs, a signature over the openid alone was a password for ever."""
    openid = "wx-openid-forever"
    signature = hmac.new(app.config["MINIAPP_SECRET"].encode(), openid.encode(), hashlib.sha256).hexdigest()
    without_ts = api.post(LOGIN, {"openid": openid, "signature": signature})
    assert without_ts.status_code == 422 and "ts" in without_ts.json["error"]["fields"]
    with_ts = api.post(LOGIN, {"openid": openid, "ts": int(time.time()), "signature": signature})
    assert with_ts.status_code == 401 and "token" not in with_ts.json


@pytest.mark.parametrize(
    "change,field",
    [
        ({"signature": "é" * 64}, "signature"),
        ({"signature": "\u0663" * 64}, "signature"),  # Arabic-Indic digits are not hex
        ({"signature": "ab" * 31}, "signature"),
        ({"signature": 12}, "signature"),
        ({"openid": "用户"}, "openid"),
        ({"openid": "wx openid"}, "openid"),
        ({"openid": "wx\x00openid"}, "openid"),
        ({"openid": ""}, "openid"),
        ({"ts": "1700000000"}, "ts"),
        ({"ts": 1.5}, "ts"),
        ({"ts": None}, "ts"),
    ],
)
def test_a_malformed_proof_is_a_validation_error_naming_the_field(api, proof, change, field):
    r = api.post(LOGIN, {**proof(), **change}, expect=422)
    assert field in r.json["error"]["fields"]


@pytest.mark.parametrize("missing", ["openid", "ts", "signature"])
def test_a_proof_missing_a_part_is_a_validation_error(api, proof, missing):
    sent = proof()
    del sent[missing]
    assert missing in api.post(LOGIN, sent, expect=422).json["error"]["fields"]


def test_a_huge_or_negative_ts_is_refused_not_an_error(api, proof):
    answers = [api.post(LOGIN, proof(ts=ts)) for ts in (10**30, -(10**30))]
    assert [r.status_code for r in answers] == [401, 401]
    assert all(r.json["error"]["code"] == "unauthorized" for r in answers)


def test_many_requests_racing_with_one_proof_sign_in_exactly_once(app, proof):
    sent = proof(openid="wx-racer")
    results = all_at_once(8, lambda i: app.test_client(), lambda i, client: client.post(LOGIN, json=sent).status_code)
    assert sorted(results) == [200] + [401] * 7, results


def test_the_sweep_forgets_only_proofs_too_old_to_be_accepted(api, app, proof):
    stale, fresh = proof(openid="wx-stale"), proof(openid="wx-fresh")
    api.post(LOGIN, stale, expect=200)
    api.post(LOGIN, fresh, expect=200)
    with db.session_scope(app) as session:
        session.execute(
            update(LoginProof)
            .where(LoginProof.signature == stale["signature"])
            .values(expires_at=utcnow() - timedelta(minutes=5))
        )
    result = app.test_cli_runner().invoke(args=["jobs", "run-due"])
    assert result.exit_code == 0, result.output
    with db.session_scope(app) as session:
        kept = set(session.scalars(select(LoginProof.signature)))
    assert kept == {fresh["signature"]}
    api.post(LOGIN, fresh, expect=401)  # still remembered: still refused
