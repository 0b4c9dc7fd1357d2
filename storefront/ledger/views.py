"""Money endpoints: brand deposits, store balance, statement and payouts, the payout run. (The
brand's balance, which shows what its campaigns hold, is loyalty's: loyalty/views.py.)

POST /store/payouts honours an optional `Idempotency-Key` header: a retried request with the same
key returns the first payout (201) instead of asking twice; the same key with another amount is 409.
"""

import secrets

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

import jobs
from db import get_session
from errors import NotFound, fails, invalid
from identity.auth import current_store, require_admin
from identity.models import Brand
from pagination import ListArgs, page_of
from storefront.ledger import accounts, balances, deposits, payouts
from storefront.ledger.jobs import run_payouts
from storefront.ledger.schemas import (
    DepositIn,
    DepositOut,
    LedgerEntryOut,
    PayoutIn,
    PayoutOut,
    PayoutRunOut,
    StoreBalanceOut,
)

STATEMENT_EXAMPLE = {
    "items": [
        {
            "id": "tr_01HZX4B2C9D8E7F6G5",
            "at": "2026-12-08T08:30:00Z",
            "kind": "settlement",
            "amount_fen": 0,
            "available_change_fen": 500,
            "pending_change_fen": -500,
            "in_transit_change_fen": 0,
            "paid_out_change_fen": 0,
            "reference": "7KQ2M9XW4HBT",
            "transfer_id": "tr_01HZX4B2C9D8E7F6G5",
        },
        {
            "id": "tr_01HZX3Q8R7K2M4N6P8",
            "at": "2026-12-01T08:30:00Z",
            "kind": "coupon_reimbursement",
            "amount_fen": 500,
            "available_change_fen": 0,
            "pending_change_fen": 500,
            "in_transit_change_fen": 0,
            "paid_out_change_fen": 0,
            "reference": "7KQ2M9XW4HBT",
            "transfer_id": "tr_01HZX3Q8R7K2M4N6P8",
        },
    ],
    "next_cursor": None,
}

bp = Blueprint("storefront", __name__, url_prefix="/api/v1", description="Ledger, balances, statements, payouts")


@bp.route("/admin/brands/<brand_id>/deposits")
class BrandDeposits(MethodView):
    @bp.arguments(DepositIn)
    @bp.response(201, DepositOut)
    @fails(401, 403, 404, 409)
    def post(self, body, brand_id):
        """Fund a brand's campaign budget. The same reference twice is one deposit; with another amount, 409."""
        require_admin()
        session = get_session()
        if session.get(Brand, brand_id) is None:
            raise NotFound("No such brand.")
        deposit = deposits.deposit_to_brand(session, brand_id, body["amount_fen"], body["reference"])
        session.commit()
        return {
            "transfer_id": deposit.id,
            "amount_fen": deposit.amount_fen,
            "reference": deposit.reference,
            "balance_fen": accounts.balance(session, accounts.brand_budget(brand_id)),
        }


@bp.route("/store/balance")
class StoreBalance(MethodView):
    @bp.response(200, StoreBalanceOut)
    @fails(401, 403)
    def get(self):
        """The calling store's money: pending, available, in transit (payouts under way) and paid out."""
        return balances.store_balance(get_session(), current_store().id)


@bp.route("/store/ledger")
class StoreLedger(MethodView):
    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(LedgerEntryOut), example=STATEMENT_EXAMPLE)
    @fails(401, 403)
    def get(self, args):
        """The calling store's statement, newest first: one line per business event, with what it did
        to the available, pending, in-transit and paid-out balances (amount_fen: to available + pending)."""
        return balances.store_statement(get_session(), current_store().id, args["limit"], args["cursor"])


@bp.route("/store/payouts")
class StorePayouts(MethodView):
    @bp.arguments(PayoutIn)
    @bp.response(201, PayoutOut)
    @fails(401, 403, 409)
    def post(self, body):
        """Ask for a payout of available money (at least PAYOUT_MIN_FEN); it moves to in transit at once."""
        store = current_store()
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 100:
            raise invalid("Idempotency-Key", "1 to 100 characters.")
        return payouts.request_payout(
            get_session(), store.id, body["amount_fen"], min_fen=current_app.config["PAYOUT_MIN_FEN"], request_key=key
        )

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(PayoutOut))
    @fails(401, 403)
    def get(self, args):
        """The calling store's payouts, newest first."""
        items, next_cursor = payouts.list_payouts(get_session(), current_store().id, args["limit"], args["cursor"])
        return {"items": items, "next_cursor": next_cursor}


@bp.route("/store/payouts/<payout_id>")
class StorePayout(MethodView):
    @bp.response(200, PayoutOut)
    @fails(401, 403, 404)
    def get(self, payout_id):
        """One of the calling store's payouts."""
        return payouts.own_payout(get_session(), current_store().id, payout_id)


@bp.route("/admin/payouts/run")
class PayoutRun(MethodView):
    @bp.response(202, PayoutRunOut)
    @fails(401, 403)
    def post(self):
        """Pay every requested payout through the provider (a background job; inline without Redis).

        With Redis configured but down or not answering: 503 with Retry-After, not a run inside
        the request (a run calls the provider once per payout, longer than a request should take).
        Nothing is lost: the payouts stay requested, and the "payouts" sweep (the worker's, or
        `flask --app app jobs run-due`) pays them."""
        require_admin()
        job_id = f"payouts-run-{secrets.token_hex(8)}"
        job = jobs.enqueue(run_payouts, job_id=job_id, required=True)
        if jobs.is_inline():
            return {"job_id": job_id, "status": "finished", "result": job}
        status = job.get_status(refresh=False)
        return {"job_id": job.id, "status": getattr(status, "value", status) or "queued", "result": None}
