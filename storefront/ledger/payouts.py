"""Payouts: a store (or a consumer, its referral earnings) asks for part of its available balance
and the provider pays it. The owner is named by (owner_type, owner_id): ("store", id) or
("consumer", id); each payout row carries it in store_id or consumer_id.

States (PayoutStatus): requested -> processing -> paid | failed.

- Request: the amount moves available -> in_transit at once (ledger transfer "payout_request"),
  in the same transaction that records the payout, so a store can never ask twice for one fen.
- Run (admin endpoint, the "payouts" sweep): each requested payout is *claimed* by a conditional
  UPDATE (status requested, or processing with an expired lease) that writes a fresh claim token
  and commits; only the claimant calls the provider, with the payout id as idempotency key.
- Finish: in one transaction, a conditional UPDATE (still processing, still our token) marks it
  paid or failed, and the ledger moves in_transit -> paid_out ("payout_paid") or back to
  available ("payout_failed"), each with a key derived from the payout id.

A worker killed anywhere leaves the payout either requested (claim not committed) or processing
with a lease; once the lease (PAYOUT_LEASE_SECONDS, passed in by the job) runs out the next run
claims it again, and the provider's idempotency answers with the first outcome, so nothing is paid
twice and no money is lost. A provider that is unavailable puts the payout back to requested.

The run commits step by step (claim, provider, finish), so it opens its own sessions
(db.session_scope, for the app the job runs in) instead of taking the caller's.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import db
from db import new_id, utcnow
from errors import Forbidden, IdempotencyConflict, InsufficientFunds, NotFound, invalid
from pagination import keyset_page
from storefront.ledger import settlement, transfers
from storefront.ledger.models import LedgerKind, Payout, PayoutStatus
from storefront.ledger.providers import PayoutProvider, PayoutResult, ProviderUnavailable

log = logging.getLogger(__name__)

REQUESTED, PROCESSING, PAID, FAILED = (
    PayoutStatus.REQUESTED,
    PayoutStatus.PROCESSING,
    PayoutStatus.PAID,
    PayoutStatus.FAILED,
)
_TABLE = Payout.__table__
# The states each status may follow (the only way a payout's status changes is `_move`).
_FROM = {PROCESSING: (REQUESTED, PROCESSING), REQUESTED: (PROCESSING,), PAID: (PROCESSING,), FAILED: (PROCESSING,)}


def _move(session: Session, payout_id: str, to: PayoutStatus, *where, returning=(), **values):
    """Conditional UPDATE to `to` from the states it may follow (and `where`); the won row, or None."""
    stmt = (
        update(_TABLE)
        .where(_TABLE.c.id == payout_id, _TABLE.c.status.in_(_FROM[to]), *where)
        .values(status=to, **values)
        .returning(_TABLE.c.id, *returning)
    )
    return session.execute(stmt).first()


# --- the store's side ------------------------------------------------------------------------


def _owner_column(owner_type: str):
    return Payout.consumer_id if owner_type == "consumer" else Payout.store_id


def _owner(payout) -> tuple[str, str]:
    return ("store", payout.store_id) if payout.store_id else ("consumer", payout.consumer_id)


def request_payout(
    session: Session,
    store_id: str,
    amount_fen: int,
    *,
    min_fen: int,
    request_key: str | None = None,
    owner_type: str = "store",
) -> Payout:
    """Reserve `amount_fen` of the store's (or, owner_type "consumer", the consumer's) available
    balance for a payout; commits.

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
    payout = Payout(
        id=new_id("po"),
        store_id=store_id if owner_type == "store" else None,
        consumer_id=store_id if owner_type == "consumer" else None,
        amount_fen=amount_fen,
        status=REQUESTED,
        request_key=scoped_key,
        attempts=0,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            transfers.transfer(
                session,
                (owner_type, store_id, "available"),
                (owner_type, store_id, "in_transit"),
                amount_fen,
                key=f"payout:{payout.id}:request",
                kind=LedgerKind.PAYOUT_REQUEST,
                reference=payout.id,
            )
            session.add(payout)
            session.flush()
    except IntegrityError:
        existing = session.scalar(select(Payout).where(Payout.request_key == scoped_key)) if scoped_key else None
        if existing is None:
            raise
        return _same_request(existing, amount_fen)
    except InsufficientFunds:
        raise PayoutRefused(**settlement.what_becomes_available(session, store_id, owner_type)) from None
    session.commit()
    return payout


class PayoutRefused(InsufficientFunds):
    """More than the store has available: says how much it has, and when more becomes available."""

    def __init__(self, available_fen: int, held_fen: int, pending_fen: int, next_fen: int, next_at):
        self.available_fen, self.held_fen, self.next_fen, self.next_at = available_fen, held_fen, next_fen, next_at
        parts = [f"{available_fen} fen is available to pay out now"]
        if held_fen:
            parts.append(f"{held_fen} fen more is held for open refund requests")
        if next_fen:
            parts.append(
                f"{next_fen} fen of the {pending_fen} fen pending becomes available at "
                f"{next_at.isoformat(timespec='seconds')}Z"
            )
        reason = "; ".join(parts) + "."
        super().__init__(f"Not enough available balance: {reason}", fields={"amount_fen": [reason]})


def _same_request(existing: Payout, amount_fen: int) -> Payout:
    if existing.amount_fen != amount_fen:
        raise IdempotencyConflict("This Idempotency-Key was already used for a payout of another amount.")
    return existing


def list_payouts(session: Session, store_id: str, limit: int, cursor: str | None, owner_type: str = "store"):
    query = select(Payout).where(_owner_column(owner_type) == store_id)
    return keyset_page(session, query, [Payout.created_at, Payout.id], limit, cursor)


def own_payout(session: Session, store_id: str, payout_id: str, owner_type: str = "store") -> Payout:
    payout = session.get(Payout, payout_id)
    if payout is None:
        raise NotFound("No such payout.")
    if _owner(payout) != (owner_type, store_id):
        raise Forbidden(f"This payout belongs to another {owner_type}.")
    return payout


# --- the platform's side: paying them ----------------------------------------------------------


def _lease_over(now: datetime, lease_seconds: int):
    """A payout nobody holds: requested, or processing under a lease that ran out."""
    return or_(
        _TABLE.c.status == REQUESTED,
        and_(_TABLE.c.status == PROCESSING, _TABLE.c.claimed_at < now - timedelta(seconds=lease_seconds)),
    )


def due_payout_ids(lease_seconds: int, limit: int = 500) -> list[str]:
    now = utcnow()
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(Payout.id)
                .where(_lease_over(now, lease_seconds))
                .order_by(Payout.created_at, Payout.id)
                .limit(limit)
            )
        )


def run_payouts(provider: PayoutProvider, *, lease_seconds: int, limit: int = 500) -> dict[str, int]:
    """Pay every claimable payout once; returns counts by outcome. Safe to run twice or concurrently."""
    counts = {PAID: 0, FAILED: 0, "retry": 0, "skipped": 0}
    for payout_id in due_payout_ids(lease_seconds, limit):
        outcome = process_payout(provider, payout_id, lease_seconds=lease_seconds)
        counts[outcome if outcome in counts else "skipped"] += 1
    return counts


def _claim(payout_id: str, provider_name: str, lease_seconds: int):
    """Take the payout for processing, or None when someone else has it (or it is done). Commits."""
    now, token = utcnow(), secrets.token_hex(8)
    with db.session_scope() as session:
        row = _move(
            session,
            payout_id,
            PROCESSING,
            _lease_over(now, lease_seconds),
            returning=(_TABLE.c.store_id, _TABLE.c.consumer_id, _TABLE.c.amount_fen),
            claim_token=token,
            claimed_at=now,
            attempts=_TABLE.c.attempts + 1,
            provider=provider_name,
        )
    return None if row is None else (token, row.store_id or row.consumer_id, row.amount_fen)


def process_payout(provider: PayoutProvider, payout_id: str, *, lease_seconds: int) -> str:
    """Claim, pay through the provider, finish. Returns paid | failed | retry | skipped."""
    claim = _claim(payout_id, provider.name, lease_seconds)
    if claim is None:
        return "skipped"
    token, store_id, amount_fen = claim
    try:
        result = provider.pay(
            idempotency_key=payout_id, payee=store_id, amount_fen=amount_fen, description=f"Payout {payout_id}"
        )
    except ProviderUnavailable as exc:
        log.warning("payout %s: provider unavailable (%s); retrying on the next run", payout_id, exc)
        with db.session_scope() as session:
            _move(session, payout_id, REQUESTED, _TABLE.c.claim_token == token, claim_token=None)
        return "retry"
    return finish_payout(payout_id, token, result)


def finish_payout(payout_id: str, token: str, result: PayoutResult) -> str:
    """Record the provider's answer and move the money, atomically, if our claim still holds."""
    status = PAID if result.succeeded else FAILED
    with db.session_scope() as session:
        done = _move(
            session,
            payout_id,
            status,
            _TABLE.c.claim_token == token,
            provider_ref=result.provider_ref,
            failure_reason=result.reason,
            finished_at=utcnow(),
            claim_token=None,
        )
        if done is None:
            return "skipped"  # another run re-claimed it after our lease ran out and finishes it
        payout = session.get(Payout, payout_id)
        to, kind = ("paid_out", LedgerKind.PAYOUT_PAID) if status == PAID else ("available", LedgerKind.PAYOUT_FAILED)
        owner_type, owner_id = _owner(payout)
        transfers.transfer(
            session,
            (owner_type, owner_id, "in_transit"),
            (owner_type, owner_id, to),
            payout.amount_fen,
            key=f"payout:{payout_id}:{status}",
            kind=kind,
            reference=payout_id,
        )
    return status
