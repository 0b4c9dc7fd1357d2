"""Payout providers: the interface a real one (WeChat Pay transfers, a bank) implements, and a simulation.

A provider call carries an idempotency key (the payout id). Calling again with the same key must
not pay again: it answers with what happened the first time. That is what lets a payout job that
died after the provider paid, but before we recorded it, finish on the next run without paying twice.

The simulated provider keeps its own books in the `simulated_payments` table, written in its own
transaction (as an outside system's records would be). Its behaviour is switched by two settings
that the payout job reads at run time (so tests can flip them) and passes to `get_provider`:

- SIMULATED_PAYOUT_FAILURES: store ids (any collection) whose payouts it declines, or "*" for all.
  A declined payout is final for that key, as a real provider's rejected transfer is.
- SIMULATED_PAYOUT_UNAVAILABLE: store ids, or "*": it raises ProviderUnavailable (a timeout, an
  outage) and records nothing; the payout is retried on the next run.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

import db
from storefront.ledger.models import PaymentStatus, SimulatedPayment


@dataclass(frozen=True)
class PayoutResult:
    status: str  # PaymentStatus: "succeeded" | "failed" (final for this idempotency key)
    provider_ref: str
    reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == PaymentStatus.SUCCEEDED


class ProviderUnavailable(Exception):
    """The outcome is unknown (timeout, outage): retry later with the same idempotency key."""


class PayoutProvider(Protocol):
    name: str

    def pay(self, *, idempotency_key: str, payee: str, amount_fen: int, description: str) -> PayoutResult:
        """Pay `amount_fen` to `payee`, at most once per `idempotency_key`."""
        ...


def _matches(setting, payee: str) -> bool:
    if not setting:
        return False
    if setting == "*":
        return True
    return payee in setting


class SimulatedProvider:
    name = "simulated"

    def __init__(self, failures: Collection[str] | str | None = None, unavailable: Collection[str] | str | None = None):
        self.failures, self.unavailable = failures, unavailable

    def pay(self, *, idempotency_key: str, payee: str, amount_fen: int, description: str) -> PayoutResult:
        if _matches(self.unavailable, payee):
            raise ProviderUnavailable("simulated provider outage")
        declined = _matches(self.failures, payee)
        row = {
            "id": db.new_id("sp"),
            "idempotency_key": idempotency_key,
            "payee": payee,
            "amount_fen": amount_fen,
            "status": PaymentStatus.FAILED if declined else PaymentStatus.SUCCEEDED,
            "reason": "declined by the simulated provider" if declined else None,
            "created_at": db.utcnow(),
        }
        with db.session_scope() as session:  # the provider's own transaction, never the caller's
            db.insert_ignore(session, SimulatedPayment.__table__, [row], ["idempotency_key"])
            record = session.scalar(select(SimulatedPayment).where(SimulatedPayment.idempotency_key == idempotency_key))
            return PayoutResult(record.status, record.id, record.reason)


PROVIDERS = {"simulated": SimulatedProvider}


def get_provider(name: str, *, simulated_failures=None, simulated_unavailable=None) -> PayoutProvider:
    """The provider named by PAYOUT_PROVIDER; the simulated one takes its two switches."""
    if name not in PROVIDERS:
        raise RuntimeError(f"unknown PAYOUT_PROVIDER {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name](failures=simulated_failures, unavailable=simulated_unavailable)
