"""Insight's request and response schemas: statistics, campaign figures, the store ranking, the CSV."""

from marshmallow import Schema, fields, validate

from insight.stats import GROUPS, RANKINGS
from pagination import Cursor
from schemas import Day, Text, UtcDateTime

REGION = validate.Regexp(r"^\d{6}$", error="A 6-digit region code.")


class WindowArgs(Schema):
    from_day = Day(
        data_key="from",
        load_default=None,
        metadata={"description": "first Shanghai day (default: 29 days before `to`)", "example": "2026-11-01"},
    )
    to_day = Day(
        data_key="to",
        load_default=None,
        metadata={"description": "last Shanghai day (default: today)", "example": "2026-11-30"},
    )


class StatsArgs(WindowArgs):
    group_by = fields.String(load_default="day", validate=validate.OneOf(GROUPS), metadata={"example": "day"})
    product_id = Text(
        load_default=None, validate=validate.Length(1, 32), metadata={"example": "pr_d10460933cb42a0f58bb"}
    )
    region_code = Text(load_default=None, validate=REGION, metadata={"example": "310101"})


class TotalsOut(Schema):
    scans = fields.Integer(metadata={"example": 1200})
    first_scans = fields.Integer(metadata={"example": 1000})
    unique_consumers = fields.Integer(metadata={"example": 300})
    repeat_consumers = fields.Integer(metadata={"example": 45})
    repurchase_rate = fields.Float(metadata={"example": 0.15})
    coupons_issued = fields.Integer(metadata={"example": 800})
    coupons_redeemed = fields.Integer(metadata={"example": 320})
    reward_cost_fen = fields.Integer(metadata={"example": 160000})
    orders = fields.Integer(metadata={"example": 210})
    order_revenue_fen = fields.Integer(metadata={"example": 504000})
    receipts = fields.Integer(metadata={"example": 40})


class SeriesOut(Schema):
    key = fields.String(metadata={"example": "2026-11-30", "description": "the day, region, product or store"})
    scans = fields.Integer(metadata={"example": 40})
    first_scans = fields.Integer(metadata={"example": 33})
    unique_consumers = fields.Integer(metadata={"example": 20})
    coupons_issued = fields.Integer(metadata={"example": 25})
    coupons_redeemed = fields.Integer(metadata={"example": 9})
    reward_cost_fen = fields.Integer(metadata={"example": 4500})


class StatsOut(Schema):
    from_day = Day(data_key="from", metadata={"example": "2026-11-01"})
    to_day = Day(data_key="to", metadata={"example": "2026-11-30"})
    group_by = fields.String(metadata={"example": "day"})
    totals = fields.Nested(TotalsOut)
    series = fields.List(fields.Nested(SeriesOut))


class CampaignStatsOut(Schema):
    campaign_id = fields.String(metadata={"example": "cp_5b0a4c0e3f1d2a9b8c7d"})
    name = fields.String(metadata={"example": "扫码赢红包"})
    status = fields.String(metadata={"example": "active"})
    issued = fields.Integer(metadata={"example": 800})
    redeemed = fields.Integer(metadata={"example": 320})
    cost_fen = fields.Integer(metadata={"example": 160000})
    attributed_orders = fields.Integer(metadata={"example": 210})
    attributed_revenue_fen = fields.Integer(metadata={"example": 504000})
    roi = fields.Float(
        allow_none=True,
        metadata={"example": 2.15, "description": "(attributed revenue - cost) / cost; null without cost"},
    )
    attribution_days = fields.Integer(metadata={"example": 7})


class RankingArgs(WindowArgs):
    by = fields.String(load_default="receipts", validate=validate.OneOf(RANKINGS), metadata={"example": "sell_through"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500), metadata={"example": 10})
    cursor = Cursor(load_default=None)


class RankedStoreOut(Schema):
    rank = fields.Integer(metadata={"example": 1})
    store_id = fields.String(metadata={"example": "st_9f0c2d8e7b6a5c4d3e2f"})
    name = fields.String(metadata={"example": "华联超市 南京路店"})
    region_code = fields.String(metadata={"example": "310101"})
    receipts = fields.Integer(metadata={"example": 12})
    received_items = fields.Integer(metadata={"example": 144})
    sell_through = fields.Integer(metadata={"example": 130})
    redemptions = fields.Integer(metadata={"example": 41})


ALERT_STATUSES = ("open", "acknowledged", "confirmed", "dismissed")


class AlertListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(ALERT_STATUSES), metadata={"example": "open"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500), metadata={"example": 50})
    cursor = Cursor(load_default=None)


class AlertOut(Schema):
    id = fields.String(metadata={"example": "7"})
    kind = fields.String(metadata={"example": "scan_cluster", "description": "receipt | scan_cluster"})
    status = fields.String(metadata={"example": "open", "description": "open | acknowledged | confirmed | dismissed"})
    serial = fields.Integer(
        metadata={"example": 10001, "description": "the case received, or the cluster's first code"}
    )
    case = fields.Integer(allow_none=True, metadata={"example": 20001})
    batch_id = fields.String(metadata={"example": "ba_607684d9ae05a482f17f"})
    store_id = fields.String(allow_none=True, metadata={"example": None})
    distributor = fields.String(allow_none=True, metadata={"example": "上海华东配送中心"})
    expected_regions = fields.List(fields.String(), metadata={"example": ["310000"]})
    seen_region = fields.String(allow_none=True, metadata={"example": "440305"})
    evidence = fields.Dict(
        metadata={
            "example": {
                "codes": [10001, 10002, 10003],
                "scans": 3,
                "consumers": 3,
                "case": 20001,
                "first_at": "2026-03-03T05:12:40.372331Z",
                "last_at": "2026-03-03T07:40:02.100000Z",
                "center": {"lat": 22.5431, "lng": 114.0579},
                "radius_m": 5000,
                "window_minutes": 1440,
                "min_consumers": 3,
            }
        }
    )
    note = fields.String(allow_none=True, metadata={"example": "Distributor confirmed the shipment went to Shenzhen."})
    at = UtcDateTime(metadata={"example": "2026-03-03T07:40:02.100000Z"})
    created_at = UtcDateTime(metadata={"example": "2026-03-03T07:40:02.100000Z"})
    triaged_at = UtcDateTime(allow_none=True, metadata={"example": None})


class TriageIn(Schema):
    status = fields.String(
        required=True, validate=validate.OneOf(ALERT_STATUSES[1:]), metadata={"example": "acknowledged"}
    )
    note = Text(
        load_default=None,
        validate=validate.Length(max=500),
        multiline=True,
        metadata={"example": "Checking with the distributor."},
    )


class ClusterRuleIn(Schema):
    radius_m = fields.Integer(
        required=True, strict=True, validate=validate.Range(50, 500_000), metadata={"example": 5000}
    )
    window_minutes = fields.Integer(
        required=True, strict=True, validate=validate.Range(5, 30 * 24 * 60), metadata={"example": 1440}
    )
    min_consumers = fields.Integer(
        required=True, strict=True, validate=validate.Range(2, 1000), metadata={"example": 3}
    )


class ClusterRuleOut(Schema):
    radius_m = fields.Integer(metadata={"example": 5000})
    window_minutes = fields.Integer(metadata={"example": 1440})
    min_consumers = fields.Integer(metadata={"example": 3})
