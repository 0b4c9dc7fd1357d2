"""Admins fund brands' budgets; brands read their balance."""

import pytest

from tests.factories import deposit
from tests.money import verify


def test_deposit_funds_the_brand_budget(api):
    brand = api.brand()
    r = deposit(api, brand, 50_000, "bank-2026-001")
    assert r.json["balance_fen"] == 50_000 and r.json["reference"] == "bank-2026-001"
    assert api.get("/api/v1/brand/balance", who=brand, expect=200).json == {
        "budget_fen": 50_000,
        "reserved_fen": 0,
        "revenue_fen": 0,
        "balance_fen": 50_000,
        "available_fen": 50_000,
        "deposited_fen": 50_000,
        "currency": "CNY",
        "campaigns": [],
    }


def test_the_same_reference_twice_is_one_deposit(api, app):
    brand = api.brand()
    first = deposit(api, brand, 50_000, "bank-1").json
    again = deposit(api, brand, 50_000, "bank-1").json
    assert again == first
    assert api.get("/api/v1/brand/balance", who=brand).json["balance_fen"] == 50_000
    assert verify(app) == []


def test_the_same_reference_with_another_amount_is_a_conflict_and_changes_nothing(api):
    brand = api.brand()
    deposit(api, brand, 50_000, "bank-1")
    r = deposit(api, brand, 60_000, "bank-1", expect=409)
    assert r.json["error"]["code"] == "idempotency_conflict" and "reference" in r.json["error"]["fields"]
    assert api.get("/api/v1/brand/balance", who=brand).json["balance_fen"] == 50_000


def test_deposits_add_up(api):
    brand = api.brand()
    deposit(api, brand, 100, "a")
    r = deposit(api, brand, 250, "b")
    assert r.json["balance_fen"] == 350


def test_the_same_reference_at_two_brands_is_two_deposits(api):
    one, two = api.brand(), api.brand()
    deposit(api, one, 100, "shared-ref")
    deposit(api, two, 200, "shared-ref")
    assert api.get("/api/v1/brand/balance", who=one).json["balance_fen"] == 100
    assert api.get("/api/v1/brand/balance", who=two).json["balance_fen"] == 200


def test_a_brand_sees_only_its_own_balance(api):
    rich, poor = api.brand(), api.brand()
    deposit(api, rich, 1_000_000)
    assert api.get("/api/v1/brand/balance", who=poor).json["balance_fen"] == 0


def test_depositing_to_an_unknown_brand_is_not_found(api):
    r = api.post(
        "/api/v1/admin/brands/br_nope/deposits", {"amount_fen": 100, "reference": "x"}, who=api.admin, expect=404
    )
    assert r.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount_fen": 0, "reference": "x"}, "amount_fen"),
        ({"amount_fen": -100, "reference": "x"}, "amount_fen"),
        ({"amount_fen": 1.5, "reference": "x"}, "amount_fen"),
        ({"amount_fen": "100", "reference": "x"}, "amount_fen"),
        ({"reference": "x"}, "amount_fen"),
        ({"amount_fen": 100}, "reference"),
        ({"amount_fen": 100, "reference": ""}, "reference"),
    ],
)
def test_bad_deposits_name_the_field_and_change_nothing(api, body, field):
    brand = api.brand()
    r = api.post(f"/api/v1/admin/brands/{brand.id}/deposits", body, who=api.admin, expect=422)
    assert field in r.json["error"]["fields"]
    assert api.get("/api/v1/brand/balance", who=brand).json["balance_fen"] == 0


def test_only_admins_deposit(api):
    brand = api.brand()
    store = api.store(partner_of=brand)
    body = {"amount_fen": 100, "reference": "x"}
    assert api.post(f"/api/v1/admin/brands/{brand.id}/deposits", body, who=brand).status_code == 403
    assert api.post(f"/api/v1/admin/brands/{brand.id}/deposits", body, who=store).status_code == 403
    assert api.post(f"/api/v1/admin/brands/{brand.id}/deposits", body).status_code == 401
    assert api.get("/api/v1/brand/balance", who=brand).json["balance_fen"] == 0


def test_brand_balance_needs_a_brand_key(api):
    store = api.store()
    assert api.get("/api/v1/brand/balance", who=store).status_code == 403
    assert api.get("/api/v1/brand/balance").status_code == 401
