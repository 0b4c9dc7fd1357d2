from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from loyalty.models import CampaignStatus, CampaignType, CouponStatus, RewardKind
from pagination import Cursor, page_of
from schemas import Text, UtcDateTime

MAX_INT = 2**31 - 1  # counters are 32-bit columns


class RewardIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(list(RewardKind)), metadata={"example": "brand_coupon"})
    value_fen = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, 10**8), metadata={"example": 500}
    )
    min_spend_fen = fields.Integer(
        load_default=0, strict=True, validate=validate.Range(0, 10**9), metadata={"example": 2000}
    )
    valid_days = fields.Integer(load_default=30, strict=True, validate=validate.Range(1, 366), metadata={"example": 30})


class TierIn(Schema):
    probability = fields.Float(
        required=True, validate=validate.Range(0, 1, min_inclusive=False), metadata={"example": 0.2}
    )
    reward = fields.Nested(RewardIn, required=True)
    max_count = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(0, MAX_INT), metadata={"example": None}
    )


class ReferralRewardIn(Schema):
    """A referral campaign's reward for the referrer: a coupon, or a commission (fixed or a percent)."""

    kind = fields.String(
        required=True, validate=validate.OneOf(["coupon", "commission"]), metadata={"example": "commission"}
    )
    value_fen = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, 10**9), metadata={"example": 500}
    )
    percent = fields.Float(
        load_default=None,
        validate=validate.Range(0.01, 100),
        metadata={"description": "commission: a percent of the referee's first order", "example": None},
    )
    valid_days = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, 3650), metadata={"example": None}
    )


class CampaignIn(Schema):
    """One body for every campaign type; which fields are required depends on `type` (SCAN_FIELDS,
    GROUP_BUY_FIELDS, REFERRAL_FIELDS)."""

    type = fields.String(
        required=True, validate=validate.OneOf(list(CampaignType)), metadata={"example": "scan_reward"}
    )
    name = Text(required=True, validate=validate.Length(1, 200), metadata={"example": "扫码赢红包"})
    starts_at = UtcDateTime(load_default=None, metadata={"example": "2026-03-01T00:00:00Z"})
    ends_at = UtcDateTime(load_default=None, metadata={"example": "2026-03-31T16:00:00Z"})
    product_ids = fields.List(
        Text(validate=validate.Length(1, 32)),
        load_default=None,
        validate=validate.Length(1, 500),
        metadata={"description": "scan_reward: the products whose scans win", "example": ["pr_d10460933cb42a0f58bb"]},
    )
    region_codes = fields.List(
        Text(), load_default=None, validate=validate.Length(max=500), metadata={"example": ["310000"]}
    )
    budget_fen = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, 10**12), metadata={"example": 1000000}
    )
    max_rewards = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, MAX_INT), metadata={"example": 2000}
    )
    per_consumer_daily = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, MAX_INT), metadata={"example": 1}
    )
    per_consumer_total = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, MAX_INT), metadata={"example": 3}
    )
    tiers = fields.List(fields.Nested(TierIn), load_default=None, validate=validate.Length(1, 20))
    # group_buy
    product_id = Text(
        load_default=None,
        validate=validate.Length(1, 32),
        metadata={"description": "group_buy: the product sold", "example": "pr_d10460933cb42a0f58bb"},
    )
    group_size = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(2, 50),
        metadata={"description": "group_buy: members a group needs", "example": 3},
    )
    price_fen = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(1, 10**9),
        metadata={"description": "group_buy: the group price of one item", "example": 990},
    )
    duration_seconds = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(60, 604800),
        metadata={"description": "group_buy: how long a group has to fill", "example": 86400},
    )
    max_groups = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(1, MAX_INT), metadata={"example": 1000}
    )
    per_consumer_limit = fields.Integer(
        load_default=None,
        strict=True,
        validate=validate.Range(1, MAX_INT),
        metadata={"description": "group_buy: groups one consumer may be in", "example": 2},
    )
    virtual_fill = fields.Boolean(
        load_default=False,
        metadata={"description": "group_buy: a group out of time with a paid member succeeds", "example": False},
    )
    # referral
    trigger = fields.String(
        load_default=None,
        validate=validate.OneOf(["first_scan", "first_order"]),
        metadata={"description": "referral: what the referee does that rewards its referrer", "example": None},
    )
    reward = fields.Nested(ReferralRewardIn, load_default=None, metadata={"example": None})
    second_level_percent = fields.Float(
        load_default=None,
        validate=validate.Range(0, 100),
        metadata={"description": "referral: the referrer's referrer gets this percent of the reward", "example": None},
    )

    @validates_schema
    def _fields_of_its_type(self, data, **_):
        required = {
            CampaignType.SCAN_REWARD: SCAN_FIELDS,
            CampaignType.GROUP_BUY: GROUP_BUY_FIELDS,
            CampaignType.REFERRAL: REFERRAL_FIELDS,
        }.get(data.get("type"))
        if required is None:
            raise ValidationError("Unknown campaign type.", "type")
        missing = {name: ["Missing data for required field."] for name in required if data.get(name) is None}
        if missing:
            raise ValidationError(missing)


SCAN_FIELDS = ("starts_at", "ends_at", "product_ids", "budget_fen", "tiers")
GROUP_BUY_FIELDS = ("product_id", "group_size", "price_fen", "duration_seconds")
GROUP_BUY_BODY = GROUP_BUY_FIELDS + ("starts_at", "ends_at", "max_groups", "per_consumer_limit", "virtual_fill")
SCAN_BODY = SCAN_FIELDS + ("region_codes", "max_rewards", "per_consumer_daily", "per_consumer_total")
REFERRAL_FIELDS = ("starts_at", "ends_at", "budget_fen", "trigger", "reward")
REFERRAL_BODY = REFERRAL_FIELDS + ("second_level_percent", "max_rewards")


class CampaignOut(Schema):
    id = fields.String(metadata={"example": "cp_f1b947626c6c07500ff0"})
    type = fields.String(metadata={"example": "scan_reward"})
    name = fields.String(metadata={"example": "扫码赢红包"})
    status = fields.String(metadata={"example": "active"})
    live = fields.Boolean(metadata={"example": True})
    starts_at = UtcDateTime(metadata={"example": "2026-03-01T00:00:00Z"})
    ends_at = UtcDateTime(metadata={"example": "2026-03-31T16:00:00Z"})
    product_ids = fields.List(fields.String(), metadata={"example": ["pr_d10460933cb42a0f58bb"]})
    region_codes = fields.List(fields.String(), metadata={"example": ["310000"]})
    budget_fen = fields.Integer(metadata={"example": 1000000})
    max_rewards = fields.Integer(allow_none=True, metadata={"example": 2000})
    per_consumer_daily = fields.Integer(allow_none=True, metadata={"example": 1})
    per_consumer_total = fields.Integer(allow_none=True, metadata={"example": 3})
    tiers = fields.List(
        fields.Dict(),
        metadata={
            "example": [
                {
                    "probability": 0.2,
                    "reward": {"kind": "brand_coupon", "value_fen": 500, "min_spend_fen": 2000, "valid_days": 30},
                    "max_count": None,
                }
            ]
        },
    )
    issued = fields.Integer(metadata={"example": 268})
    committed_fen = fields.Integer(metadata={"example": 92500})
    spent_fen = fields.Integer(metadata={"example": 41500})
    released_fen = fields.Integer(metadata={"example": 0})
    remaining_budget_fen = fields.Integer(metadata={"example": 866000})
    seed_sha256 = fields.String(
        metadata={"example": "19b25856e1c150ca834cffc8b59b23adbd0ec0389e58eb22b3b64768098d002b"}
    )
    seed = fields.String(
        allow_none=True, metadata={"description": "revealed once the campaign has ended", "example": None}
    )
    created_at = UtcDateTime(metadata={"example": "2026-02-28T09:00:00.356696Z"})
    ended_at = UtcDateTime(allow_none=True, metadata={"example": None})
    group_buy = fields.Dict(
        allow_none=True,
        metadata={
            "description": "group_buy campaigns: their settings and how many groups were opened",
            "example": None,
        },
    )
    referral = fields.Dict(
        allow_none=True,
        metadata={"description": "referral campaigns: trigger, reward and second level", "example": None},
    )


class ScanIn(Schema):
    code = Text(
        required=True,
        validate=validate.Length(1, 2048),
        metadata={"example": "https://qr.example.com/c/AQAAAQAAAAAAAU5OT1JY2GzN"},
    )
    lat = fields.Float(load_default=None, validate=validate.Range(-90, 90), metadata={"example": 31.2304})
    lng = fields.Float(load_default=None, validate=validate.Range(-180, 180), metadata={"example": 121.4737})

    @validates_schema
    def _both_or_neither(self, data, **_):
        if (data.get("lat") is None) != (data.get("lng") is None):
            raise ValidationError("Send both lat and lng, or neither.", "lng" if data.get("lng") is None else "lat")


class CouponOut(Schema):
    coupon_id = fields.String(metadata={"example": "cu_c5e05f5eac52f3ae30d4"})
    code = fields.String(metadata={"example": "KT32WKSB629T"})
    kind = fields.String(metadata={"example": "brand_coupon"})
    value_fen = fields.Integer(metadata={"example": 500})
    min_spend_fen = fields.Integer(metadata={"example": 2000})
    status = fields.String(metadata={"example": "issued"})
    issuer = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    brand_id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    store_id = fields.String(allow_none=True, metadata={"example": None})
    campaign_id = fields.String(allow_none=True, metadata={"example": "cp_f1b947626c6c07500ff0"})
    issued_at = UtcDateTime(metadata={"example": "2026-03-01T02:10:44.491760Z"})
    expires_at = UtcDateTime(metadata={"example": "2026-03-31T02:10:44.491760Z"})
    redeemed_at = UtcDateTime(allow_none=True, metadata={"example": None})


class ScanCoupon(CouponOut):
    """A reward in a scan's body, which the scans view sends without ScanOut's dump: its timestamps are
    written by loyalty/scanning/response.py, as UtcDateTime writes them."""

    issued_at = fields.String(metadata={"example": "2026-03-01T02:10:44.491760Z"})
    expires_at = fields.String(metadata={"example": "2026-03-31T02:10:44.491760Z"})
    redeemed_at = fields.String(allow_none=True, metadata={"example": None})


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
    verdict = fields.String(metadata={"example": "genuine"})
    scan_count = fields.Integer(metadata={"example": 1})
    first_scanned_at = fields.String(allow_none=True, metadata={"example": "2026-03-01T02:10:44.385588Z"})
    first_scan_place = fields.Nested(ScanPlace, allow_none=True)
    product = fields.Nested(ScanProduct, allow_none=True)
    store = fields.Nested(ScanStore, allow_none=True)
    rewards = fields.List(fields.Nested(ScanCoupon))
    warning = fields.Nested(ScanWarning, allow_none=True, metadata={"example": None})
    notice = fields.String(metadata={"example": "Rewards are not available for this account."})


# POST /scans's example as one answer (ScanOut's property examples would put a notice, which comes only
# without rewards, beside a reward): a consumer's first scan of a genuine code that wins a coupon.
SCAN_EXAMPLE = {
    "verdict": "genuine",
    "scan_count": 1,
    "first_scanned_at": "2026-03-01T02:10:44.385588Z",
    "first_scan_place": {"lat": 31.23, "lng": 121.47},
    "product": {
        "id": "pr_d10460933cb42a0f58bb",
        "name": "光明鲜牛奶 1L",
        "brand_id": "br_97b1ec8c117a6d771f0c",
        "brand_name": "光明乳业",
    },
    "store": {"id": "st_227f286d7a79724b92b2", "name": "全家 淮海中路店"},
    "rewards": [
        {
            "coupon_id": "cu_c5e05f5eac52f3ae30d4",
            "code": "KT32WKSB629T",
            "kind": "brand_coupon",
            "value_fen": 500,
            "min_spend_fen": 2000,
            "status": "issued",
            "issuer": "br_97b1ec8c117a6d771f0c",
            "brand_id": "br_97b1ec8c117a6d771f0c",
            "store_id": None,
            "campaign_id": "cp_f1b947626c6c07500ff0",
            "issued_at": "2026-03-01T02:10:44.491760Z",
            "expires_at": "2026-03-31T02:10:44.491760Z",
            "redeemed_at": None,
        }
    ],
    "warning": None,
}


class CouponListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(list(CouponStatus)))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)


CouponPage = page_of(CouponOut)


class RedemptionIn(Schema):
    coupon_code = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "KT32WKSB629T"})


class RedemptionOut(Schema):
    coupon_id = fields.String(metadata={"example": "cu_c5e05f5eac52f3ae30d4"})
    kind = fields.String(metadata={"example": "brand_coupon"})
    value_fen = fields.Integer(metadata={"example": 500})
    reimbursed_fen = fields.Integer(metadata={"example": 500})
    min_spend_fen = fields.Integer(metadata={"example": 2000})
    redeemed_at = UtcDateTime(metadata={"example": "2026-03-01T02:31:05.532619Z"})


class BlacklistIn(Schema):
    consumer_id = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "cs_c68b907ac3816aad9085"})
    reason = Text(
        load_default=None,
        multiline=True,
        validate=validate.Length(1, 200),
        metadata={"example": "同一标签的照片被反复扫码 (scans a photo of one label)"},
    )


class BlacklistOut(Schema):
    consumer_id = fields.String(metadata={"example": "cs_c68b907ac3816aad9085"})
    reason = fields.String(
        allow_none=True, metadata={"example": "同一标签的照片被反复扫码 (scans a photo of one label)"}
    )
    created_at = UtcDateTime(metadata={"example": "2026-03-02T10:04:31.574761Z"})


class ConsumerBalance(Schema):
    pending_fen = fields.Integer(metadata={"example": 300})
    available_fen = fields.Integer(metadata={"example": 1200})
    in_transit_fen = fields.Integer(metadata={"example": 0})
    paid_out_fen = fields.Integer(metadata={"example": 5000})
    next_available_fen = fields.Integer(metadata={"example": 300})
    next_available_at = UtcDateTime(allow_none=True, metadata={"example": "2026-03-08T02:10:44Z"})


class CampaignListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(list(CampaignStatus)))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)


class StoreRedemptionOut(Schema):
    """A coupon redeemed at the store (never the consumer who held it)."""

    coupon_id = fields.String(attribute="id", metadata={"example": "cu_c5e05f5eac52f3ae30d4"})
    code = fields.String(metadata={"example": "KT32WKSB629T"})
    kind = fields.String(metadata={"example": "brand_coupon"})
    value_fen = fields.Integer(metadata={"example": 500})
    min_spend_fen = fields.Integer(metadata={"example": 2000})
    brand_id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    campaign_id = fields.String(allow_none=True, metadata={"example": "cp_f1b947626c6c07500ff0"})
    order_id = fields.String(allow_none=True, metadata={"example": "or_676f7445c47f17c00773"})
    redeemed_at = UtcDateTime(metadata={"example": "2026-03-01T02:31:05.532619Z"})


class CampaignHoldingOut(Schema):
    """Money one of the brand's campaigns holds in its ledger reserve."""

    id = fields.String(metadata={"example": "cp_9f2c41d07a3b4e5f"})
    name = fields.String(metadata={"example": "Spring scan and win"})
    type = fields.String(metadata={"description": "scan_reward, ...", "example": "scan_reward"})
    status = fields.String(
        metadata={
            "description": "active or paused; ended while coupons it issued still hold their share",
            "example": "active",
        }
    )
    held_fen = fields.Integer(
        metadata={"description": "in the campaign's reserve: committed_fen + remaining_budget_fen", "example": 30_000}
    )
    committed_fen = fields.Integer(
        metadata={"description": "held for coupons issued and not yet used or expired", "example": 2_500}
    )
    remaining_budget_fen = fields.Integer(metadata={"description": "what it can still give out", "example": 27_500})


class BrandBalanceOut(Schema):
    """The brand's money: unallocated budget, what its campaigns hold, and its order revenue."""

    budget_fen = fields.Integer(
        metadata={
            "description": "deposited and not yet put into a campaign or spent: what a new campaign can take",
            "example": 70_000,
        }
    )
    reserved_fen = fields.Integer(
        metadata={
            "description": "held for the brand: the sum of campaigns[].held_fen (plus anything pending transfers "
            "hold on the budget); budget_fen + reserved_fen is the brand's money not yet spent",
            "example": 30_000,
        }
    )
    revenue_fen = fields.Integer(metadata={"description": "the brand's share of paid orders", "example": 0})
    balance_fen = fields.Integer(
        metadata={
            "description": "the budget account's posted balance (budget_fen before pending holds)",
            "example": 70_000,
        }
    )
    available_fen = fields.Integer(metadata={"description": "the same as budget_fen", "example": 70_000})
    deposited_fen = fields.Integer(metadata={"description": "every deposit so far", "example": 100_000})
    currency = fields.String(metadata={"example": "CNY"})
    campaigns = fields.List(
        fields.Nested(CampaignHoldingOut),
        metadata={"description": "each campaign holding money, newest first"},
    )


class BrandPointsOut(Schema):
    brand_id = fields.String(metadata={"example": "br_5a1e9c0f3d2b4a68"})
    brand_name = fields.String(metadata={"example": "Bright Dairy"})
    points = fields.Integer(metadata={"description": "live points of this brand", "example": 150})


class PointsGrantOut(Schema):
    """One points prize: when, how many, from which brand's campaign, and whether it still counts."""

    id = fields.String(metadata={"description": "the grant's id (its coupon's)", "example": "cu_0c7d2e9b41a35f86"})
    at = UtcDateTime(metadata={"description": "when it was won (ISO 8601 UTC)", "example": "2026-12-01T08:30:00Z"})
    points = fields.Integer(metadata={"example": 50})
    status = fields.String(
        metadata={
            "description": "active (counts in the balance), expired (past expires_at) or revoked",
            "example": "active",
        }
    )
    expires_at = UtcDateTime(metadata={"example": "2026-12-31T08:30:00Z"})
    brand_id = fields.String(metadata={"example": "br_5a1e9c0f3d2b4a68"})
    brand_name = fields.String(allow_none=True, metadata={"example": "Bright Dairy"})
    campaign_id = fields.String(allow_none=True, metadata={"example": "cp_9f2c41d07a3b4e5f"})
    campaign_name = fields.String(allow_none=True, metadata={"example": "Spring scan and win"})
    coupon_id = fields.String(
        metadata={
            "description": "the coupon that carried the points (also in /me/coupons)",
            "example": "cu_0c7d2e9b41a35f86",
        }
    )
    serial = fields.Integer(
        allow_none=True, metadata={"description": "the serial of the scanned code that won them", "example": 1042}
    )


class PointsOut(Schema):
    """The consumer's points: the live balance (in all and per brand) and a page of the grants behind it."""

    balance = fields.Integer(metadata={"description": "live points of every brand together", "example": 150})
    brands = fields.List(
        fields.Nested(BrandPointsOut),
        metadata={"description": "live points per brand, largest first (points of one brand are spent with it)"},
    )
    items = fields.List(fields.Nested(PointsGrantOut), metadata={"description": "points grants, newest first"})
    next_cursor = Cursor(
        allow_none=True,
        metadata={"description": "pass as ?cursor= for the next page; null on the last", "example": None},
    )
