"""Consumer login: the mini-app platform's one-time login proof exchanged for a session token.

A proof is `{openid, ts, signature}` with signature = hex HMAC-SHA256(MINIAPP_SECRET, "{openid}.{ts}")
and ts in Unix seconds (the platform's login-code exchange, simulated like the payment provider).
It is refused (401) when the signature does not verify, when ts is more than MAX_AGE_SECONDS old or
more than FUTURE_SKEW_SECONDS ahead of our clock, or when it was used before. Single use is decided
by the database: the proof's signature is the primary key of login_proofs, inserted in the same
transaction that signs the consumer in, so of two requests racing with one proof exactly one wins.
A row is kept until the proof would be refused as too old anyway, then pruned by a sweep.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db import dialect_insert, insert_ignore, new_id, utcnow
from errors import Unauthorized
from identity.models import Consumer, LoginProof

MAX_AGE_SECONDS = 300
FUTURE_SKEW_SECONDS = 30
PRUNE_MARGIN = timedelta(seconds=60)  # clocks of the app servers and the sweeping worker may differ


class ProofRefused(Unauthorized):
    message = "The login proof was refused."


def proof_signature(secret: str, openid: str, ts: int) -> str:
    """What the mini-app platform signs: hex HMAC-SHA256(secret, "{openid}.{ts}")."""
    return hmac.new(secret.encode(), f"{openid}.{ts}".encode(), hashlib.sha256).hexdigest()


def check_proof(secret: str, openid: str, ts: int, signature: str, now: float) -> str:
    """The proof's canonical signature (lowercase hex) if it verifies and is fresh; else ProofRefused.
    Compared as bytes in constant time, so any text a client sends is a refusal, never an error."""
    expected = proof_signature(secret, openid, ts)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode("utf-8", "replace")):
        raise ProofRefused("The login proof does not verify.")
    if ts < now - MAX_AGE_SECONDS:
        raise ProofRefused(f"The login proof is older than {MAX_AGE_SECONDS} seconds; get a new one.")
    if ts > now + FUTURE_SKEW_SECONDS:
        raise ProofRefused("The login proof is dated in the future; check the signing clock.")
    return expected


def sign_in(session: Session, secret: str, openid: str, ts: int, signature: str, now: float | None = None) -> str:
    """Use the proof once and return the consumer's id (created on first login). Commits."""
    now = time.time() if now is None else now
    canonical = check_proof(secret, openid, ts, signature, now)
    expires_at = datetime.fromtimestamp(ts + MAX_AGE_SECONDS, UTC).replace(tzinfo=None)
    used = session.execute(
        dialect_insert(session, LoginProof.__table__)
        .values(signature=canonical, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["signature"])
        .returning(LoginProof.signature)
    ).first()
    if used is None:
        session.rollback()
        raise ProofRefused("This login proof was already used; get a new one.")
    insert_ignore(session, Consumer.__table__, [{"id": new_id("cs"), "openid": openid}], ["openid"])
    consumer_id = session.scalar(select(Consumer.id).where(Consumer.openid == openid))
    session.commit()
    return consumer_id


def prune(session: Session, now: datetime | None = None) -> int:
    """Forget proofs that would be refused as too old anyway (the sweep). Returns how many."""
    cutoff = (now or utcnow()) - PRUNE_MARGIN
    return session.execute(delete(LoginProof).where(LoginProof.expires_at < cutoff)).rowcount
