"""Brands' and stores' API keys: several per principal, created (the secret shown once, its SHA-256
kept), listed, revoked at once everywhere, and stamped with when each was last used.

A principal is `("brand", brand_id)` or `("store", store_id)`. A key's prefix names its kind (`bk_`,
`sk_`), so authenticating costs one indexed lookup. The last active key of a principal cannot be
revoked (409 `last_key`): a brand rotates by creating a new key, switching over, then revoking the
old one, and is never locked out by a slip; an operator can still issue a key to a principal that
lost all of its own (`issue_key`, the admin endpoints).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from db import new_id, utcnow
from errors import Conflict, NotFound
from identity.models import ApiKey, Brand, Store
from pagination import keyset_page

PREFIXES = {"brand": "bk", "store": "sk"}
OWNERS = {"brand": Brand, "store": Store}
MAX_ACTIVE_KEYS = 20
TOUCH_INTERVAL = timedelta(minutes=1)  # last_used_at moves at most once a minute per key


class LastKey(Conflict):
    code = "last_key"
    message = "This is the last active key; create another key before revoking it."


class TooManyKeys(Conflict):
    code = "too_many_keys"
    message = f"At most {MAX_ACTIVE_KEYS} keys may be active at once; revoke one first."


@dataclass(frozen=True, slots=True)
class KeyUse:
    """An active key that matched a request: whose it is and when it was last stamped."""

    role: str
    key_id: str
    owner: Brand | Store
    last_used_at: datetime | None


def new_secret(role: str) -> str:
    return f"{PREFIXES[role]}_{secrets.token_urlsafe(30)}"


def hash_key(key: str) -> str:
    """API keys are 240-bit random strings: a plain SHA-256 is a safe, indexable digest."""
    return hashlib.sha256(key.encode()).hexdigest()


def _owner_column(role: str):
    return ApiKey.brand_id if role == "brand" else ApiKey.store_id


def add_key(session: Session, role: str, owner_id: str, label: str | None = None) -> dict:
    """A new key row for the principal (flushed, not committed): `{id, api_key}`, the only time the
    secret is seen."""
    secret = new_secret(role)
    key = ApiKey(id=new_id("ak"), key_hash=hash_key(secret), label=label, **{f"{role}_id": owner_id})
    session.add(key)
    session.flush()
    return {"id": key.id, "api_key": secret, "label": label, "created_at": key.created_at}


def create_key(session: Session, role: str, owner_id: str, label: str | None = None) -> dict:
    """POST /{brand,store}/api-keys: one more key for the signed-in principal."""
    _lock_owner(session, role, owner_id)
    active = session.scalar(
        select(func.count()).select_from(ApiKey).where(_owner_column(role) == owner_id, ApiKey.revoked_at.is_(None))
    )
    if active >= MAX_ACTIVE_KEYS:
        raise TooManyKeys()
    created = add_key(session, role, owner_id, label)
    session.commit()
    return created


def issue_key(session: Session, role: str, owner_id: str) -> dict:
    """The operator's recovery: a new key for a brand or store that lost its own (admin endpoints)."""
    if session.get(OWNERS[role], owner_id) is None:
        raise NotFound(f"No such {role}.")
    created = add_key(session, role, owner_id, label="issued by the operator")
    session.commit()
    return created


def list_keys(session: Session, role: str, owner_id: str, limit: int, cursor: str | None):
    """The principal's keys, newest first, revoked ones included (never a secret or its hash)."""
    query = select(ApiKey).where(_owner_column(role) == owner_id)
    return keyset_page(session, query, [ApiKey.created_at, ApiKey.id], limit, cursor)


def revoke_key(session: Session, role: str, owner_id: str, key_id: str) -> ApiKey:
    """DELETE /{brand,store}/api-keys/{id}: refused from the next request on, everywhere. Another
    principal's key is 404; revoking a revoked key again changes nothing; the last active key is 409.

    One conditional UPDATE decides (the key is still active and is not the last one), after the
    owner's row is locked on PostgreSQL so that two revocations of a principal's last two keys run
    one after the other (SQLite runs every write one after the other anyway)."""
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, _owner_column(role) == owner_id))
    if key is None:
        raise NotFound("No such API key.")
    if key.revoked_at is not None:
        return key
    _lock_owner(session, role, owner_id)
    others_active = (
        select(func.count())
        .select_from(ApiKey)
        .where(_owner_column(role) == owner_id, ApiKey.revoked_at.is_(None), ApiKey.id != key_id)
        .scalar_subquery()
    )
    done = session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None), others_active > 0)
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        session.rollback()
        key = session.get(ApiKey, key_id)
        if key is not None and key.revoked_at is not None:  # revoked meanwhile by another request
            return key
        raise LastKey()
    session.commit()
    session.refresh(key)
    return key


def _lock_owner(session: Session, role: str, owner_id: str) -> None:
    model = OWNERS[role]
    found = session.scalar(select(model.id).where(model.id == owner_id).with_for_update())
    if found is None:
        raise NotFound(f"No such {role}.")


def find_key(session: Session, secret: str, only: str | None = None) -> KeyUse | None:
    """The active key this secret is (of the role `only`, if given), or None (unknown, revoked,
    another role's, or not a key at all)."""
    role = next((r for r, prefix in PREFIXES.items() if secret.startswith(prefix + "_")), None)
    if role is None or only not in (None, role):
        return None
    model = OWNERS[role]
    row = session.execute(
        select(model, ApiKey.id, ApiKey.last_used_at)
        .join(ApiKey, _owner_column(role) == model.id)
        .where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else KeyUse(role, row[1], row[0], row[2])


def store_for_key_id(session: Session, key_id: str) -> KeyUse | None:
    """The store of an active store key, by the key's id (the store page's session holds the id)."""
    row = session.execute(
        select(Store, ApiKey.last_used_at)
        .join(ApiKey, ApiKey.store_id == Store.id)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else KeyUse("store", key_id, row[0], row[1])


def touch(session: Session, use: KeyUse, now: datetime | None = None) -> bool:
    """Stamp last_used_at, at most once a minute per key: nothing at all when the stamp read with the
    key is recent, else one conditional UPDATE (of the requests that race past the read, one writes).
    True if the UPDATE ran (the caller commits it)."""
    now = now or utcnow()
    if use.last_used_at is not None and now - use.last_used_at < TOUCH_INTERVAL:
        return False
    session.execute(
        update(ApiKey)
        .where(ApiKey.id == use.key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - TOUCH_INTERVAL))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return True
