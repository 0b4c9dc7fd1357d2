"""The commerce endpoints' schemas: receipts, orders, payment notices, split rules, rebates, diversion."""

from marshmallow import Schema, fields, validate

from pagination import Cursor
from schemas import Text, UtcDateTime
from storefront.models import OrderStatus
from storefront.payments.models import RefundStatus


class CodeIn(Schema):
    code = Text(
        required=True,
        validate=validate.Length(1, 2048),
        metadata={"example": "https://qr.example.com/c/AQAAAQAAAAAAGSRPphdZUpHe"},
    )


class ReceiptOut(Schema):
    receipt_id = fields.String(metadata={"example": "rc_71e323b4fc2c32dc1c2c"})
    case_serial = fields.Integer(metadata={"example": 10001})
    bound_items = fields.Integer(metadata={"example": 6})
    rebate_fen = fields.Integer(metadata={"example": 120})
    diversion = fields.Boolean(metadata={"example": False})
    already_received = fields.Boolean(metadata={"example": False})


class OrderLineIn(Schema):
    product_id = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "pr_d10460933cb42a0f58bb"})
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 999), metadata={"example": 2})


class OrderIn(Schema):
    store_id = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "st_227f286d7a79724b92b2"})
    items = fields.List(fields.Nested(OrderLineIn), required=True, validate=validate.Length(1, 50))
    coupon_id = Text(
        load_default=None, validate=validate.Length(1, 32), metadata={"example": "cu_c5e05f5eac52f3ae30d4"}
    )


class OrderOut(Schema):
    id = fields.String(metadata={"example": "or_676f7445c47f17c00773"})
    status = fields.String(metadata={"example": "pending_payment"})
    store_id = fields.String(metadata={"example": "st_227f286d7a79724b92b2"})
    brand_id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    items = fields.List(
        fields.Dict(),
        metadata={
            "example": [
                {
                    "product_id": "pr_d10460933cb42a0f58bb",
                    "name": "光明鲜牛奶 1L",
                    "quantity": 2,
                    "unit_price_fen": 1590,
                    "line_fen": 3180,
                }
            ]
        },
    )
    subtotal_fen = fields.Integer(metadata={"example": 3180})
    discount_fen = fields.Integer(metadata={"example": 500})
    amount_fen = fields.Integer(metadata={"example": 2680})
    coupon_id = fields.String(allow_none=True, metadata={"example": "cu_c5e05f5eac52f3ae30d4"})
    created_at = UtcDateTime(metadata={"example": "2026-03-01T02:31:05.118204Z"})
    expires_at = UtcDateTime(metadata={"example": "2026-03-01T03:01:05.118204Z"})
    paid_at = UtcDateTime(allow_none=True, metadata={"example": None})
    refunded_at = UtcDateTime(allow_none=True, metadata={"example": None})
    refunded_fen = fields.Integer(metadata={"example": 0, "description": "what succeeded refunds gave back"})
    group_id = fields.String(
        allow_none=True, metadata={"example": None, "description": "the group-buy group this order holds a seat in"}
    )
    refunds = fields.List(
        fields.Nested(lambda: RefundOut()), metadata={"description": "one order's own: its refunds, oldest first"}
    )


class NoticeIn(Schema):
    order_id = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "or_676f7445c47f17c00773"})
    transaction_id = Text(
        required=True, validate=validate.Length(1, 64), metadata={"example": "4200001234202603011234567890"}
    )
    amount_fen = fields.Integer(
        required=True, strict=True, validate=validate.Range(0, 10**12), metadata={"example": 2680}
    )
    status = fields.String(required=True, validate=validate.Equal("paid"), metadata={"example": "paid"})


class NoticeOut(Schema):
    order_id = fields.String(metadata={"example": "or_676f7445c47f17c00773"})
    status = fields.String(metadata={"example": "paid"})
    replay = fields.Boolean(metadata={"example": False})
    refund_id = fields.String(
        allow_none=True,
        metadata={
            "example": None,
            "description": "a payment that could no longer be applied (its order expired, was cancelled or "
            "paid already) is refunded to the payer by this system refund",
        },
    )


class SplitRuleIn(Schema):
    product_id = Text(
        load_default=None, validate=validate.Length(1, 32), metadata={"example": "pr_d10460933cb42a0f58bb"}
    )
    store_percent = fields.Float(required=True, validate=validate.Range(0, 100), metadata={"example": 80.0})
    platform_percent = fields.Float(required=True, validate=validate.Range(0, 100), metadata={"example": 5.0})
    referrer_percent = fields.Float(load_default=0, validate=validate.Range(0, 100), metadata={"example": 3.0})
    referrer2_percent = fields.Float(load_default=0, validate=validate.Range(0, 100), metadata={"example": 1.0})


class SplitRuleOut(Schema):
    id = fields.String(metadata={"example": "1"})
    product_id = fields.String(allow_none=True, metadata={"example": "pr_d10460933cb42a0f58bb"})
    store_percent = fields.Float(metadata={"example": 80.0})
    platform_percent = fields.Float(metadata={"example": 5.0})
    referrer_percent = fields.Float(metadata={"example": 3.0})
    referrer2_percent = fields.Float(metadata={"example": 1.0})
    brand_percent = fields.Float(metadata={"example": 11.0})
    created_at = UtcDateTime(metadata={"example": "2026-02-28T07:30:00.517312Z"})


class DailyTier(Schema):
    min_items = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**6), metadata={"example": 100})
    per_item_fen = fields.Integer(
        required=True, strict=True, validate=validate.Range(0, 10**6), metadata={"example": 30}
    )


class RebatePolicyIn(Schema):
    per_scan_fen = fields.Integer(
        required=True, strict=True, validate=validate.Range(0, 10**6), metadata={"example": 10}
    )
    per_receipt_item_fen = fields.Integer(
        required=True, strict=True, validate=validate.Range(0, 10**6), metadata={"example": 20}
    )
    daily_tiers = fields.List(fields.Nested(DailyTier), load_default=None, validate=validate.Length(max=20))


class RebatePolicyOut(Schema):
    per_scan_fen = fields.Integer(metadata={"example": 10})
    per_receipt_item_fen = fields.Integer(metadata={"example": 20})
    daily_tiers = fields.List(fields.Dict(), metadata={"example": [{"min_items": 100, "per_item_fen": 30}]})
    created_at = UtcDateTime(allow_none=True, metadata={"example": "2026-02-28T07:35:00.366650Z"})


class StoreReceiptOut(Schema):
    """A case the store received."""

    receipt_id = fields.String(attribute="id", metadata={"example": "rc_71e323b4fc2c32dc1c2c"})
    brand_id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    case_serial = fields.Integer(metadata={"example": 10001})
    bound_items = fields.Integer(attribute="items", metadata={"example": 6})
    rebate_fen = fields.Integer(metadata={"example": 120})
    diversion = fields.Boolean(metadata={"example": False})
    at = UtcDateTime(metadata={"example": "2026-03-01T01:40:12.372331Z"})


class OrderListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(list(OrderStatus)))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)


# --- refunds ----------------------------------------------------------------------------------------
class RefundIn(Schema):
    reason = Text(required=True, validate=validate.Length(1, 200), metadata={"example": "牛奶包装破损"})
    amount_fen = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(1, 10**12),
        metadata={"example": 1590, "description": "default: all that is left of the order"},
    )


class RefundOut(Schema):
    id = fields.String(metadata={"example": "rf_0a4c1d9e7b3f5a2c8e61"})
    order_id = fields.String(metadata={"example": "or_676f7445c47f17c00773"})
    store_id = fields.String(metadata={"example": "st_227f286d7a79724b92b2"})
    status = fields.String(
        metadata={
            "example": "requested",
            "enum": ["requested", "approved", "processing", "succeeded", "failed", "rejected"],
        }
    )
    amount_fen = fields.Integer(metadata={"example": 1590})
    reason = fields.String(metadata={"example": "牛奶包装破损"})
    system = fields.Boolean(metadata={"example": False, "description": "a refund we owe (no one asked for it)"})
    decided_by = fields.String(allow_none=True, metadata={"example": None, "enum": ["store", "auto", "system", None]})
    note = fields.String(allow_none=True, metadata={"example": None})
    attempts = fields.Integer(metadata={"example": 0, "description": "requests sent to the payment provider"})
    last_error = fields.String(allow_none=True, metadata={"example": None})
    requested_at = UtcDateTime(metadata={"example": "2026-03-02T01:00:00Z"})
    decided_at = UtcDateTime(allow_none=True, metadata={"example": None})
    finished_at = UtcDateTime(allow_none=True, metadata={"example": None})
    auto_approve_at = UtcDateTime(
        allow_none=True,
        metadata={"example": "2026-03-04T01:00:00Z", "description": "undecided until then, it is approved"},
    )


class AdminRefundOut(RefundOut):
    consumer_id = fields.String(metadata={"example": "cn_5d1b8e0f2a3c4d6e7f80"})
    transaction_id = fields.String(metadata={"example": "4200001234202603011234567890"})


class RefundAccepted(Schema):
    refund = fields.Nested(RefundOut)


class DecisionIn(Schema):
    note = Text(load_default=None, validate=validate.Length(1, 200), metadata={"example": "已核实，同意退款"})


class RefundListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in RefundStatus]))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)
