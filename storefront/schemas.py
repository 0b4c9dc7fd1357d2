"""The commerce endpoints' schemas: receipts, orders, payment notices, split rules, rebates, diversion."""

from marshmallow import Schema, fields, validate

from pagination import Cursor
from schemas import Text, UtcDateTime
from storefront.models import OrderStatus


class CodeIn(Schema):
    code = Text(required=True, validate=validate.Length(1, 2048))


class ReceiptOut(Schema):
    receipt_id = fields.String()
    case_serial = fields.Integer()
    bound_items = fields.Integer()
    rebate_fen = fields.Integer()
    diversion = fields.Boolean()
    already_received = fields.Boolean()


class OrderLineIn(Schema):
    product_id = Text(required=True, validate=validate.Length(1, 32))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 999))


class OrderIn(Schema):
    store_id = Text(required=True, validate=validate.Length(1, 32))
    items = fields.List(fields.Nested(OrderLineIn), required=True, validate=validate.Length(1, 50))
    coupon_id = Text(load_default=None, validate=validate.Length(1, 32))


class OrderOut(Schema):
    id = fields.String()
    status = fields.String()
    store_id = fields.String()
    brand_id = fields.String()
    items = fields.List(fields.Dict())
    subtotal_fen = fields.Integer()
    discount_fen = fields.Integer()
    amount_fen = fields.Integer()
    coupon_id = fields.String(allow_none=True)
    created_at = UtcDateTime()
    expires_at = UtcDateTime()
    paid_at = UtcDateTime(allow_none=True)
    refunded_at = UtcDateTime(allow_none=True)


class NoticeIn(Schema):
    order_id = Text(required=True, validate=validate.Length(1, 32))
    transaction_id = Text(required=True, validate=validate.Length(1, 64))
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**12))
    status = fields.String(required=True, validate=validate.Equal("paid"))


class NoticeOut(Schema):
    order_id = fields.String()
    status = fields.String()
    replay = fields.Boolean()


class SplitRuleIn(Schema):
    product_id = Text(load_default=None, validate=validate.Length(1, 32))
    store_percent = fields.Float(required=True, validate=validate.Range(0, 100))
    platform_percent = fields.Float(required=True, validate=validate.Range(0, 100))
    referrer_percent = fields.Float(load_default=0, validate=validate.Range(0, 100))
    referrer2_percent = fields.Float(load_default=0, validate=validate.Range(0, 100))


class SplitRuleOut(Schema):
    id = fields.String()
    product_id = fields.String(allow_none=True)
    store_percent = fields.Float()
    platform_percent = fields.Float()
    referrer_percent = fields.Float()
    referrer2_percent = fields.Float()
    brand_percent = fields.Float()
    created_at = UtcDateTime()


class DailyTier(Schema):
    min_items = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**6))
    per_item_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**6))


class RebatePolicyIn(Schema):
    per_scan_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**6))
    per_receipt_item_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**6))
    daily_tiers = fields.List(fields.Nested(DailyTier), load_default=None, validate=validate.Length(max=20))


class RebatePolicyOut(Schema):
    per_scan_fen = fields.Integer()
    per_receipt_item_fen = fields.Integer()
    daily_tiers = fields.List(fields.Dict())
    created_at = UtcDateTime(allow_none=True)


class AlertOut(Schema):
    id = fields.String()
    kind = fields.String()
    serial = fields.Integer()
    batch_id = fields.String()
    store_id = fields.String(allow_none=True)
    expected_regions = fields.List(fields.String())
    seen_region = fields.String(allow_none=True)
    distributor = fields.String(allow_none=True)
    at = UtcDateTime()


class StoreReceiptOut(Schema):
    """A case the store received."""

    receipt_id = fields.String(attribute="id")
    brand_id = fields.String()
    case_serial = fields.Integer()
    bound_items = fields.Integer(attribute="items")
    rebate_fen = fields.Integer()
    diversion = fields.Boolean()
    at = UtcDateTime()


class OrderListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(list(OrderStatus)))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)
