"""Per-brand signing keys: created on first need, encrypted at rest, rotated, revoked."""

from __future__ import annotations

import os
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from codes import catalog
from codes.models import SigningKey
from codes.tokens import MAX_KEY_ID
from db import utcnow
from errors import Conflict, NotFound
from pagination import keyset_page
from settings import master_key_bytes

_cache: dict[int, tuple[str, bytes]] = {}  # key_id -> (brand_id, secret); secrets are immutable
_lock = threading.Lock()


def _master() -> AESGCM:
    key = master_key_bytes(current_app.config["CODE_MASTER_KEY"])
    if key is None:
        raise RuntimeError("CODE_MASTER_KEY must be 32 bytes, base64url encoded")
    return AESGCM(key)


def _aad(brand_id: str, key_id: int) -> bytes:
    return f"signing-key:{brand_id}:{key_id}".encode()


def create_key(session: Session, brand_id: str) -> SigningKey:
    row = SigningKey(brand_id=brand_id, ciphertext=b"", nonce=b"")
    session.add(row)
    session.flush()
    if row.id > MAX_KEY_ID:
        raise RuntimeError("signing key ids exhausted")
    secret, nonce = os.urandom(32), os.urandom(12)
    row.nonce = nonce
    row.ciphertext = _master().encrypt(nonce, secret, _aad(brand_id, row.id))
    return row


def current_key(session: Session, brand_id: str) -> SigningKey:
    """The newest unrevoked key, created on first need."""
    row = session.scalar(
        select(SigningKey)
        .where(SigningKey.brand_id == brand_id, SigningKey.revoked_at.is_(None))
        .order_by(SigningKey.id.desc())
        .limit(1)
    )
    return row or create_key(session, brand_id)


def secret_for(session: Session, key_id: int) -> tuple[str, bytes] | None:
    """(brand_id, secret) for a key id, decrypted once per process; None for an unknown id."""
    cached = _cache.get(key_id)
    if cached:
        return cached
    row = session.get(SigningKey, key_id)
    if row is None or not row.ciphertext:
        return None
    try:
        secret = _master().decrypt(row.nonce, row.ciphertext, _aad(row.brand_id, row.id))
    except InvalidTag:
        raise RuntimeError(f"signing key {key_id} does not decrypt under CODE_MASTER_KEY") from None
    with _lock:
        _cache[key_id] = (row.brand_id, secret)
    return _cache[key_id]


def rotate(session: Session, brand_id: str) -> dict:
    row = create_key(session, brand_id)
    session.commit()
    return {"key_id": row.id, "created_at": row.created_at, "revoked_at": None}


def revoke(session: Session, brand_id: str, key_id: int) -> dict:
    row = session.get(SigningKey, key_id)
    if row is None or row.brand_id != brand_id:
        raise NotFound("No such key for this brand.")
    if row.revoked_at is not None:
        raise Conflict("This key is already revoked.")
    row.revoked_at = utcnow()
    catalog.bump(session, "keys")
    session.commit()
    return {"key_id": row.id, "created_at": row.created_at, "revoked_at": row.revoked_at}


def list_keys(session: Session, brand_id: str, limit: int, cursor: str | None):
    """The brand's signing keys, newest first, one keyset page: (keys, next_cursor)."""
    query = select(SigningKey).where(SigningKey.brand_id == brand_id)
    return keyset_page(session, query, [SigningKey.id], limit, cursor)
