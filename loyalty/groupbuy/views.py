"""HTTP for group-buy: the campaign's open groups, open, join, a group's status, and the public share page."""

from flask import Blueprint, current_app, render_template
from flask.views import MethodView
from flask_smorest import Blueprint as ApiBlueprint

from codes.models import Product
from codes.pages import miniapp_link
from db import get_session
from errors import fails
from identity.auth import current_consumer
from loyalty.groupbuy import groups
from loyalty.groupbuy.models import GroupStatus
from loyalty.groupbuy.schemas import GroupBuyOut, GroupOpenedOut, GroupOut, JoinedOut, JoinIn, OpenGroupIn
from storefront import orders

bp = ApiBlueprint("groupbuy", __name__, url_prefix="/api/v1", description="Group-buy (拼团)")
page_bp = Blueprint("group_page", __name__, template_folder="templates")


@bp.route("/group-buys/<campaign_id>")
class GroupBuy(MethodView):
    @bp.response(200, GroupBuyOut)
    @fails(401, 404)
    def get(self, campaign_id):
        """A group-buy: product, group price and size, and the forming groups that still have seats."""
        current_consumer()
        return groups.campaign_view(get_session(), campaign_id)


@bp.route("/group-buys/<campaign_id>/groups")
class OpenGroup(MethodView):
    @bp.arguments(OpenGroupIn)
    @bp.response(201, GroupOpenedOut)
    @fails(401, 404, 409, 422)
    def post(self, body, campaign_id):
        """Open a group: the opener's order (pending payment; its seat is held until it expires) and a share link."""
        group, order = groups.open_group(
            get_session(),
            current_consumer().id,
            campaign_id,
            body["store_id"],
            payment_seconds=current_app.config["ORDER_PAYMENT_SECONDS"],
        )
        base = current_app.config["PUBLIC_BASE_URL"]
        return {"group_id": group.id, "order": orders.describe(order), "share_url": f"{base}/g/{group.id}"}


@bp.route("/groups/<group_id>/join")
class JoinGroup(MethodView):
    @bp.arguments(JoinIn)
    @bp.response(201, JoinedOut)
    @fails(401, 404, 409, 422)
    def post(self, body, group_id):
        """Take a seat: an order to pay at the group price (full → group_full, not forming → group_closed)."""
        order = groups.join_group(
            get_session(),
            current_consumer().id,
            group_id,
            body["store_id"],
            payment_seconds=current_app.config["ORDER_PAYMENT_SECONDS"],
        )
        return {"order": orders.describe(order)}


@bp.route("/groups/<group_id>")
class GroupResource(MethodView):
    @bp.response(200, GroupOut)
    @fails(401, 404)
    def get(self, group_id):
        """A group's status: forming, succeeded or failed; paid members, seats left, when it ends."""
        current_consumer()
        return groups.describe_group(groups.get_group(get_session(), group_id))


@page_bp.get("/g/<group_id>")
def share_page(group_id):
    """The page a shared link opens: product, group price, seats and time left, join in the mini app."""
    session = get_session()
    group = session.get(groups.Group, group_id)
    if group is None:
        return render_template("group_missing.html"), 404, {"Cache-Control": "no-store"}
    config = current_app.config
    seats_left = max(0, group.size - group.seats_taken) if group.status == GroupStatus.FORMING else 0
    html = render_template(
        "group_share.html",
        group=group,
        seats_left=seats_left,
        product=session.get(Product, group.product_id),
        miniapp=miniapp_link(config["MINIAPP_APPID"], config["MINIAPP_PATH"], group=group.id),
    )
    return html, 200, {"Cache-Control": "no-store"}
