"""Brands' and stores' API keys: several each, created, listed, revoked at once everywhere (the store
page included), stamped with their last use."""

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

import db
from bench.support import all_at_once
from identity.models import ApiKey
from tests.factories import Tenant, auth


def keys_of(api, who, **query) -> dict:
    path = "/api/v1/{}/api-keys".format("brand" if who.key.startswith("bk_") else "store")
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return api.get(path, who=who, expect=200).json


def new_key(api, who, label=None) -> Tenant:
    role = "brand" if who.key.startswith("bk_") else "store"
    body = api.post(f"/api/v1/{role}/api-keys", {"label": label} if label else {}, who=who, expect=201).json
    return Tenant(who.id, body["api_key"], body)


def revoke(api, who, key_id):
    role = "brand" if who.key.startswith("bk_") else "store"
    return api.client.delete(f"/api/v1/{role}/api-keys/{key_id}", headers=who.headers)


def when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.removesuffix("Z"))


@pytest.mark.parametrize("role", ["brand", "store"])
def test_a_second_key_works_and_its_secret_is_shown_only_once(api, role):
    owner = api.brand() if role == "brand" else api.store()
    second = new_key(api, owner, label="till 2")
    assert second.key.startswith("bk_" if role == "brand" else "sk_") and second.key != owner.key
    listed = keys_of(api, second)
    assert [k["label"] for k in listed["items"]] == ["till 2", None]  # newest first; the onboarding key
    text = str(listed)
    assert second.key not in text and owner.key not in text and "hash" not in text
    assert set(listed["items"][0]) == {"id", "label", "created_at", "last_used_at", "revoked_at"}


def test_keys_are_stored_only_as_their_digest(api, app):
    brand = api.brand()
    with db.session_scope(app) as session:
        row = session.scalars(select(ApiKey).where(ApiKey.brand_id == brand.id)).one()
        assert re.fullmatch(r"[0-9a-f]{64}", row.key_hash) and brand.key not in (row.key_hash, row.id)


def test_the_list_pages_through_every_key_newest_first(api):
    brand = api.brand()
    made = [new_key(api, brand, label=f"k{i}").data["id"] for i in range(4)]
    first = keys_of(api, brand, limit=3)
    second = keys_of(api, brand, limit=3, cursor=first["next_cursor"])
    ids = [k["id"] for k in first["items"] + second["items"]]
    assert ids[:4] == made[::-1] and len(ids) == 5 and second["next_cursor"] is None


@pytest.mark.parametrize("role", ["brand", "store"])
def test_a_revoked_key_is_refused_from_the_next_request_on(api, role):
    owner = api.brand() if role == "brand" else api.store()
    second = new_key(api, owner)
    r = revoke(api, second, _onboarding_key_id(api, second))
    assert r.status_code == 200 and r.json["revoked_at"] is not None
    r = api.get(f"/api/v1/{role}/api-keys", who=owner)
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    listed = keys_of(api, second)["items"]
    assert [k["revoked_at"] is not None for k in listed] == [False, True]


def test_revoking_a_revoked_key_again_changes_nothing(api):
    brand = api.brand()
    second = new_key(api, brand)
    first_id = _onboarding_key_id(api, second)
    once = revoke(api, second, first_id).json
    again = revoke(api, second, first_id)
    assert again.status_code == 200 and again.json["revoked_at"] == once["revoked_at"]


def test_the_last_active_key_cannot_be_revoked(api):
    brand = api.brand()
    only = keys_of(api, brand)["items"][0]["id"]
    r = revoke(api, brand, only)
    assert r.status_code == 409 and r.json["error"]["code"] == "last_key"
    keys_of(api, brand)  # still signed in


def test_no_one_revokes_or_lists_another_principals_key(api):
    brand, other, store = api.brand(), api.brand(), api.store()
    spare = new_key(api, brand)
    victim = _onboarding_key_id(api, spare)
    assert revoke(api, other, victim).status_code == 404
    assert revoke(api, store, victim).status_code == 404
    assert api.client.delete(f"/api/v1/store/api-keys/{victim}", headers=brand.headers).status_code == 403
    assert {k["id"] for k in keys_of(api, other)["items"]}.isdisjoint({victim, spare.data["id"]})
    api.get("/api/v1/brand/api-keys", who=brand, expect=200)  # the victim's key still works


def test_an_operator_issues_a_key_to_a_brand_that_lost_its_own(api):
    brand, store = api.brand(), api.store()
    for owner, role in ((brand, "brands"), (store, "stores")):
        issued = api.post(f"/api/v1/admin/{role}/{owner.id}/api-keys", who=api.admin).json
        listed = keys_of(api, Tenant(owner.id, issued["api_key"]))["items"]  # the new key works for its owner
        assert issued["id"] in {k["id"] for k in listed} and len(listed) == 2
    assert api.post(f"/api/v1/admin/brands/{brand.id}/api-keys", who=brand).status_code == 403
    assert api.post("/api/v1/admin/brands/br_nope/api-keys", who=api.admin).status_code == 404
    assert len(keys_of(api, brand)["items"]) == 2  # the refused requests issued nothing


def test_a_label_is_checked(api):
    brand = api.brand()
    r = api.post("/api/v1/brand/api-keys", {"label": "x" * 101}, who=brand, expect=422)
    assert "label" in r.json["error"]["fields"]


def test_last_use_is_stamped_at_most_once_a_minute(api, app):
    brand = api.brand()
    stamped = when(keys_of(api, brand)["items"][0]["last_used_at"])
    assert stamped is not None  # the list request itself used the key
    keys_of(api, brand)
    assert when(keys_of(api, brand)["items"][0]["last_used_at"]) == stamped  # no write a request
    with db.session_scope(app) as session:
        session.execute(
            update(ApiKey).where(ApiKey.brand_id == brand.id).values(last_used_at=stamped - timedelta(minutes=2))
        )
    assert when(keys_of(api, brand)["items"][0]["last_used_at"]) > stamped - timedelta(seconds=1)


def test_two_revocations_racing_for_the_last_two_keys_leave_one_key_working(app, api):
    brand = api.brand()
    second = new_key(api, brand)
    first_id, second_id = _onboarding_key_id(api, second), second.data["id"]
    # each revokes the other's key with its own
    plan = [(second, first_id), (brand, second_id)]

    def send(i, client):
        who, key_id = plan[i]
        return client.delete(f"/api/v1/brand/api-keys/{key_id}", headers=who.headers).status_code

    results = all_at_once(2, lambda i: app.test_client(), send)
    assert 200 in results and set(results) <= {200, 401, 409}, results
    with db.session_scope(app) as session:
        active = session.scalars(select(ApiKey.id).where(ApiKey.brand_id == brand.id, ApiKey.revoked_at.is_(None)))
        assert len(list(active)) == 1


# --- the store page ---------------------------------------------------------------------------------
def _csrf(client) -> str:
    page = client.get("/store").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def _sign_in_page(client, key: str):
    return client.post("/store/login", data={"csrf": _csrf(client), "key": key})


def test_the_store_page_session_holds_the_keys_id_not_the_key_or_the_store(api, app):
    store = api.store()
    client = app.test_client()
    assert _sign_in_page(client, store.key).status_code == 303
    with client.session_transaction() as page_session:
        assert page_session["key_id"] == keys_of(api, store)["items"][0]["id"]
        assert "store_id" not in page_session and store.key not in str(dict(page_session))


def test_revoking_the_key_signs_the_store_page_out_on_its_next_request(api, app):
    store = api.store()
    spare = new_key(api, store)
    client = app.test_client()
    _sign_in_page(client, store.key)
    assert 'data-testid="available"' in client.get("/store").get_data(as_text=True)
    revoke(api, spare, _onboarding_key_id(api, spare))
    page = client.get("/store").get_data(as_text=True)
    assert 'data-testid="available"' not in page and 'name="key"' in page
    r = client.post("/store/payouts", data={"csrf": _csrf(client), "amount": "1"})
    assert r.status_code == 303 and not api.get("/api/v1/store/payouts", who=spare, expect=200).json["items"]


def test_a_revoked_key_cannot_sign_the_store_page_in(api, app):
    store = api.store()
    spare = new_key(api, store)
    revoke(api, spare, _onboarding_key_id(api, spare))
    assert _sign_in_page(app.test_client(), store.key).status_code == 401


def test_a_brand_key_cannot_sign_the_store_page_in(api, app):
    assert _sign_in_page(app.test_client(), api.brand().key).status_code == 401


def test_a_store_page_cookie_from_before_keys_is_signed_out(api, app):
    store = api.store()
    client = app.test_client()
    with client.session_transaction() as page_session:
        page_session["store_id"] = store.id  # what the page kept before sessions were bound to a key
    assert 'name="key"' in client.get("/store").get_data(as_text=True)


def test_the_store_page_stamps_its_keys_last_use(api, app):
    store = api.store()
    client = app.test_client()
    _sign_in_page(client, store.key)
    with db.session_scope(app) as session:
        session.execute(update(ApiKey).where(ApiKey.store_id == store.id).values(last_used_at=None))
    client.get("/store")
    with db.session_scope(app) as session:
        assert session.scalar(select(ApiKey.last_used_at).where(ApiKey.store_id == store.id)) is not None


def _onboarding_key_id(api, who) -> str:
    """The id of the principal's oldest key (the one its onboarding answer carried)."""
    return keys_of(api, who)["items"][-1]["id"]


def test_bearer_keys_of_either_kind_never_pass_as_the_other(api):
    brand, store = api.brand(), api.store()
    assert api.get("/api/v1/store/api-keys", who=brand).status_code == 403
    assert api.get("/api/v1/brand/api-keys", who=store).status_code == 403
    # a store's secret under the brand prefix, and a brand's under the store prefix, is no key at all
    assert api.get("/api/v1/brand/api-keys", who=auth("bk_" + store.key[3:])).status_code == 401
    assert api.get("/api/v1/store/api-keys", who=auth("sk_" + brand.key[3:])).status_code == 401
