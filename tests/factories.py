"""Helpers that act like the clients: admin, brand tools, store tills, the mini app."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
import weakref
from dataclasses import dataclass, field

from flask.testing import FlaskClient

_seq = itertools.count(1)


def auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def login_proof(secret: str, openid: str, ts: int | None = None) -> dict:
    """What the mini-app platform hands the app for one login: {openid, ts, signature}."""
    ts = int(time.time()) if ts is None else ts
    signature = hmac.new(secret.encode(), f"{openid}.{ts}".encode(), hashlib.sha256).hexdigest()
    return {"openid": openid, "ts": ts, "signature": signature}


@dataclass
class Tenant:
    id: str
    key: str
    data: dict = field(default_factory=dict)

    @property
    def headers(self) -> dict:
        return auth(self.key)


class Api:
    def __init__(self, app, client):
        self.app, self.client = app, client
        self.admin = auth(app.config["ADMIN_API_KEY"])
        self._logins: dict[str, set[int]] = {}  # openid -> the ts of its proofs used so far

    # --- raw calls -------------------------------------------------------------------------
    def post(self, path, body=None, who=None, expect=None, **kw):
        r = self.client.post(path, json=body if body is not None else {}, headers=self._h(who), **kw)
        return self._check(r, expect)

    def get(self, path, who=None, expect=None, **kw):
        r = self.client.get(path, headers=self._h(who), **kw)
        return self._check(r, expect)

    def _h(self, who):
        if who is None:
            return {}
        if isinstance(who, dict):
            return who
        return who.headers

    @staticmethod
    def _check(r, expect):
        if expect is not None:
            assert r.status_code == expect, f"expected {expect}, got {r.status_code}: {r.get_data(as_text=True)[:500]}"
        return r

    # --- tenants ---------------------------------------------------------------------------
    def brand(self, name=None) -> Tenant:
        r = self.post("/api/v1/admin/brands", {"name": name or f"Brand {next(_seq)}"}, who=self.admin, expect=201)
        return Tenant(r.json["id"], r.json["api_key"], r.json)

    def store(self, name=None, lat=31.2304, lng=121.4737, region_code="310101", partner_of=None) -> Tenant:
        r = self.post(
            "/api/v1/admin/stores",
            {"name": name or f"Store {next(_seq)}", "lat": lat, "lng": lng, "region_code": region_code},
            who=self.admin,
            expect=201,
        )
        store = Tenant(r.json["id"], r.json["api_key"], r.json)
        for brand in [partner_of] if isinstance(partner_of, Tenant) else (partner_of or []):
            self.post("/api/v1/brand/partners", {"store_id": store.id}, who=brand, expect=201)
        return store

    def consumer(self, openid=None) -> Tenant:
        """Sign in through the mini app's one-time login proof. A proof is single use, so signing the
        same openid in again within a second dates its proof a second earlier (still fresh)."""
        openid = openid or f"openid-{next(_seq)}"
        used = self._logins.setdefault(openid, set())
        ts = int(time.time())
        while ts in used:
            ts -= 1
        used.add(ts)
        r = self.post("/api/v1/auth/consumer", login_proof(self.app.config["MINIAPP_SECRET"], openid, ts), expect=200)
        return Tenant(r.json["consumer_id"], r.json["token"], r.json)

    # --- catalogue and codes ---------------------------------------------------------------
    def product(self, brand, **fields) -> dict:
        body = {"sku": f"SKU{next(_seq)}", "name": "Fresh milk 1L", "price_fen": 1200, "cost_fen": 700}
        body.update(fields)
        return self.post("/api/v1/brand/products", body, who=brand, expect=201).json

    def batch(self, brand, product=None, quantity=10, activate=True, **fields) -> dict:
        product = product or self.product(brand, **({"gtin": "9506000134352"} if fields.get("format") == "gs1" else {}))
        body = {"product_id": product["id"], "quantity": quantity, "lot": "L2026A", "produced_on": "2026-11-01"}
        body.update(fields)
        batch = self.post("/api/v1/brand/batches", body, who=brand, expect=201).json
        if activate:
            self.post(f"/api/v1/brand/batches/{batch['id']}/activate", {}, who=brand, expect=200)
        batch["product"] = product
        return batch

    def codes(self, brand, batch, first=None, last=None) -> list[dict]:
        query = []
        if first is not None:
            query.append(f"from={first}")
        if last is not None:
            query.append(f"to={last}")
        path = f"/api/v1/brand/batches/{batch['id']}/codes.csv" + ("?" + "&".join(query) if query else "")
        r = self.get(path, who=brand, expect=200)
        lines = r.get_data(as_text=True).splitlines()
        assert lines[0] == "serial,token,url"
        rows = []
        for line in lines[1:]:
            serial, token, url = line.split(",", 2)
            rows.append({"serial": int(serial), "token": token, "url": url})
        return rows


def deposit(api: Api, brand: Tenant, amount_fen: int, reference: str | None = None, expect: int | None = 201):
    """Deposit into a brand's budget through the admin API (a fresh bank reference unless given); the response."""
    reference = reference or f"bank-{next(_seq)}"
    return api.post(
        f"/api/v1/admin/brands/{brand.id}/deposits",
        {"amount_fen": amount_fen, "reference": reference},
        who=api.admin,
        expect=expect,
    )


def scan_campaign(
    api: Api,
    brand: Tenant,
    product_ids: list[str],
    tiers: list[dict] | None = None,
    budget_fen: int = 100_000,
    **fields,
) -> dict:
    """A live scan-reward campaign; by default every scan wins a 5-yuan brand coupon."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    every_scan_wins = [{"probability": 1.0, "reward": {"kind": "brand_coupon", "value_fen": 500, "valid_days": 30}}]
    body = {
        "type": "scan_reward",
        "name": "Scan and win",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(days=30)).isoformat(),
        "product_ids": product_ids,
        "budget_fen": budget_fen,
        "tiers": tiers or every_scan_wins,
    }
    body.update(fields)
    return api.post("/api/v1/brand/campaigns", body, who=brand, expect=201).json


def scan(api: Api, consumer: Tenant, code: str, expect: int | None = 200, **fields):
    return api.post("/api/v1/scans", {"code": code, **fields}, who=consumer, expect=expect)


def notify_payment(
    api: Api,
    order: dict,
    transaction_id: str | None = None,
    amount_fen: int | None = None,
    secret: str | None = None,
    expect: int | None = None,
):
    """What the payment provider sends: the raw JSON body signed with the webhook secret."""
    import json as _json

    body = _json.dumps(
        {
            "order_id": order["id"],
            "transaction_id": transaction_id or f"tx-{order['id']}",
            "amount_fen": order["amount_fen"] if amount_fen is None else amount_fen,
            "status": "paid",
        }
    ).encode()
    key = (secret or api.app.config["PAYMENT_WEBHOOK_SECRET"]).encode()
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    r = api.client.post(
        "/api/v1/payments/notify", data=body, headers={"X-Signature": signature, "Content-Type": "application/json"}
    )
    return Api._check(r, expect)


def refund_order(api: Api, consumer: Tenant, store: Tenant, order: dict, amount_fen: int | None = None) -> dict:
    """The consumer asks for a refund and the store approves it (jobs run inline or synchronously in
    tests, so the provider has paid it by the time this returns): the order as the consumer sees it."""
    body = {"reason": "damaged on delivery"} | ({} if amount_fen is None else {"amount_fen": amount_fen})
    refund = api.post(f"/api/v1/orders/{order['id']}/refund", body, who=consumer, expect=202).json["refund"]
    api.post(f"/api/v1/store/refunds/{refund['id']}/approve", {}, who=store, expect=200)
    return api.get(f"/api/v1/orders/{order['id']}", who=consumer, expect=200).json


# --- every error answer in the suite holds to the documented error schema ---------------------------
_error_validators: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def documented_error_validator(app):
    """A JSON Schema validator for the `Error` component of the app's own OpenAPI document."""
    validator = _error_validators.get(app)
    if validator is None:
        from jsonschema import Draft4Validator

        spec = FlaskClient(app).get("/api/openapi.json").get_json()
        validator = Draft4Validator({"$ref": "#/components/schemas/Error", "components": spec["components"]})
        _error_validators[app] = validator
    return validator


def check_error_shape(app, response) -> None:
    """An error answer on an API path must parse as the document's error schema says."""
    if response.status_code < 400 or not response.request.path.startswith("/api/"):
        return
    if response.is_streamed and response.mimetype != "application/json":
        return
    body = response.get_json(silent=True)
    errors = sorted(documented_error_validator(app).iter_errors(body), key=str)
    assert not errors, (
        f"{response.request.method} {response.request.path} -> {response.status_code}: "
        f"{response.get_data(as_text=True)[:300]} does not match the documented Error schema: {errors[0].message}"
    )


class ErrorShapeCheckingClient(FlaskClient):
    """Flask's test client, checking every error answer against the documented error schema."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        check_error_shape(self.application, response)
        return response
