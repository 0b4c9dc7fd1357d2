"""GET /store: the store owner's phone page (balance, refund requests to decide, payouts, statement,
request a payout).

The owner signs in once by pasting a store key into a POST form; the page then keeps only that
key's id in Flask's signed session cookie (HttpOnly, SameSite=Lax; Secure and `__Host-` in
production), so the key is never in a URL, a log line or the cookie, and every request checks the
key is still active: revoking it (DELETE /api/v1/store/api-keys/{id}) signs the page out on its
next request. Every form carries a per-session CSRF token. POSTs redirect (303) back
to /store, so a reload never repeats a payout; each payout form also carries a one-time request
id used as the payout's idempotency key, so a double tap asks once.
"""

from __future__ import annotations

import hmac
import secrets
from decimal import Decimal, InvalidOperation

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from db import get_session
from errors import DomainError, translated
from identity.auth import store_for_key, store_for_key_id
from identity.models import Store
from locale_format import shanghai_minute, yuan
from storefront.ledger import payouts
from storefront.ledger.balances import store_balance, store_statement
from storefront.ledger.models import LedgerKind, PayoutStatus
from storefront.payments import jobs as payment_jobs
from storefront.payments import refunds
from storefront.payments.models import RefundStatus

bp = Blueprint("store_page", __name__, template_folder="templates")

# Every kind the ledger writes, labelled (a kind added to LedgerKind without a label fails a unit test).
KIND_LABELS: dict[str, str] = {
    kind: label
    for kind, label in (
        (LedgerKind.DEPOSIT, _l("Deposit")),
        (LedgerKind.SETTLEMENT, _l("Settled")),
        (LedgerKind.PAYOUT_REQUEST, _l("Payout requested")),
        (LedgerKind.PAYOUT_PAID, _l("Payout paid")),
        (LedgerKind.PAYOUT_FAILED, _l("Payout returned")),
        (LedgerKind.ORDER_SPLIT, _l("Order commission")),
        (LedgerKind.ORDER_REFUND, _l("Order refund")),
        (LedgerKind.GROUP_ESCROW, _l("Group-buy payment held until the group fills")),
        (LedgerKind.REFUND_HOLD, _l("Held for a refund request")),
        (LedgerKind.PAYMENT_UNAPPLIED, _l("Payment returned to the payer")),
        (LedgerKind.RECEIPT_REBATE, _l("Receipt rebate")),
        (LedgerKind.SCAN_COMMISSION, _l("Scan commission")),
        (LedgerKind.DAILY_REBATE, _l("Daily rebate")),
        (LedgerKind.CAMPAIGN_RESERVE, _l("Campaign reserve")),
        (LedgerKind.CAMPAIGN_RELEASE, _l("Campaign release")),
        (LedgerKind.COUPON_REIMBURSEMENT, _l("Coupon reimbursement")),
        (LedgerKind.COUPON_EXPIRED, _l("Coupon expired")),
        (LedgerKind.REFERRAL_COMMISSION, _l("Referral commission")),
    )
}
# What a statement line did, in plain words, by the balances it moved (ledger.balances.store_statement).
MOVES = {
    ("pending", "available"): _l("%(amount)s moved from pending to available: you can pay it out now"),
    ("available", "in_transit"): _l("%(amount)s left your available balance on its way to your bank account"),
    ("in_transit", "paid_out"): _l("%(amount)s arrived in your bank account"),
    ("in_transit", "available"): _l("The payout did not go through: %(amount)s is back in your available balance"),
}
ORDER_READ = ("available", "pending", "in_transit", "paid_out")  # the order a line's changes are read in
CHANGES = {
    ("pending", True): _l("%(amount)s pending: available once the refund window closes"),
    ("pending", False): _l("%(amount)s taken back from pending"),
    ("available", True): _l("%(amount)s added to your available balance"),
    ("available", False): _l("%(amount)s taken from your available balance"),
    ("in_transit", True): _l("%(amount)s on its way to your bank account"),
    ("in_transit", False): _l("%(amount)s no longer on its way to your bank account"),
    ("paid_out", True): _l("%(amount)s paid to your bank account"),
    ("paid_out", False): _l("%(amount)s of an earlier payout taken back"),
}
STATUS_LABELS = {
    PayoutStatus.REQUESTED: _l("Requested"),
    PayoutStatus.PROCESSING: _l("Processing"),
    PayoutStatus.PAID: _l("Paid"),
    PayoutStatus.FAILED: _l("Failed"),
}
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


def statement_line(item: dict) -> dict:
    """One statement line for the page: its title, what it did in plain words, and its amount (signed
    when the store's own money changed; unsigned and muted when money only moved between its balances)."""
    changes = {p: item[f"{p}_change_fen"] for p in ORDER_READ if item[f"{p}_change_fen"]}
    taken = [p for p, fen in changes.items() if fen < 0]
    given = [p for p, fen in changes.items() if fen > 0]
    if len(taken) == 1 and len(given) == 1 and (taken[0], given[0]) in MOVES and sum(changes.values()) == 0:
        moved = changes[given[0]]
        detail = MOVES[taken[0], given[0]] % {"amount": yuan(moved)}
    else:
        moved = None
        detail = " · ".join(str(CHANGES[p, fen > 0] % {"amount": yuan(abs(fen))}) for p, fen in changes.items())
    net = item["amount_fen"]
    return {
        "at": item["at"],
        "title": KIND_LABELS.get(item["kind"], (item["kind"] or "").replace("_", " ").capitalize()),
        "detail": detail,
        "amount": yuan(net, signed=True) if net or moved is None else yuan(moved),
        "tone": "in" if net > 0 else ("out" if net < 0 else "moved"),
    }


def _csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _csrf_ok() -> bool:
    """A POST without this session's token (another site's form, a stale tab) does nothing."""
    sent, expected = request.form.get("csrf", ""), session.get("csrf", "")
    if expected and hmac.compare_digest(sent.encode(), expected.encode()):
        return True
    flash(_("The form expired; please try again."), "error")
    return False


def _lang() -> str | None:
    """?lang= as asked, so a page opened in one language stays in it across its forms."""
    lang = request.args.get("lang", "")
    return lang if lang in ("en", "zh") else None


def _back():
    return redirect(url_for("store_page.store_page", lang=_lang()), 303)


def _signed_in_store() -> Store | None:
    """The store of the key this page signed in with, while the key is active; else signed out."""
    key_id = session.get("key_id")
    found = store_for_key_id(key_id) if isinstance(key_id, str) else None
    if found is None:
        if "key_id" in session or "store_id" in session:  # a revoked key, or a cookie from before keys
            session.clear()
        return None
    return found.owner


def _page(template: str, status: int = 200, **context):
    return render_template(template, csrf=_csrf_token(), lang=_lang(), **context), status, HEADERS


@bp.get("/store")
def store_page():
    store = _signed_in_store()
    if store is None:
        return _page("store_login.html")
    db_session = get_session()
    statement = [statement_line(i) for i in store_statement(db_session, store.id, 20, None)["items"]]
    recent_payouts, _ = payouts.list_payouts(db_session, store.id, 10, None)
    to_decide, _ = refunds.store_refunds(db_session, store.id, RefundStatus.REQUESTED, 20, None)
    min_fen = current_app.config["PAYOUT_MIN_FEN"]
    return _page(
        "store_page.html",
        store=store,
        balance=store_balance(db_session, store.id),
        statement=statement,
        payouts=recent_payouts,
        refunds=to_decide,
        min_fen=min_fen,
        request_id=secrets.token_urlsafe(12),
        status_label=lambda s: STATUS_LABELS.get(s, (s or "").replace("_", " ")),
    )


@bp.post("/store/login")
def store_login():
    if not _csrf_ok():
        return _back()
    key = (request.form.get("key") or "").strip()
    found = store_for_key(key)
    if found is None:
        return _page("store_login.html", 401, error=_("That store key is not valid."))
    session.clear()
    session.permanent = True
    session["key_id"] = found.key_id
    session["csrf"] = secrets.token_urlsafe(24)  # a fresh token after sign-in
    return _back()


@bp.post("/store/logout")
def store_logout():
    if _csrf_ok():
        session.clear()
    return _back()


def _fen_from_yuan(text: str) -> int | None:
    try:
        value = Decimal((text or "").strip().replace(",", "").lstrip("¥"))
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")) or value > 10**10:
        return None
    return int(value * 100)


@bp.post("/store/payouts")
def store_request_payout():
    store = _signed_in_store()
    if store is None or not _csrf_ok():
        return _back()
    amount_fen = _fen_from_yuan(request.form.get("amount", ""))
    request_id = (request.form.get("request_id") or "")[:40] or None
    min_fen = current_app.config["PAYOUT_MIN_FEN"]
    if amount_fen is None:
        flash(_("Enter an amount in yuan, like 25 or 25.50."), "error")
    elif amount_fen < min_fen:
        flash(_("The smallest payout is %(amount)s.", amount=yuan(min_fen)), "error")
    else:
        try:
            payout = payouts.request_payout(
                get_session(),
                store.id,
                amount_fen,
                min_fen=min_fen,
                request_key=f"page:{request_id}" if request_id else None,
            )
            flash(_("Payout of %(amount)s requested. It is on its way.", amount=yuan(payout.amount_fen)), "ok")
        except payouts.PayoutRefused as exc:
            flash(_refused(exc), "error")
        except DomainError as exc:
            reasons = [m for messages in exc.fields.values() for m in messages]
            flash(" ".join(reasons) if exc.status == 422 and reasons else translated(exc.message), "error")
    return _back()


def _refused(exc) -> str:
    """A refused payout in the page's language: what is available, held, and when more comes."""
    parts = [_("Only %(amount)s is available to pay out now.", amount=yuan(exc.available_fen))]
    if exc.held_fen:
        parts.append(_("%(amount)s is held for open refund requests.", amount=yuan(exc.held_fen)))
    if exc.next_fen:
        parts.append(
            _(
                "%(amount)s more becomes available on %(when)s.",
                amount=yuan(exc.next_fen),
                when=shanghai_minute(exc.next_at),
            )
        )
    return " ".join(parts)


@bp.post("/store/refunds/<refund_id>/<any(approve, reject):decision>")
def store_decide_refund(refund_id, decision):
    """Approve (the consumer is refunded through the payment provider) or reject a refund request."""
    store = _signed_in_store()
    if store is None or not _csrf_ok():
        return _back()
    approve = decision == "approve"
    try:
        refunds.decide(
            get_session(), store.id, refund_id, approve, (request.form.get("note") or "").strip()[:200] or None
        )
    except DomainError as exc:
        flash(translated(exc.message), "error")
        return _back()
    if approve:
        payment_jobs.enqueue_refund(refund_id)
        flash(_("Refund approved: the money goes back to the customer."), "ok")
    else:
        flash(_("Refund request rejected."), "ok")
    return _back()
