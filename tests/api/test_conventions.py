"""API.md's conventions on every list and id: `{items, next_cursor}` pages with ?limit=&cursor=, each
tenant seeing only its own rows, ids as strings, times in UTC with a `Z`, JSON 404/405 on API paths."""

from __future__ import annotations

from tests.factories import Api


def walk(api: Api, path: str, who, limit: int = 1) -> list[dict]:
    """Every item of a list, one page of `limit` at a time, following next_cursor to the end."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        query = f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(query, who=who, expect=200).json
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_partners_are_a_page_of_the_brands_own_stores(api):
    brand, other = api.brand(), api.brand()
    first, second = api.store(partner_of=brand), api.store(partner_of=brand)
    api.store(partner_of=other)
    assert [p["store_id"] for p in walk(api, "/api/v1/brand/partners", brand)] == [second.id, first.id]
    assert walk(api, "/api/v1/brand/partners", api.brand()) == []


def test_signing_keys_are_a_page_newest_first(api):
    brand = api.brand()
    old = api.batch(brand, quantity=1)["key_id"]
    new = api.post("/api/v1/brand/keys/rotate", who=brand, expect=201).json["key_id"]
    keys = walk(api, "/api/v1/brand/keys", brand)
    assert [k["key_id"] for k in keys] == [new, old]
    assert walk(api, "/api/v1/brand/keys", api.brand()) == []


def test_the_blacklist_is_a_page_of_the_brands_own_entries(api):
    brand, other = api.brand(), api.brand()
    first, second = api.consumer(), api.consumer()
    for consumer in (first, second):
        api.post("/api/v1/brand/blacklist", {"consumer_id": consumer.id}, who=brand, expect=201)
    assert [b["consumer_id"] for b in walk(api, "/api/v1/brand/blacklist", brand)] == [second.id, first.id]
    assert walk(api, "/api/v1/brand/blacklist", other) == []
