"""HTTP for BC-linked commerce: receipts, orders, payment notices, split rules, rebates, diversion."""

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from db import get_session
from errors import fails
from identity.auth import current_brand, current_consumer, current_store
from pagination import ListArgs, page_of
from storefront import orders, payments, rebates, receipts
from storefront.schemas import (
    AlertOut,
    CodeIn,
    NoticeIn,
    NoticeOut,
    OrderIn,
    OrderListArgs,
    OrderOut,
    RebatePolicyIn,
    RebatePolicyOut,
    ReceiptOut,
    SplitRuleIn,
    SplitRuleOut,
    StoreReceiptOut,
)

bp = Blueprint("commerce", __name__, url_prefix="/api/v1", description="Receipts, orders, payments, splits, rebates")


@bp.route("/store/receipts")
class Receipts(MethodView):
    @bp.arguments(CodeIn)
    @bp.response(200, ReceiptOut)
    @fails(401, 403, 409)
    def post(self, body):
        """Receive a case: bind its items to this store, earn the receipt rebate once, flag diversion."""
        return receipts.receive_case(
            get_session(),
            current_store().id,
            body["code"],
            settle_delay_seconds=current_app.config["SETTLEMENT_DELAY_SECONDS"],
        )

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(StoreReceiptOut))
    @fails(401, 403)
    def get(self, args):
        """The cases this store received, the latest first."""
        rows, cursor = receipts.store_receipts(get_session(), current_store().id, args["limit"], args["cursor"])
        return {"items": rows, "next_cursor": cursor}


@bp.route("/orders")
class Orders(MethodView):
    @bp.arguments(OrderIn)
    @bp.response(201, OrderOut)
    @fails(401, 403, 404, 409)
    def post(self, body):
        """Order through a partner store; prices from the catalogue; an optional coupon is held."""
        order = orders.create_order(
            get_session(),
            current_consumer().id,
            body["store_id"],
            body["items"],
            body["coupon_id"],
            payment_seconds=current_app.config["ORDER_PAYMENT_SECONDS"],
        )
        return orders.describe(order)

    @bp.arguments(OrderListArgs, location="query")
    @bp.response(200, page_of(OrderOut))
    @fails(401, 403)
    def get(self, args):
        """The consumer's own orders, newest first; `?status=` keeps one status."""
        consumer_id = current_consumer().id
        items, cursor = orders.consumer_orders(
            get_session(), consumer_id, args["status"], args["limit"], args["cursor"]
        )
        return {"items": items, "next_cursor": cursor}


@bp.route("/orders/<order_id>")
class OrderResource(MethodView):
    @bp.response(200, OrderOut)
    @fails(401, 403, 404)
    def get(self, order_id):
        """One of the consumer's orders: status, amount, lines, refunds."""
        return orders.describe(orders.own_order(get_session(), current_consumer().id, order_id))


@bp.route("/orders/<order_id>/refund")
class OrderRefund(MethodView):
    @bp.response(200, OrderOut)
    @fails(401, 403, 404, 409)
    def post(self, order_id):
        """Refund a paid order in full: every share is reversed (see storefront.settlement)."""
        return orders.describe(orders.refund(get_session(), current_consumer().id, order_id))


@bp.route("/payments/notify")
class PaymentNotify(MethodView):
    # The raw body is read (its bytes are what is signed), so the schema is documented, not parsed.
    @bp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": NoticeIn}}},
        parameters=[
            {
                "in": "header",
                "name": "X-Signature",
                "required": True,
                "description": "hex HMAC-SHA256(PAYMENT_WEBHOOK_SECRET, the raw body)",
                "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            }
        ],
    )
    @bp.response(200, NoticeOut)
    @fails(401, 404, 409, 422)
    def post(self):
        """The payment provider's signed notice (X-Signature: hex HMAC-SHA256 of the raw body)."""
        config = current_app.config
        return payments.handle_notice(
            get_session(),
            request.get_data(cache=True),
            request.headers.get("X-Signature"),
            secret=config["PAYMENT_WEBHOOK_SECRET"],
            settle_delay_seconds=config["SETTLEMENT_DELAY_SECONDS"],
        )


@bp.route("/brand/split-rules")
class SplitRules(MethodView):
    @bp.arguments(SplitRuleIn)
    @bp.response(201, SplitRuleOut)
    @fails(401, 403)
    def post(self, body):
        """Set how paid orders are shared (percentages; the brand keeps the rest); per product or default."""
        return orders.describe_rule(orders.set_split_rule(get_session(), current_brand().id, **body))

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(SplitRuleOut))
    @fails(401, 403)
    def get(self, args):
        """The brand's split rules, newest first; the newest for a product (or the default) is in force."""
        items, cursor = orders.list_split_rules(get_session(), current_brand().id, args["limit"], args["cursor"])
        return {"items": items, "next_cursor": cursor}


@bp.route("/brand/rebate-policy")
class RebatePolicy(MethodView):
    @bp.arguments(RebatePolicyIn)
    @bp.response(201, RebatePolicyOut)
    @fails(401, 403)
    def post(self, body):
        """Set store incentives: per-scan commission, per-item receipt rebate, daily volume tiers."""
        return rebates.describe_policy(rebates.set_policy(get_session(), current_brand().id, **body))

    @bp.response(200, RebatePolicyOut)
    @fails(401, 403)
    def get(self):
        """The brand's current store-incentive policy."""
        return rebates.describe_policy(rebates.current_policy(get_session(), current_brand().id))


@bp.route("/brand/diversion-alerts")
class DiversionAlerts(MethodView):
    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(AlertOut))
    @fails(401, 403)
    def get(self, args):
        """Goods seen outside their assigned regions, with the evidence, newest first."""
        items, cursor = receipts.diversion_alerts(get_session(), current_brand().id, args["limit"], args["cursor"])
        return {"items": items, "next_cursor": cursor}
