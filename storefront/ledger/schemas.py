"""The money endpoints' schemas: deposits, balances, the store's statement and payouts."""

from marshmallow import Schema, fields, validate

from schemas import Text, UtcDateTime


class DepositIn(Schema):
    amount_fen = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, 10**12), metadata={"example": 1000000}
    )
    reference = Text(
        required=True,
        validate=validate.Length(1, 200),
        metadata={
            "description": "the bank or payment reference; one deposit per reference",
            "example": "CMB-20260301-0002",
        },
    )


class DepositOut(Schema):
    transfer_id = fields.String(metadata={"example": "tr_1698d6209f38a6be284d"})
    amount_fen = fields.Integer(metadata={"example": 1000000})
    reference = fields.String(metadata={"example": "CMB-20260301-0002"})
    balance_fen = fields.Integer(metadata={"example": 6000000})


class StoreBalanceOut(Schema):
    pending_fen = fields.Integer(metadata={"description": "earned, waiting for the refund window", "example": 2774})
    available_fen = fields.Integer(metadata={"description": "can be paid out now", "example": 15820})
    in_transit_fen = fields.Integer(metadata={"description": "payouts requested, not yet paid", "example": 0})
    paid_out_fen = fields.Integer(metadata={"description": "paid to the store so far", "example": 50000})
    held_fen = fields.Integer(
        metadata={"description": "available money held for open refund requests (not in available_fen)", "example": 0}
    )
    next_available_fen = fields.Integer(
        metadata={"description": "pending money that becomes available next (0: none)", "example": 1200}
    )
    next_available_at = UtcDateTime(
        allow_none=True, metadata={"description": "when it does", "example": "2026-12-08T08:30:00Z"}
    )
    currency = fields.String(metadata={"example": "CNY"})


class LedgerEntryOut(Schema):
    """One line of a store's statement: one business event (one ledger transfer), however many of
    the store's accounts it moved money between."""

    id = fields.String(metadata={"description": "the ledger transfer's id", "example": "tr_01HZX3Q8R7K2M4N6P8"})
    at = UtcDateTime(metadata={"description": "ISO 8601 UTC", "example": "2026-12-01T08:30:00Z"})
    kind = fields.String(
        metadata={
            "description": "what happened: coupon_reimbursement, order_split, receipt_rebate, scan_commission, "
            "daily_rebate, order_refund, settlement, payout_request, payout_paid, payout_failed, ...",
            "example": "coupon_reimbursement",
        }
    )
    amount_fen = fields.Integer(
        metadata={
            "description": "what the event did to the store's own money (available + pending): an earning is "
            "positive, a refund or a payout request negative; a settlement (pending to available) and a paid "
            "payout (in transit to the bank; the request already took it off the balance) are 0, and a failed "
            "payout, its money back in available, is positive",
            "example": 500,
        }
    )
    available_change_fen = fields.Integer(
        metadata={"description": "the change to the available balance (what can be paid out)", "example": 0}
    )
    pending_change_fen = fields.Integer(
        metadata={"description": "the change to the pending balance (waiting for the refund window)", "example": 500}
    )
    in_transit_change_fen = fields.Integer(
        metadata={"description": "the change to the money in transit (payouts requested, not yet paid)", "example": 0}
    )
    paid_out_change_fen = fields.Integer(
        metadata={"description": "the change to what has been paid to the store's bank account", "example": 0}
    )
    reference = fields.String(
        allow_none=True,
        metadata={"description": "the coupon code, order, payout or campaign it was for", "example": "7KQ2M9XW4HBT"},
    )
    transfer_id = fields.String(
        metadata={
            "description": "the same as id (kept for clients written before one line per transfer)",
            "example": "tr_01HZX3Q8R7K2M4N6P8",
        }
    )


class PayoutIn(Schema):
    amount_fen = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, 10**12), metadata={"example": 10000}
    )


class PayoutOut(Schema):
    id = fields.String(metadata={"example": "po_3c8e1f0a9b7d2e4f6a10"})
    status = fields.String(metadata={"description": "requested, processing, paid or failed", "example": "requested"})
    amount_fen = fields.Integer(metadata={"example": 10000})
    created_at = UtcDateTime(metadata={"example": "2026-03-09T02:00:00.118204Z"})
    finished_at = UtcDateTime(allow_none=True, metadata={"example": None})
    failure_reason = fields.String(allow_none=True, metadata={"example": None})


class PayoutRunOut(Schema):
    job_id = fields.String(metadata={"example": "payouts-run-79b0c1c689c36fd7"})
    status = fields.String(metadata={"description": "queued, or finished when jobs run inline", "example": "finished"})
    result = fields.Dict(allow_none=True, metadata={"example": {"paid": 3, "failed": 0, "retry": 0, "skipped": 0}})
