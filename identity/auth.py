"""Who is calling: admin key, brand or store API key (identity.credentials), or consumer session token.

Keys carry a prefix that names their kind (`bk_`, `sk_`, consumer tokens `ct_`), so a request
costs one indexed lookup at most. Every view asks for the role it needs and gets the entity.
A revoked key is refused from the next request on: nothing here remembers a key between requests.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

import db
from errors import Forbidden, Unauthorized
from identity import credentials
from identity.credentials import KeyUse
from identity.models import ApiKey, Brand, Store

log = logging.getLogger(__name__)

CONSUMER_TOKEN_MAX_AGE = 30 * 24 * 3600
VERIFIED_TOKENS_KEPT = 100_000


@dataclass(frozen=True, slots=True)
class SignedInConsumer:
    """The consumer a valid session token names. No row is read: the token is ours (signed,
    unexpired), it was issued after the consumer's row was written, and consumers are never deleted.
    (An ORM instance per request cost more than the rest of authentication on the scan path.)"""

    id: str


def _key_used(lookup) -> KeyUse | None:
    """Run a key lookup on the request's session and stamp the key's use. The stamp is committed at
    once, but only when the lookup began the session's transaction: authentication comes before the
    view's work, and a session already holding other work is never committed here (that request's
    use goes unstamped). A failed stamp is logged, never the request's failure."""
    session = db.get_session()
    fresh = not session.in_transaction()
    found = lookup(session)
    if found is not None and fresh:
        try:
            if credentials.touch(session, found):
                session.commit()
        except SQLAlchemyError:
            session.rollback()
            log.warning("could not record the use of API key %s", found.key_id, exc_info=True)
    return found


def store_for_key(key: str) -> KeyUse | None:
    """The store page's sign-in: the active store key this is (its use recorded), or None."""
    return _key_used(lambda session: credentials.find_key(session, key, only="store"))


def store_for_key_id(key_id: str) -> KeyUse | None:
    """The store page's later requests: the store of the key it signed in with, while that key is
    active (revoking the key signs the page out on its next request)."""
    return _key_used(lambda session: credentials.store_for_key_id(session, key_id))


def brand_for_key(key: str) -> KeyUse | None:
    """The brand dashboard's sign-in: the active brand key this is (its use recorded), or None."""
    return _key_used(lambda session: credentials.find_key(session, key, only="brand"))


def brand_for_key_id(key_id: str) -> KeyUse | None:
    """The brand dashboard's later requests: the brand of the key it signed in with, while that key
    is active (revoking the key signs the page out on its next request)."""

    def lookup(session):
        row = session.execute(
            select(Brand, ApiKey.last_used_at)
            .join(ApiKey, ApiKey.brand_id == Brand.id)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        ).first()
        return None if row is None else KeyUse("brand", key_id, row[0], row[1])

    return _key_used(lookup)


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Send 'Authorization: Bearer <key or token>'.")
    return secret.strip()


def _serializer() -> URLSafeTimedSerializer:
    """One per app: building it derives the signing key, which every consumer request would repeat."""
    found = current_app.extensions.get("consumer_tokens")
    if found is None:
        found = current_app.extensions["consumer_tokens"] = URLSafeTimedSerializer(
            current_app.config["SECRET_KEY"], salt="consumer-session"
        )
    return found


def _consumer_id(token: str):
    """The consumer id a token was signed for. Verified tokens are remembered per process with their
    signing time (a phone sends the same token with every scan), and a remembered one still expires
    on time. Raises itsdangerous' BadSignature / SignatureExpired."""
    known = current_app.extensions.setdefault("verified_consumer_tokens", {})
    found = known.get(token)
    if found is not None and 0 <= time.time() - found[1] <= CONSUMER_TOKEN_MAX_AGE:
        return found[0]
    consumer_id, signed_at = _serializer().loads(token, max_age=CONSUMER_TOKEN_MAX_AGE, return_timestamp=True)
    if len(known) >= VERIFIED_TOKENS_KEPT:
        known.clear()
    known[token] = (consumer_id, signed_at.timestamp())
    return consumer_id


def issue_consumer_token(consumer_id: str) -> str:
    return "ct_" + _serializer().dumps(consumer_id)


def _is_admin_secret(secret: str) -> bool:
    return hmac.compare_digest(secret.encode(), current_app.config["ADMIN_API_KEY"].encode())


def principal():
    """(role, entity) for the request, cached on g. Raises 401 for missing or unknown credentials."""
    if "principal" in g:
        return g.principal
    secret = _bearer()
    if secret.startswith(("bk_", "sk_")):
        key = _key_used(lambda session: credentials.find_key(session, secret))
        role, found = (key.role, key.owner) if key is not None else (None, None)
    elif secret.startswith("ct_"):
        role = "consumer"
        try:
            consumer_id = _consumer_id(secret[3:])
        except SignatureExpired:
            raise Unauthorized("The session token has expired; sign in again.") from None
        except BadSignature:
            raise Unauthorized() from None
        found = SignedInConsumer(consumer_id) if isinstance(consumer_id, str) else None
    elif _is_admin_secret(secret):
        role, found = "admin", True
    else:
        found = None
    if not found:
        raise Unauthorized()
    g.principal = (role, found)
    return g.principal


def _require(role: str):
    actual, entity = principal()
    if actual != role:
        raise Forbidden(f"This endpoint is for {role} credentials.")
    return entity


def require_admin() -> None:
    _require("admin")


def current_brand() -> Brand:
    return _require("brand")


def current_store() -> Store:
    return _require("store")


def current_consumer() -> SignedInConsumer:
    return _require("consumer")
