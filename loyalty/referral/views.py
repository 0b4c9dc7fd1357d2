"""HTTP for referral: the consumer's code and link, binding, earnings and payouts; the brand's
rewards list; the public invitation page /r/{code}."""

from flask import Blueprint, current_app, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint
from sqlalchemy import select

from codes.pages import miniapp_link
from db import get_session, utcnow
from errors import fails
from identity.auth import current_brand, current_consumer
from identity.models import Brand
from loyalty.models import Campaign, CampaignStatus, CampaignType
from loyalty.referral import bindings, links, rewards
from loyalty.referral.models import ReferralCode
from loyalty.referral.schemas import BindIn, BoundOut, ReferralOut, RewardListArgs, RewardOut
from pagination import ListArgs, page_of
from storefront.ledger import payouts
from storefront.ledger.schemas import PayoutIn, PayoutOut

bp = ApiBlueprint("referral", __name__, url_prefix="/api/v1", description="Referral (邀请 / 分销)")
page_bp = Blueprint("referral_page", __name__, template_folder="templates")


@bp.route("/me/referral")
class MyReferral(MethodView):
    @bp.response(200, ReferralOut)
    @fails(401, 403)
    def get(self):
        """The consumer's referral code and share link (made on first ask), its referrer, referees and earnings."""
        return links.summary(get_session(), current_consumer().id, current_app.config["PUBLIC_BASE_URL"])


@bp.route("/me/referrer")
class MyReferrer(MethodView):
    @bp.arguments(BindIn)
    @bp.response(200, BoundOut)
    @fails(401, 403, 404, 409)
    def post(self, body):
        """Bind to a referrer by its code, once, as a new consumer (409: already_bound, self_referral, cyclic,
        not_new, daily_limit)."""
        binding = bindings.bind(
            get_session(),
            current_consumer().id,
            body["code"],
            daily_limit=current_app.config["REFERRAL_DAILY_BINDINGS"],
        )
        return {"referrer_id": binding.referrer_id}


@bp.route("/me/payouts")
class MyPayouts(MethodView):
    @bp.arguments(PayoutIn)
    @bp.response(201, PayoutOut)
    @fails(401, 403, 409, 422)
    def post(self, body):
        """Withdraw available referral earnings (at least PAYOUT_MIN_FEN); they move to in transit at once."""
        return payouts.request_payout(
            get_session(),
            current_consumer().id,
            body["amount_fen"],
            min_fen=current_app.config["PAYOUT_MIN_FEN"],
            request_key=request.headers.get("Idempotency-Key"),
            owner_type="consumer",
        )

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(PayoutOut))
    @fails(401, 403)
    def get(self, args):
        """The consumer's payouts, newest first."""
        items, next_cursor = payouts.list_payouts(
            get_session(), current_consumer().id, args["limit"], args["cursor"], owner_type="consumer"
        )
        return {"items": items, "next_cursor": next_cursor}


@bp.route("/brand/referrals")
class BrandReferrals(MethodView):
    @bp.arguments(RewardListArgs, location="query")
    @bp.response(200, page_of(RewardOut))
    @fails(401, 403)
    def get(self, args):
        """Every reward the brand's referral campaigns decided (?campaign_id=), newest first."""
        items, next_cursor = rewards.brand_rewards(
            get_session(), current_brand().id, args["campaign_id"], args["limit"], args["cursor"]
        )
        return {"items": items, "next_cursor": next_cursor}


HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


@page_bp.get("/r/<code>")
def invitation_page(code):
    """The page a shared referral link opens: who invites, the brands' live offers, open the mini app."""
    session = get_session()
    owner = session.scalar(select(ReferralCode.consumer_id).where(ReferralCode.code == links.clean(code)[:16]))
    if owner is None:
        return render_template("invitation_missing.html"), 404, HEADERS
    now = utcnow()
    offers = list(
        session.execute(
            select(Campaign, Brand.name)
            .join(Brand, Brand.id == Campaign.brand_id)
            .where(
                Campaign.type == CampaignType.REFERRAL,
                Campaign.status == CampaignStatus.ACTIVE,
                Campaign.starts_at <= now,
                Campaign.ends_at > now,
            )
            .order_by(Campaign.created_at.desc())
            .limit(5)
        )
    )
    config = current_app.config
    html = render_template(
        "invitation.html",
        code=links.clean(code),
        inviter=invitation_name(owner),
        offers=[offer(campaign, brand_name) for campaign, brand_name in offers],
        miniapp=miniapp_link(config["MINIAPP_APPID"], config["MINIAPP_PATH"], ref=links.clean(code)),
    )
    return html, 200, HEADERS


def offer(campaign: Campaign, brand_name: str) -> dict:
    config = campaign.settings["referral"]
    reward = config["reward"]
    return {
        "brand": brand_name,
        "name": campaign.name,
        "trigger": config["trigger"],
        "kind": reward["kind"],
        "value_fen": reward.get("value_fen"),
        "percent": reward.get("percent"),
        "ends_at": campaign.ends_at,
    }


def invitation_name(consumer_id: str) -> str:
    """What the page calls the inviter: consumers have no public name, so the tail of their id
    (neither their openid nor anything they could be found by)."""
    return consumer_id[-4:].upper()
