"""HTTP for BC-linked commerce: receipts, orders, payment notices, split rules, rebates, diversion."""

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

import jobs
from db import get_session
from errors import fails
from identity.auth import current_brand, current_consumer, current_store, require_admin
from pagination import ListArgs, page_of
from storefront import orders, rebates, receipts
from storefront.payments import jobs as payment_jobs
from storefront.payments import notices, refunds
from storefront.schemas import (
    AdminRefundOut,
    CodeIn,
    DecisionIn,
    NoticeIn,
    NoticeOut,
    OrderIn,
    OrderListArgs,
    OrderOut,
    RebatePolicyIn,
    RebatePolicyOut,
    ReceiptOut,
    RefundAccepted,
    RefundIn,
    RefundListArgs,
    RefundOut,
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
        """One of the consumer's orders: status, amount, lines, and its refunds with their status."""
        session = get_session()
        return refunds.order_with_refunds(session, orders.own_order(session, current_consumer().id, order_id))


@bp.route("/orders/<order_id>/refund")
class OrderRefund(MethodView):
    @bp.arguments(RefundIn)
    @bp.response(202, RefundAccepted)
    @fails(401, 403, 404, 409, 422)
    def post(self, body, order_id):
        """Ask for money back (all that is left of the order, or `amount_fen` of it), within the refund
        window; the store decides, or it is approved after REFUND_AUTO_APPROVE_SECONDS."""
        config = current_app.config
        refund = refunds.request_refund(
            get_session(),
            current_consumer().id,
            order_id,
            body["reason"],
            body["amount_fen"],
            window_seconds=config["REFUND_WINDOW_SECONDS"],
            auto_approve_seconds=config["REFUND_AUTO_APPROVE_SECONDS"],
        )
        jobs.enqueue_at(refund.due_at, payment_jobs.auto_approve, refund.id, job_id=f"refund-auto:{refund.id}")
        return {"refund": refunds.describe(refund)}


@bp.route("/store/refunds")
class StoreRefunds(MethodView):
    @bp.arguments(RefundListArgs, location="query")
    @bp.response(200, page_of(RefundOut))
    @fails(401, 403)
    def get(self, args):
        """Refund requests on this store's orders, newest first; `?status=requested` for those to decide."""
        items, cursor = refunds.store_refunds(
            get_session(), current_store().id, args["status"], args["limit"], args["cursor"]
        )
        return {"items": items, "next_cursor": cursor}


@bp.route("/store/refunds/<refund_id>/<any(approve, reject):decision>")
class StoreRefundDecision(MethodView):
    @bp.arguments(DecisionIn)
    @bp.response(200, RefundAccepted)
    @fails(401, 403, 404, 409)
    def post(self, body, refund_id, decision):
        """Approve (the money goes back to the consumer through the payment provider) or reject a refund request."""
        approve = decision == "approve"
        refunds.decide(get_session(), current_store().id, refund_id, approve, body["note"])
        if approve:
            payment_jobs.enqueue_refund(refund_id)
        return {"refund": refunds.one(get_session(), refund_id)}


@bp.route("/admin/refunds")
class AdminRefunds(MethodView):
    @bp.arguments(RefundListArgs, location="query")
    @bp.response(200, page_of(AdminRefundOut))
    @fails(401, 403)
    def get(self, args):
        """Refunds the provider has not completed (default `?status=failed`), with attempts and the last error."""
        require_admin()
        items, cursor = refunds.failed_refunds(get_session(), args["status"], args["limit"], args["cursor"])
        return {"items": items, "next_cursor": cursor}


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
        answer = notices.handle_notice(
            get_session(),
            request.get_data(cache=True),
            request.headers.get("X-Signature"),
            secret=config["PAYMENT_WEBHOOK_SECRET"],
            settle_delay_seconds=config["SETTLEMENT_DELAY_SECONDS"],
        )
        if answer["refund_id"] and not answer["replay"]:
            payment_jobs.enqueue_refund(answer["refund_id"])
        return answer


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
