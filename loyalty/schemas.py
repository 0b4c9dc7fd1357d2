from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from loyalty.models import CampaignStatus, CampaignType, CouponStatus, RewardKind
from pagination import Cursor, page_of
from schemas import Text, UtcDateTime

MAX_INT = 2**31 - 1  # counters are 32-bit columns


class RewardIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(list(RewardKind)))
    value_fen = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, 10**8))
    min_spend_fen = fields.Integer(load_default=0, strict=True, validate=validate.Range(0, 10**9))
    valid_days = fields.Integer(load_default=30, strict=True, validate=validate.Range(1, 366))


class TierIn(Schema):
    probability = fields.Float(required=True, validate=validate.Range(0, 1, min_inclusive=False))
    reward = fields.Nested(RewardIn, required=True)
    max_count = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, MAX_INT))


class CampaignIn(Schema):
    type = fields.String(required=True, validate=validate.OneOf(list(CampaignType)))
    name = Text(required=True, validate=validate.Length(1, 200))
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    product_ids = fields.List(Text(validate=validate.Length(1, 32)), required=True, validate=validate.Length(1, 500))
    region_codes = fields.List(Text(), load_default=None, validate=validate.Length(max=500))
    budget_fen = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**12))
    max_rewards = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, MAX_INT))
    per_consumer_daily = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, MAX_INT))
    per_consumer_total = fields.Integer(load_default=None, strict=True, validate=validate.Range(1, MAX_INT))
    tiers = fields.List(fields.Nested(TierIn), required=True, validate=validate.Length(1, 20))

    @validates_schema
    def _only_scan_reward(self, data, **_):
        if data.get("type") != CampaignType.SCAN_REWARD:
            raise ValidationError("Only scan_reward campaigns are available so far.", "type")


class CampaignOut(Schema):
    id = fields.String()
    type = fields.String()
    name = fields.String()
    status = fields.String()
    live = fields.Boolean()
    starts_at = UtcDateTime()
    ends_at = UtcDateTime()
    product_ids = fields.List(fields.String())
    region_codes = fields.List(fields.String())
    budget_fen = fields.Integer()
    max_rewards = fields.Integer(allow_none=True)
    per_consumer_daily = fields.Integer(allow_none=True)
    per_consumer_total = fields.Integer(allow_none=True)
    tiers = fields.List(fields.Dict())
    issued = fields.Integer()
    committed_fen = fields.Integer()
    spent_fen = fields.Integer()
    released_fen = fields.Integer()
    remaining_budget_fen = fields.Integer()
    seed_sha256 = fields.String()
    seed = fields.String(allow_none=True, metadata={"description": "revealed once the campaign has ended"})
    created_at = UtcDateTime()
    ended_at = UtcDateTime(allow_none=True)


class ScanIn(Schema):
    code = Text(required=True, validate=validate.Length(1, 2048))
    lat = fields.Float(load_default=None, validate=validate.Range(-90, 90))
    lng = fields.Float(load_default=None, validate=validate.Range(-180, 180))

    @validates_schema
    def _both_or_neither(self, data, **_):
        if (data.get("lat") is None) != (data.get("lng") is None):
            raise ValidationError("Send both lat and lng, or neither.", "lng" if data.get("lng") is None else "lat")


class CouponOut(Schema):
    coupon_id = fields.String()
    code = fields.String()
    kind = fields.String()
    value_fen = fields.Integer()
    min_spend_fen = fields.Integer()
    status = fields.String()
    issuer = fields.String()
    brand_id = fields.String()
    store_id = fields.String(allow_none=True)
    campaign_id = fields.String(allow_none=True)
    issued_at = UtcDateTime()
    expires_at = UtcDateTime()
    redeemed_at = UtcDateTime(allow_none=True)


class ScanCoupon(CouponOut):
    """A reward in a scan's body, which the scans view sends without ScanOut's dump: its timestamps are
    written by loyalty/scanning/response.py, as UtcDateTime writes them."""

    issued_at = fields.String()
    expires_at = fields.String()
    redeemed_at = fields.String(allow_none=True)


class ScanProduct(Schema):
    id = fields.String(metadata={"example": "p_8Jx2"})
    name = fields.String(metadata={"example": "Fresh milk 1L"})
    brand_id = fields.String(metadata={"example": "b_3kQz"})
    brand_name = fields.String(metadata={"example": "Bright Dairy"})


class ScanStore(Schema):
    """The store the item was received by (its case was bound there)."""

    id = fields.String(metadata={"example": "s_7Hd1"})
    name = fields.String(metadata={"example": "Corner Shop Huaihai Rd"})


class ScanPlace(Schema):
    """Where the first scan was, to two decimals (about a kilometre)."""

    lat = fields.Float(metadata={"example": 31.23})
    lng = fields.Float(metadata={"example": 121.47})


class ScanWarning(Schema):
    """A counterfeit hint on a repeat scan."""

    code = fields.String(validate=validate.OneOf(["many_scans", "far_apart"]), metadata={"example": "far_apart"})
    message = fields.String(
        metadata={
            "example": "This code was first scanned 1200 km away less than two days ago. The label may be copied."
        }
    )


class ScanOut(Schema):
    verdict = fields.String()
    scan_count = fields.Integer()
    first_scanned_at = fields.String(allow_none=True)
    first_scan_place = fields.Nested(ScanPlace, allow_none=True)
    product = fields.Nested(ScanProduct, allow_none=True)
    store = fields.Nested(ScanStore, allow_none=True)
    rewards = fields.List(fields.Nested(ScanCoupon))
    warning = fields.Nested(ScanWarning, allow_none=True)
    notice = fields.String()


class CouponListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(list(CouponStatus)))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)


CouponPage = page_of(CouponOut)


class RedemptionIn(Schema):
    coupon_code = Text(required=True, validate=validate.Length(1, 32))


class RedemptionOut(Schema):
    coupon_id = fields.String()
    kind = fields.String()
    value_fen = fields.Integer()
    reimbursed_fen = fields.Integer()
    min_spend_fen = fields.Integer()
    redeemed_at = UtcDateTime()


class BlacklistIn(Schema):
    consumer_id = Text(required=True, validate=validate.Length(1, 32))
    reason = Text(load_default=None, multiline=True, validate=validate.Length(1, 200))


class BlacklistOut(Schema):
    consumer_id = fields.String()
    reason = fields.String(allow_none=True)
    created_at = UtcDateTime()


class ConsumerBalance(Schema):
    pending_fen = fields.Integer()
    available_fen = fields.Integer()


class CampaignListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(list(CampaignStatus)))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)


class StoreRedemptionOut(Schema):
    """A coupon redeemed at the store (never the consumer who held it)."""

    coupon_id = fields.String(attribute="id")
    code = fields.String()
    kind = fields.String()
    value_fen = fields.Integer()
    min_spend_fen = fields.Integer()
    brand_id = fields.String()
    campaign_id = fields.String(allow_none=True)
    order_id = fields.String(allow_none=True)
    redeemed_at = UtcDateTime()
