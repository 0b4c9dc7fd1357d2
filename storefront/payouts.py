"""Store payouts: a store asks for part of its available balance and the provider pays it.

States: requested -> processing -> paid | failed.

- Request: the amount moves available -> in_transit at once (ledger transfer "payout_request"),
  in the same transaction that records the payout, so a store can never ask twice for one fen.
- Run (admin endpoint, the "payouts" sweep): each requested payout is *claimed* by a conditional
  UPDATE (status requested, or processing with an expired lease) that writes a fresh claim token
  and commits; only the claimant calls the provider, with the payout id as idempotency key.
- Finish: in one transaction, a conditional UPDATE (still processing, still our token) marks it
  paid or failed, and the ledger moves in_transit -> paid_out ("payout_paid") or back to
  available ("payout_failed"), each with a key derived from the payout id.

A worker killed anywhere leaves the payout either requested (claim not committed) or processing
with a lease; once the lease (PAYOUT_LEASE_SECONDS, default 300) runs out the next run claims it
again, and the provider's idempotency answers with the first outcome, so nothing is paid twice and
no money is lost. A provider that is unavailable puts the payout back to requested.
"""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import Flask
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import db
from db import new_id, utcnow
from errors import Forbidden, IdempotencyConflict, NotFound, invalid
from pagination import keyset_page
from storefront import ledger
from storefront.models import Payout
from storefront.providers import PayoutResult, ProviderUnavailable, get_provider

log = logging.getLogger(__name__)

REQUESTED, PROCESSING, PAID, FAILED = "requested", "processing", "paid", "failed"
DEFAULT_LEASE_SECONDS = 300


store_account = ledger.store_account


# --- the store's side ------------------------------------------------------------------------

def request_payout(session: Session, store_id: str, amount_fen: int, *, min_fen: int,
                   request_key: str | None = None) -> Payout:
    """Reserve `amount_fen` of the store's available balance for a payout; commits.

    `request_key` (a client's Idempotency-Key) makes a retried request return the first payout.
    """
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise invalid("amount_fen", "Must be a whole number of fen.")
    if amount_fen < min_fen:
        raise invalid("amount_fen", f"The smallest payout is {min_fen} fen (¥{min_fen / 100:.2f}).")
    scoped_key = f"{store_id}:{request_key}" if request_key else None
    if scoped_key:
        existing = session.scalar(select(Payout).where(Payout.request_key == scoped_key))
        if existing is not None:
            return _same_request(existing, amount_fen)
    payout = Payout(id=new_id("po"), store_id=store_id, amount_fen=amount_fen, status=REQUESTED,
                    request_key=scoped_key, attempts=0, created_at=utcnow())
    try:
        with session.begin_nested():
            ledger.transfer(session, store_account(store_id, "available"), store_account(store_id, "in_transit"),
                            amount_fen, key=f"payout:{payout.id}:request", kind="payout_request", reference=payout.id)
            session.add(payout)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(Payout).where(Payout.request_key == scoped_key)) if scoped_key else None
        if existing is None:
            raise
        return _same_request(existing, amount_fen)
    session.commit()
    return payout


def _same_request(existing: Payout, amount_fen: int) -> Payout:
    if existing.amount_fen != amount_fen:
        raise IdempotencyConflict("This Idempotency-Key was already used for a payout of another amount.")
    return existing


def list_payouts(session: Session, store_id: str, limit: int, cursor: str | None):
    query = select(Payout).where(Payout.store_id == store_id)
    return keyset_page(session, query, [Payout.created_at, Payout.id], limit, cursor,
                       lambda p: [p.created_at.isoformat(), p.id])


def own_payout(session: Session, store_id: str, payout_id: str) -> Payout:
    payout = session.get(Payout, payout_id)
    if payout is None:
        raise NotFound("No such payout.")
    if payout.store_id != store_id:
        raise Forbidden("This payout belongs to another store.")
    return payout


# --- the platform's side: paying them ----------------------------------------------------------

def _lease(app: Flask) -> timedelta:
    return timedelta(seconds=int(app.config.get("PAYOUT_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)))


def _claimable(now, lease: timedelta):
    return or_(Payout.status == REQUESTED, and_(Payout.status == PROCESSING, Payout.claimed_at < now - lease))


def due_payout_ids(app: Flask, limit: int = 500) -> list[str]:
    now = utcnow()
    with db.session_scope(app) as session:
        return list(session.scalars(select(Payout.id).where(_claimable(now, _lease(app)))
                                    .order_by(Payout.created_at, Payout.id).limit(limit)))


def run_payouts(app: Flask, limit: int = 500) -> dict[str, int]:
    """Pay every claimable payout once; returns counts by outcome. Safe to run twice or concurrently."""
    counts = {PAID: 0, FAILED: 0, "retry": 0, "skipped": 0}
    for payout_id in due_payout_ids(app, limit):
        outcome = process_payout(app, payout_id)
        counts[outcome if outcome in counts else "skipped"] += 1
    return counts


def _claim(app: Flask, payout_id: str, provider_name: str):
    """Take the payout for processing, or None when someone else has it (or it is done). Commits."""
    now, token = utcnow(), secrets.token_hex(8)
    stmt = (update(Payout.__table__)
            .where(Payout.__table__.c.id == payout_id, _claimable(now, _lease(app)))
            .values(status=PROCESSING, claim_token=token, claimed_at=now, attempts=Payout.__table__.c.attempts + 1,
                    provider=provider_name)
            .returning(Payout.__table__.c.store_id, Payout.__table__.c.amount_fen))
    with db.session_scope(app) as session:
        row = session.execute(stmt).first()
    return None if row is None else (token, row.store_id, row.amount_fen)


def process_payout(app: Flask, payout_id: str) -> str:
    """Claim, pay through the provider, finish. Returns paid | failed | retry | skipped."""
    provider = get_provider(app)
    claim = _claim(app, payout_id, provider.name)
    if claim is None:
        return "skipped"
    token, store_id, amount_fen = claim
    try:
        result = provider.pay(idempotency_key=payout_id, payee=store_id, amount_fen=amount_fen,
                              description=f"Store payout {payout_id}")
    except ProviderUnavailable as exc:
        log.warning("payout %s: provider unavailable (%s); retrying on the next run", payout_id, exc)
        with db.session_scope(app) as session:
            session.execute(update(Payout.__table__)
                            .where(Payout.__table__.c.id == payout_id, Payout.__table__.c.claim_token == token)
                            .values(status=REQUESTED, claim_token=None))
        return "retry"
    return finish_payout(app, payout_id, token, result)


def finish_payout(app: Flask, payout_id: str, token: str, result: PayoutResult) -> str:
    """Record the provider's answer and move the money, atomically, if our claim still holds."""
    status = PAID if result.succeeded else FAILED
    table = Payout.__table__
    with db.session_scope(app) as session:
        done = session.execute(
            update(table).where(table.c.id == payout_id, table.c.status == PROCESSING, table.c.claim_token == token)
            .values(status=status, provider_ref=result.provider_ref, failure_reason=result.reason,
                    finished_at=utcnow(), claim_token=None)).rowcount
        if done != 1:
            return "skipped"   # another run re-claimed it after our lease ran out and finishes it
        payout = session.get(Payout, payout_id)
        to = "paid_out" if status == PAID else "available"
        ledger.transfer(session, store_account(payout.store_id, "in_transit"), store_account(payout.store_id, to),
                        payout.amount_fen, key=f"payout:{payout_id}:{status}", kind=f"payout_{status}",
                        reference=payout_id)
    return status
