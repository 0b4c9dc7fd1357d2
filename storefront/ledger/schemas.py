"""The money endpoints' schemas: deposits, balances, the store's statement and payouts."""

from marshmallow import Schema, fields, validate

from schemas import Text, UtcDateTime


class DepositIn(Schema):
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**12))
    reference = Text(
        required=True,
        validate=validate.Length(1, 200),
        metadata={"description": "the bank or payment reference; one deposit per reference"},
    )


class DepositOut(Schema):
    transfer_id = fields.String()
    amount_fen = fields.Integer()
    reference = fields.String()
    balance_fen = fields.Integer()


class BrandBalanceOut(Schema):
    balance_fen = fields.Integer(metadata={"description": "the campaign budget: deposits less what was spent"})
    reserved_fen = fields.Integer(metadata={"description": "held by pending transfers"})
    available_fen = fields.Integer(metadata={"description": "balance_fen - reserved_fen: what can still be spent"})
    deposited_fen = fields.Integer()
    currency = fields.String()


class StoreBalanceOut(Schema):
    pending_fen = fields.Integer(metadata={"description": "earned, waiting for the refund window"})
    available_fen = fields.Integer(metadata={"description": "can be paid out now"})
    in_transit_fen = fields.Integer(metadata={"description": "payouts requested, not yet paid"})
    paid_out_fen = fields.Integer(metadata={"description": "paid to the store so far"})
    currency = fields.String()


class LedgerEntryOut(Schema):
    id = fields.String()
    at = UtcDateTime(metadata={"description": "ISO 8601 UTC"})
    kind = fields.String(metadata={"description": "deposit, payout_request, payout_paid, payout_failed, ..."})
    amount_fen = fields.Integer(metadata={"description": "credit positive, debit negative"})
    account = fields.String(metadata={"description": "pending, available, in_transit or paid_out"})
    balance_after_fen = fields.Integer()
    reference = fields.String(allow_none=True)
    transfer_id = fields.String()


class PayoutIn(Schema):
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**12))


class PayoutOut(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "requested, processing, paid or failed"})
    amount_fen = fields.Integer()
    created_at = UtcDateTime()
    finished_at = UtcDateTime(allow_none=True)
    failure_reason = fields.String(allow_none=True)


class PayoutRunOut(Schema):
    job_id = fields.String()
    status = fields.String(metadata={"description": "queued, or finished when jobs run inline"})
    result = fields.Dict(allow_none=True)
