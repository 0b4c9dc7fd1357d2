"""Onboarding brands, stores and consumers, and the partner network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import insert_ignore, new_id
from errors import NotFound
from identity import credentials, logins
from identity.auth import CONSUMER_TOKEN_MAX_AGE, issue_consumer_token
from identity.models import Brand, Partnership, Store
from pagination import keyset_page


def create_brand(session: Session, name: str) -> dict:
    """A brand and its first API key (shown only in this answer)."""
    brand = Brand(id=new_id("br"), name=name)
    session.add(brand)
    session.flush()
    key = credentials.add_key(session, "brand", brand.id)
    session.commit()
    return {"id": brand.id, "name": brand.name, "api_key": key["api_key"]}


def create_store(
    session: Session, name: str, lat: float, lng: float, region_code: str, owner_phone: str | None = None
) -> dict:
    """A store and its first API key (shown only in this answer)."""
    store = Store(id=new_id("st"), name=name, lat=lat, lng=lng, region_code=region_code, owner_phone=owner_phone)
    session.add(store)
    session.flush()
    key = credentials.add_key(session, "store", store.id)
    session.commit()
    return {"id": store.id, "name": store.name, "region_code": region_code, "api_key": key["api_key"]}


def sign_in_consumer(session: Session, miniapp_secret: str, openid: str, ts: int, signature: str) -> dict:
    """POST /auth/consumer: a one-time login proof (identity.logins) for a session token."""
    consumer_id = logins.sign_in(session, miniapp_secret, openid, ts, signature)
    signed_at = datetime.now(UTC).replace(microsecond=0)  # the token's own timestamp is whole seconds
    token = issue_consumer_token(consumer_id)
    return {
        "token": token,
        "consumer_id": consumer_id,
        "expires_at": signed_at + timedelta(seconds=CONSUMER_TOKEN_MAX_AGE),
    }


def add_partner(session: Session, brand_id: str, store_id: str) -> dict:
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound("No such store.", fields={"store_id": ["No store with this id."]})
    insert_ignore(
        session, Partnership.__table__, [{"brand_id": brand_id, "store_id": store.id}], ["brand_id", "store_id"]
    )
    session.commit()
    return {"brand_id": brand_id, "store_id": store.id, "store_name": store.name, "region_code": store.region_code}


def list_brands(session: Session, limit: int, cursor: str | None):
    """Every brand, newest first, one keyset page: (brands, next_cursor). Never a key or its hash."""
    query = select(Brand)
    return keyset_page(session, query, [Brand.created_at, Brand.id], limit, cursor)


def list_stores(session: Session, limit: int, cursor: str | None):
    """Every store, newest first, one keyset page: (stores, next_cursor). Never a key or its hash."""
    query = select(Store)
    return keyset_page(session, query, [Store.created_at, Store.id], limit, cursor)


def is_partner(session: Session, brand_id: str, store_id: str) -> bool:
    return (
        session.scalar(select(Partnership.id).where(Partnership.brand_id == brand_id, Partnership.store_id == store_id))
        is not None
    )


def list_partners(session: Session, brand_id: str, limit: int, cursor: str | None):
    """The brand's partner stores, the latest to join first, one keyset page: (items, next_cursor)."""
    query = select(Partnership).where(Partnership.brand_id == brand_id)
    rows, next_cursor = keyset_page(session, query, [Partnership.id], limit, cursor)
    stores = {s.id: s for s in session.scalars(select(Store).where(Store.id.in_([p.store_id for p in rows])))}
    items = [
        {
            "brand_id": brand_id,
            "store_id": p.store_id,
            "store_name": stores[p.store_id].name,
            "region_code": stores[p.store_id].region_code,
        }
        for p in rows
    ]
    return items, next_cursor
