import json

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from db import get_session
from errors import fails
from identity.auth import current_brand, current_consumer, current_store
from loyalty import blacklist, campaigns, coupons, points
from loyalty.models import CampaignType
from loyalty.referral import triggers
from loyalty.scanning import batch
from loyalty.scanning.request import ScanSettings
from loyalty.schemas import (
    GROUP_BUY_BODY,
    REFERRAL_BODY,
    SCAN_BODY,
    SCAN_EXAMPLE,
    BlacklistIn,
    BlacklistOut,
    BrandBalanceOut,
    CampaignIn,
    CampaignListArgs,
    CampaignOut,
    ConsumerBalance,
    CouponListArgs,
    CouponPage,
    PointsOut,
    RedemptionIn,
    RedemptionOut,
    ScanIn,
    ScanOut,
    StoreRedemptionOut,
)
from pagination import ListArgs, page_of
from schemas import has_control
from storefront.ledger import balances

bp = Blueprint("loyalty", __name__, url_prefix="/api/v1", description="Scans, campaigns, coupons and redemption")


_SCAN_IN = ScanIn()


def _scan_body() -> dict:
    """ScanIn's result for the body. The everyday body (a code string, maybe two in-range numbers) is
    checked here; anything else goes through ScanIn itself, so errors read exactly as elsewhere.
    This is the busiest endpoint, and webargs costs more than the rest of its request handling."""
    data = request.get_json(silent=True)
    if type(data) is dict and data.keys() <= {"code", "lat", "lng"}:
        code, lat, lng = data.get("code"), data.get("lat"), data.get("lng")
        if type(code) is str and 0 < len(code) <= 2048 and not has_control(code):
            if lat is None and lng is None:
                return {"code": code, "lat": None, "lng": None}
            if type(lat) in (int, float) and type(lng) in (int, float) and -90 <= lat <= 90 and -180 <= lng <= 180:
                return {"code": code, "lat": float(lat), "lng": float(lng)}
    return bp.ARGUMENTS_PARSER.parse(_SCAN_IN, request, location="json")


@bp.route("/scans")
class Scans(MethodView):
    @bp.doc(requestBody={"required": True, "content": {"application/json": {"schema": ScanIn}}})
    @bp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @bp.response(200, ScanOut, example=SCAN_EXAMPLE)
    @fails(401, 403, 429)
    def post(self):
        """Scan a code: verdict, scan count, and the rewards the first valid scan claims."""
        body = _scan_body()
        consumer = current_consumer()
        settings = ScanSettings.from_config(current_app.config)
        result = batch.scan(settings, consumer.id, body["code"], body["lat"], body["lng"], request.remote_addr)
        triggers.after_scan(consumer.id, result)  # a referee's first scan: its referral job
        # Already in ScanOut's shape (a test holds it to the schema): skip the schema's dump.
        written = json.dumps(result, separators=(",", ":")) + "\n"  # byte for byte what jsonify writes
        return current_app.response_class(written, mimetype="application/json")


@bp.route("/brand/campaigns")
class Campaigns(MethodView):
    @bp.arguments(CampaignIn)
    @bp.response(201, CampaignOut)
    @fails(401, 403, 409)
    def post(self, body):
        """Create a campaign: scan_reward (its whole budget is reserved from the brand's balance) or
        group_buy (a product at a group price for groups of `group_size` that fill within `duration_seconds`) or
        referral (a reward for the referrer of a consumer's first scan or first order; its budget reserved too)."""
        if body["type"] == CampaignType.GROUP_BUY:
            fields_ = {name: body[name] for name in ("name", *GROUP_BUY_BODY)}
            return campaigns.describe(campaigns.create_group_buy(get_session(), current_brand().id, **fields_))
        if body["type"] == CampaignType.REFERRAL:
            fields_ = {name: body[name] for name in ("name", *REFERRAL_BODY)}
            return campaigns.describe(campaigns.create_referral(get_session(), current_brand().id, **fields_))
        fields_ = {name: body[name] for name in ("name", *SCAN_BODY)}
        return campaigns.describe(campaigns.create_scan_reward(get_session(), current_brand().id, **fields_))

    @bp.arguments(CampaignListArgs, location="query")
    @bp.response(200, page_of(CampaignOut))
    @fails(401, 403)
    def get(self, args):
        """The brand's campaigns, newest first; `?status=` keeps one status."""
        brand_id = current_brand().id
        items, cursor = campaigns.list_campaigns(get_session(), brand_id, args["status"], args["limit"], args["cursor"])
        return {"items": items, "next_cursor": cursor}


@bp.route("/brand/campaigns/<campaign_id>")
class CampaignResource(MethodView):
    @bp.response(200, CampaignOut)
    @fails(401, 403, 404)
    def get(self, campaign_id):
        """One of the brand's campaigns: status, issued, spent and remaining budget."""
        return campaigns.describe(campaigns.own_campaign(get_session(), current_brand().id, campaign_id))


@bp.route("/brand/campaigns/<campaign_id>/<any(pause, resume, end):action>")
class CampaignAction(MethodView):
    @bp.response(200, CampaignOut)
    @fails(401, 403, 404, 409)
    def post(self, campaign_id, action):
        """Pause, resume, or end (ending returns the unreserved budget to the brand)."""
        return campaigns.describe(campaigns.set_status(get_session(), current_brand().id, campaign_id, action))


@bp.route("/me/coupons")
class MyCoupons(MethodView):
    @bp.arguments(CouponListArgs, location="query")
    @bp.response(200, CouponPage)
    @fails(401, 403)
    def get(self, args):
        """The consumer's wallet, newest first; ?status= filters."""
        return coupons.wallet(get_session(), current_consumer().id, args["status"], args["limit"], args["cursor"])


@bp.route("/me/balance")
class MyBalance(MethodView):
    @bp.response(200, ConsumerBalance)
    @fails(401, 403)
    def get(self):
        """The consumer's referral earnings: pending until the refund window passes, then available."""
        return balances.consumer_balance(get_session(), current_consumer().id)


@bp.route("/store/redemptions")
class Redemptions(MethodView):
    @bp.arguments(RedemptionIn)
    @bp.response(200, RedemptionOut)
    @fails(401, 403, 404, 409)
    def post(self, body):
        """Redeem a consumer's coupon at the till, exactly once."""
        return coupons.redeem(
            get_session(),
            current_store().id,
            body["coupon_code"],
            settle_delay_seconds=current_app.config["SETTLEMENT_DELAY_SECONDS"],
        )

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(StoreRedemptionOut))
    @fails(401, 403)
    def get(self, args):
        """The coupons redeemed at this store, the latest first."""
        rows, cursor = coupons.redeemed_at_store(get_session(), current_store().id, args["limit"], args["cursor"])
        return {"items": rows, "next_cursor": cursor}


@bp.route("/brand/blacklist")
class BrandBlacklist(MethodView):
    @bp.arguments(BlacklistIn)
    @bp.response(201, BlacklistOut)
    @fails(401, 403, 404)
    def post(self, body):
        """Blacklist a consumer: their scans are recorded but earn no rewards from this brand."""
        return blacklist.add(get_session(), current_brand().id, body["consumer_id"], body["reason"])

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(BlacklistOut))
    @fails(401, 403)
    def get(self, args):
        """The brand's blacklisted consumers, newest first."""
        rows, cursor = blacklist.entries(get_session(), current_brand().id, args["limit"], args["cursor"])
        return {"items": rows, "next_cursor": cursor}


@bp.route("/brand/blacklist/<consumer_id>")
class BrandBlacklistEntry(MethodView):
    @bp.response(204)
    @fails(401, 403, 404)
    def delete(self, consumer_id):
        """Take a consumer off the brand's blacklist."""
        blacklist.remove(get_session(), current_brand().id, consumer_id)


@bp.route("/brand/balance")
class BrandBalance(MethodView):
    @bp.response(200, BrandBalanceOut)
    @fails(401, 403)
    def get(self):
        """The brand's money: unallocated budget, what each of its campaigns holds (in all: reserved_fen), revenue."""
        return campaigns.brand_balance(get_session(), current_brand().id)


@bp.route("/me/points")
class MyPoints(MethodView):
    @bp.arguments(ListArgs, location="query")
    @bp.response(200, PointsOut)
    @fails(401, 403)
    def get(self, args):
        """The consumer's points: the live balance, in all and per brand, and each points prize, newest first."""
        return points.wallet(get_session(), current_consumer().id, args["limit"], args["cursor"])
