"""HTTP for BC-linked commerce: receipts, orders, payment notices, split rules, rebates, diversion."""
from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from db import get_session, isoformat
from identity.auth import current_brand, current_consumer, current_store
from pagination import ListArgs, keyset_page
from storefront import orders, payments, rebates, receipts
from storefront.models import DiversionAlert

bp = Blueprint("commerce", __name__, url_prefix="/api/v1", description="Receipts, orders, payments, splits, rebates")


class CodeIn(Schema):
    code = fields.String(required=True, validate=validate.Length(1, 2048))


class ReceiptOut(Schema):
    receipt_id = fields.String()
    case_serial = fields.Integer()
    bound_items = fields.Integer()
    rebate_fen = fields.Integer()
    diversion = fields.Boolean()
    already_received = fields.Boolean()


class OrderLineIn(Schema):
    product_id = fields.String(required=True, validate=validate.Length(1, 32))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 999))


class OrderIn(Schema):
    store_id = fields.String(required=True, validate=validate.Length(1, 32))
    items = fields.List(fields.Nested(OrderLineIn), required=True, validate=validate.Length(1, 50))
    coupon_id = fields.String(load_default=None, validate=validate.Length(1, 32))


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
    created_at = fields.String()
    expires_at = fields.String()
    paid_at = fields.String(allow_none=True)
    refunded_at = fields.String(allow_none=True)


class NoticeOut(Schema):
    order_id = fields.String()
    status = fields.String()
    replay = fields.Boolean()


class SplitRuleIn(Schema):
    product_id = fields.String(load_default=None, validate=validate.Length(1, 32))
    store_percent = fields.Float(required=True, validate=validate.Range(0, 100))
    platform_percent = fields.Float(required=True, validate=validate.Range(0, 100))
    referrer_percent = fields.Float(load_default=0, validate=validate.Range(0, 100))
    referrer2_percent = fields.Float(load_default=0, validate=validate.Range(0, 100))


class SplitRuleOut(Schema):
    id = fields.Integer()
    product_id = fields.String(allow_none=True)
    store_percent = fields.Float()
    platform_percent = fields.Float()
    referrer_percent = fields.Float()
    referrer2_percent = fields.Float()
    brand_percent = fields.Float()
    created_at = fields.String()


class DailyTier(Schema):
    min_items = fields.Integer(required=True, strict=True, validate=validate.Range(1))
    per_item_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**6))


class RebatePolicyIn(Schema):
    per_scan_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**6))
    per_receipt_item_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**6))
    daily_tiers = fields.List(fields.Nested(DailyTier), load_default=None, validate=validate.Length(max=20))


class RebatePolicyOut(Schema):
    per_scan_fen = fields.Integer()
    per_receipt_item_fen = fields.Integer()
    daily_tiers = fields.List(fields.Dict())
    created_at = fields.DateTime(allow_none=True)


class AlertOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    serial = fields.Integer()
    batch_id = fields.String()
    store_id = fields.String(allow_none=True)
    expected_regions = fields.List(fields.String())
    seen_region = fields.String(allow_none=True)
    distributor = fields.String(allow_none=True)
    at = fields.String()


class AlertPage(Schema):
    items = fields.List(fields.Nested(AlertOut))
    next_cursor = fields.String(allow_none=True)


@bp.route("/store/receipts")
class Receipts(MethodView):
    @bp.arguments(CodeIn)
    @bp.response(200, ReceiptOut)
    def post(self, body):
        """Receive a case: bind its items to this store, earn the receipt rebate once, flag diversion."""
        return receipts.receive_case(get_session(), current_store(), body["code"])


@bp.route("/orders")
class Orders(MethodView):
    @bp.arguments(OrderIn)
    @bp.response(201, OrderOut)
    def post(self, body):
        """Order through a partner store; prices from the catalogue; an optional coupon is held."""
        session = get_session()
        order = orders.create_order(session, current_consumer(), body["store_id"], body["items"], body["coupon_id"])
        return orders.describe(order)


@bp.route("/orders/<order_id>")
class OrderResource(MethodView):
    @bp.response(200, OrderOut)
    def get(self, order_id):
        return orders.describe(orders.own_order(get_session(), current_consumer(), order_id))


@bp.route("/orders/<order_id>/refund")
class OrderRefund(MethodView):
    @bp.response(200, OrderOut)
    def post(self, order_id):
        """Refund a paid order in full: every share is reversed (see storefront.settlement)."""
        return orders.describe(orders.refund(get_session(), current_consumer(), order_id))


@bp.route("/payments/notify")
class PaymentNotify(MethodView):
    @bp.response(200, NoticeOut)
    def post(self):
        """The payment provider's signed notice (X-Signature: hex HMAC-SHA256 of the raw body)."""
        return payments.handle_notice(get_session(), request.get_data(cache=True), request.headers.get("X-Signature"))


@bp.route("/brand/split-rules")
class SplitRules(MethodView):
    @bp.arguments(SplitRuleIn)
    @bp.response(201, SplitRuleOut)
    def post(self, body):
        """Set how paid orders are shared (percentages; the brand keeps the rest); per product or default."""
        return orders.describe_rule(orders.set_split_rule(get_session(), current_brand(), **body))


@bp.route("/brand/rebate-policy")
class RebatePolicy(MethodView):
    @bp.arguments(RebatePolicyIn)
    @bp.response(201, RebatePolicyOut)
    def post(self, body):
        """Set store incentives: per-scan commission, per-item receipt rebate, daily volume tiers."""
        return rebates.describe_policy(rebates.set_policy(get_session(), current_brand(), **body))

    @bp.response(200, RebatePolicyOut)
    def get(self):
        brand = current_brand()
        return rebates.describe_policy(rebates.current_policy(get_session(), brand.id))


@bp.route("/brand/diversion-alerts")
class DiversionAlerts(MethodView):
    @bp.arguments(ListArgs, location="query")
    @bp.response(200, AlertPage)
    def get(self, args):
        """Goods seen outside their assigned regions, with the evidence, newest first."""
        brand, session = current_brand(), get_session()
        rows, cursor = keyset_page(session, select(DiversionAlert).where(DiversionAlert.brand_id == brand.id),
                                   [DiversionAlert.id], args["limit"], args["cursor"], lambda a: [a.id])
        return {"items": [{"id": a.id, "kind": a.kind, "serial": a.serial, "batch_id": a.batch_id,
                           "store_id": a.store_id, "expected_regions": a.expected_regions,
                           "seen_region": a.seen_region, "distributor": a.distributor, "at": isoformat(a.at)}
                          for a in rows], "next_cursor": cursor}
