"""HTTP for brand insight: statistics, campaign figures, the store ranking, the scans CSV."""

from flask import Response, current_app, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from db import get_session
from errors import NotFound, fails, invalid
from identity.auth import current_brand
from insight import diversion as detection
from insight import export, stats
from insight.schemas import (
    AlertListArgs,
    AlertOut,
    CampaignStatsOut,
    ClusterRuleIn,
    ClusterRuleOut,
    RankedStoreOut,
    RankingArgs,
    StatsArgs,
    StatsOut,
    TriageIn,
    WindowArgs,
)
from pagination import NOT_OURS, page_of
from storefront import diversion

bp = Blueprint("insight", __name__, url_prefix="/api/v1", description="Brand statistics, rankings and exports")

STATS_EXAMPLE = {
    "from": "2026-11-29",
    "to": "2026-11-30",
    "group_by": "day",
    "totals": {
        "scans": 75,
        "first_scans": 62,
        "unique_consumers": 30,
        "repeat_consumers": 4,
        "repurchase_rate": 0.1429,
        "coupons_issued": 50,
        "coupons_redeemed": 18,
        "reward_cost_fen": 9000,
        "orders": 12,
        "order_revenue_fen": 28800,
        "receipts": 3,
    },
    "series": [
        {
            "key": "2026-11-29",
            "scans": 35,
            "first_scans": 30,
            "unique_consumers": 16,
            "coupons_issued": 24,
            "coupons_redeemed": 8,
            "reward_cost_fen": 4000,
        },
        {
            "key": "2026-11-30",
            "scans": 40,
            "first_scans": 32,
            "unique_consumers": 18,
            "coupons_issued": 26,
            "coupons_redeemed": 10,
            "reward_cost_fen": 5000,
        },
    ],
}


@bp.route("/brand/stats")
class BrandStats(MethodView):
    @bp.arguments(StatsArgs, location="query")
    @bp.response(200, StatsOut, example=STATS_EXAMPLE)
    @fails(401, 403)
    def get(self, args):
        """The brand's figures for a window of Shanghai days: totals and a series by day, region, product or store."""
        return stats.brand_stats(get_session(), current_brand().id, **args)


@bp.route("/brand/campaigns/<campaign_id>/stats")
class CampaignStats(MethodView):
    @bp.response(200, CampaignStatsOut)
    @fails(401, 403, 404)
    def get(self, campaign_id):
        """A campaign's coupons issued and redeemed, their cost, the orders attributed to it and its ROI."""
        return stats.campaign_stats(get_session(), current_brand().id, campaign_id)


@bp.route("/brand/stores/ranking")
class StoreRanking(MethodView):
    @bp.arguments(RankingArgs, location="query")
    @bp.response(200, page_of(RankedStoreOut))
    @fails(401, 403)
    def get(self, args):
        """The stores of the brand's network ranked by receipts, sell-through or redemptions in the window."""
        cursor = args["cursor"]
        if cursor is not None and not cursor.isdigit():
            raise invalid("cursor", NOT_OURS)
        items, offset = stats.store_ranking(
            get_session(),
            current_brand().id,
            args["from_day"],
            args["to_day"],
            args["by"],
            args["limit"],
            int(cursor or 0),
        )
        return {"items": items, "next_cursor": None if offset is None else str(offset)}


@bp.route("/brand/scans.csv")
class ScansCsv(MethodView):
    @bp.arguments(WindowArgs, location="query")
    @bp.response(200, content_type="text/csv")
    @fails(401, 403)
    def get(self, args):
        """Stream the brand's scans in the window as CSV (oldest first) with constant memory."""
        brand_id = current_brand().id
        first, last = stats.window(args["from_day"], args["to_day"])
        body = export.scan_rows(current_app._get_current_object(), brand_id, first, last)
        return Response(
            stream_with_context(body),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="scans-{first}-{last}.csv"'},
        )


@bp.route("/brand/diversion-alerts")
class DiversionAlerts(MethodView):
    @bp.arguments(AlertListArgs, location="query")
    @bp.response(200, page_of(AlertOut))
    @fails(401, 403)
    def get(self, args):
        """Goods seen outside their assigned regions (receipts and scan clusters) with the evidence, newest first."""
        items, cursor = diversion.alerts(
            get_session(), current_brand().id, args["status"], args["limit"], args["cursor"]
        )
        return {"items": [diversion.describe(a) for a in items], "next_cursor": cursor}


@bp.route("/brand/diversion-alerts/<alert_id>")
class DiversionAlert(MethodView):
    @bp.arguments(TriageIn)
    @bp.response(200, AlertOut)
    @fails(401, 403, 404, 409)
    def post(self, body, alert_id):
        """Triage an alert: open -> acknowledged -> confirmed | dismissed, with a note."""
        brand_id = current_brand().id
        if not alert_id.isdigit() or len(alert_id) > 18:
            raise NotFound("No such diversion alert.")
        alert = diversion.triage(get_session(), brand_id, int(alert_id), body["status"], body["note"])
        return diversion.describe(alert)


@bp.route("/brand/diversion-rules")
class ClusterRules(MethodView):
    @bp.response(200, ClusterRuleOut)
    @fails(401, 403)
    def get(self):
        """The brand's thresholds for scan-cluster alerts (defaults until set)."""
        return detection.rule_of(get_session(), current_brand().id)

    @bp.arguments(ClusterRuleIn)
    @bp.response(200, ClusterRuleOut)
    @fails(401, 403)
    def put(self, body):
        """Set the scan-cluster thresholds: distinct consumers within a radius and a time window."""
        return detection.set_rule(get_session(), current_brand().id, **body)
