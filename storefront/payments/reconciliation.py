"""Daily reconciliation: our provider transactions of a day against the provider's statement.

Both sides are keyed by the provider's transaction id (payments) or our refund id (refunds, the
idempotency key the provider files them under), and a day is a day of Asia/Shanghai, as WeChat
Pay's statements are. Every difference is listed:

- missing_here: the provider took or paid money we have no record of (a notice that never came);
- missing_there: we recorded money the provider does not list (a forged notice would need the
  webhook secret; a refund we think succeeded would have to be chased);
- amount: both list it, with different amounts;
- not_applied: a payment both sides agree on that we did not honour or give back (a wrong amount,
  an unknown order): the money sits with the provider until an operator acts.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from storefront.payments.models import NoticeOutcome, ProviderTransaction

NOT_APPLIED = (NoticeOutcome.AMOUNT_MISMATCH, NoticeOutcome.UNKNOWN_ORDER, NoticeOutcome.RECEIVED)


def ours(session: Session, day: date) -> list[dict]:
    return [
        {
            "kind": t.kind,
            "transaction_id": t.transaction_id,
            "order_id": t.order_id,
            "amount_fen": t.amount_fen,
            "outcome": t.outcome,
        }
        for t in session.scalars(
            select(ProviderTransaction).where(ProviderTransaction.day == day).order_by(ProviderTransaction.received_at)
        )
    ]


def differences(our_rows: list[dict], their_rows: list[dict]) -> list[dict]:
    """Every way the two lists disagree (a pure function: rows as `ours` and the statement give them)."""
    mine = {(r["kind"], r["transaction_id"]): r for r in our_rows}
    theirs = {(r["kind"], r["transaction_id"]): r for r in their_rows}
    found = []
    for key, row in theirs.items():
        if key not in mine:
            found.append({"difference": "missing_here", **row, "ours_fen": None, "theirs_fen": row["amount_fen"]})
    for key, row in mine.items():
        other = theirs.get(key)
        if other is None:
            found.append({"difference": "missing_there", **row, "ours_fen": row["amount_fen"], "theirs_fen": None})
        elif other["amount_fen"] != row["amount_fen"]:
            found.append(
                {"difference": "amount", **row, "ours_fen": row["amount_fen"], "theirs_fen": other["amount_fen"]}
            )
        elif row.get("outcome") in NOT_APPLIED:
            found.append(
                {"difference": "not_applied", **row, "ours_fen": row["amount_fen"], "theirs_fen": other["amount_fen"]}
            )
    return found
