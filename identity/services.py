"""Onboarding brands, stores and consumers, and the partner network."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import insert_ignore, new_id
from errors import NotFound, Unauthorized
from identity.auth import hash_key, issue_consumer_token, new_api_key
from identity.models import Brand, Consumer, Partnership, Store


def create_brand(session: Session, name: str) -> dict:
    key = new_api_key("bk")
    brand = Brand(id=new_id("br"), name=name, key_hash=hash_key(key))
    session.add(brand)
    session.commit()
    return {"id": brand.id, "name": brand.name, "api_key": key}


def create_store(
    session: Session, name: str, lat: float, lng: float, region_code: str, owner_phone: str | None = None
) -> dict:
    key = new_api_key("sk")
    store = Store(
        id=new_id("st"),
        name=name,
        lat=lat,
        lng=lng,
        region_code=region_code,
        owner_phone=owner_phone,
        key_hash=hash_key(key),
    )
    session.add(store)
    session.commit()
    return {"id": store.id, "name": store.name, "region_code": region_code, "api_key": key}


def sign_in_consumer(session: Session, openid: str, signature_ok: bool) -> dict:
    if not signature_ok:
        raise Unauthorized("The openid signature does not verify.")
    insert_ignore(session, Consumer.__table__, [{"id": new_id("cs"), "openid": openid}], ["openid"])
    consumer = session.scalar(select(Consumer).where(Consumer.openid == openid))
    session.commit()
    return {"token": issue_consumer_token(consumer.id), "consumer_id": consumer.id}


def add_partner(session: Session, brand_id: str, store_id: str) -> dict:
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound("No such store.", fields={"store_id": ["No store with this id."]})
    insert_ignore(
        session, Partnership.__table__, [{"brand_id": brand_id, "store_id": store.id}], ["brand_id", "store_id"]
    )
    session.commit()
    return {"brand_id": brand_id, "store_id": store.id, "store_name": store.name, "region_code": store.region_code}


def is_partner(session: Session, brand_id: str, store_id: str) -> bool:
    return (
        session.scalar(select(Partnership.id).where(Partnership.brand_id == brand_id, Partnership.store_id == store_id))
        is not None
    )


def list_partners(session: Session, brand_id: str) -> list[dict]:
    rows = session.execute(
        select(Store)
        .join(Partnership, Partnership.store_id == Store.id)
        .where(Partnership.brand_id == brand_id)
        .order_by(Store.name)
    ).scalars()
    return [{"brand_id": brand_id, "store_id": s.id, "store_name": s.name, "region_code": s.region_code} for s in rows]
