"""The payment provider's refunds: the interface a real one (WeChat Pay's refund API) implements,
and a simulation that keeps its own books.

A refund request carries our refund id as its idempotency key (WeChat Pay's out_refund_no). The
provider pays a given key at most once: asking again answers with that first refund, which is what
lets a job that died after the provider paid, but before we recorded it, finish without paying twice.
A declined request is not final (as with WeChat Pay's abnormal refunds, the same key may be tried
again): the sweep retries it with backoff.

The simulated provider's books are the `simulated_charges` (payments it took, written when it sends
its notice: `charge_notice`) and `simulated_refunds` tables, each written in its own transaction, as
an outside system's records exist whatever happens to ours. Its switches, read by the refund job
at run time and passed in here:

- SIMULATED_REFUND_FAILURES: order ids (any collection) whose refunds it declines, or "*" for all.
- SIMULATED_REFUND_UNAVAILABLE: order ids, or "*": it raises ProviderUnavailable, recording nothing.
- SIMULATED_REFUND_DELAY_SECONDS: it records the refund, then takes this long to answer (a slow
  network, during which a worker may die).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func, select

import db
from locale_format import shanghai
from storefront.ledger.providers import ProviderUnavailable
from storefront.payments.models import SimulatedCharge, SimulatedRefund


def sign(body: bytes, secret: str) -> str:
    """A payment notice's X-Signature: hex HMAC-SHA256 of the raw body under the webhook secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class RefundResult:
    succeeded: bool
    provider_ref: str | None = None
    reason: str | None = None


class RefundProvider(Protocol):
    name: str

    def refund(
        self, *, idempotency_key: str, order_id: str, transaction_id: str, amount_fen: int, reason: str
    ) -> RefundResult:
        """Give `amount_fen` of payment `transaction_id` back to its payer, at most once per key.
        Raises ProviderUnavailable when the outcome is unknown (retry with the same key)."""
        ...


def _matches(setting, value: str) -> bool:
    """A switch: "*" (everything), a comma-separated string of ids, or a collection of ids."""
    if not setting:
        return False
    if isinstance(setting, str):
        return setting.strip() == "*" or value in {part.strip() for part in setting.split(",")}
    return value in setting


class SimulatedRefunds:
    name = "simulated"

    def __init__(
        self,
        failures: Collection[str] | str | None = None,
        unavailable: Collection[str] | str | None = None,
        delay_seconds: float = 0,
    ):
        self.failures, self.unavailable, self.delay_seconds = failures, unavailable, delay_seconds

    def refund(self, *, idempotency_key, order_id, transaction_id, amount_fen, reason) -> RefundResult:
        if _matches(self.unavailable, order_id):
            raise ProviderUnavailable("simulated provider outage")
        with db.session_scope() as session:  # the provider's own transaction, never the caller's
            done = session.get(SimulatedRefund, idempotency_key, with_for_update=True)
            if done is not None:
                done.calls += 1
                result = RefundResult(True, done.id)
            elif _matches(self.failures, order_id):
                return RefundResult(False, None, "declined by the simulated provider")
            else:
                charged = session.scalar(
                    select(SimulatedCharge.amount_fen).where(SimulatedCharge.transaction_id == transaction_id)
                )
                refunded = session.scalar(
                    select(func.coalesce(func.sum(SimulatedRefund.amount_fen), 0)).where(
                        SimulatedRefund.transaction_id == transaction_id
                    )
                )
                if charged is not None and refunded + amount_fen > charged:
                    return RefundResult(False, None, "more than the payment's unrefunded amount")
                ref = db.new_id("sr")
                db.insert_ignore(
                    session,
                    SimulatedRefund.__table__,
                    [
                        {
                            "idempotency_key": idempotency_key,
                            "id": ref,
                            "transaction_id": transaction_id,
                            "amount_fen": amount_fen,
                            "calls": 1,
                            "day": shanghai(db.utcnow()).date(),
                            "created_at": db.utcnow(),
                        }
                    ],
                    ["idempotency_key"],
                )
                result = RefundResult(True, ref)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        return result


PROVIDERS = {"simulated": SimulatedRefunds}


def get_refund_provider(name: str, *, failures=None, unavailable=None, delay_seconds: float = 0) -> RefundProvider:
    """The provider named by PAYMENT_PROVIDER; the simulated one takes its switches."""
    if name not in PROVIDERS:
        raise RuntimeError(f"unknown PAYMENT_PROVIDER {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    return PROVIDERS[name](failures=failures, unavailable=unavailable, delay_seconds=delay_seconds)


def charge_notice(order_id: str, amount_fen: int, transaction_id: str, secret: str) -> tuple[bytes, str]:
    """The simulated provider takes a consumer's payment for `order_id` (in its own books, once per
    transaction id) and returns the notice it sends us: (raw body, X-Signature)."""
    with db.session_scope() as session:
        db.insert_ignore(
            session,
            SimulatedCharge.__table__,
            [
                {
                    "transaction_id": transaction_id,
                    "order_id": order_id,
                    "amount_fen": amount_fen,
                    "day": shanghai(db.utcnow()).date(),
                    "created_at": db.utcnow(),
                }
            ],
            ["transaction_id"],
        )
    body = json.dumps(
        {"order_id": order_id, "transaction_id": transaction_id, "amount_fen": amount_fen, "status": "paid"}
    ).encode()
    return body, sign(body, secret)


def statement(day) -> list[dict]:
    """The simulated provider's statement for `day` (Asia/Shanghai): every payment and refund it made."""
    with db.session_scope() as session:
        charges = session.scalars(select(SimulatedCharge).where(SimulatedCharge.day == day))
        refunds = session.scalars(select(SimulatedRefund).where(SimulatedRefund.day == day))
        return [
            {"kind": "payment", "transaction_id": c.transaction_id, "order_id": c.order_id, "amount_fen": c.amount_fen}
            for c in charges
        ] + [
            {"kind": "refund", "transaction_id": r.idempotency_key, "order_id": None, "amount_fen": r.amount_fen}
            for r in refunds
        ]
