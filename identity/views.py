from flask.views import MethodView
from flask_smorest import Blueprint

from db import get_session
from identity import nearby, services
from identity.auth import current_brand, current_consumer, require_admin, verify_miniapp_signature
from identity.schemas import (
    BrandCreated,
    BrandIn,
    ConsumerAuthIn,
    ConsumerAuthOut,
    NearbyArgs,
    NearbyPage,
    PartnerIn,
    PartnerOut,
    StoreCreated,
    StoreIn,
)

bp = Blueprint("identity", __name__, url_prefix="/api/v1", description="Brands, stores, consumers, partners")


@bp.route("/admin/brands")
class AdminBrands(MethodView):
    @bp.arguments(BrandIn)
    @bp.response(201, BrandCreated)
    def post(self, body):
        """Onboard a brand; its API key is shown only in this response."""
        require_admin()
        return services.create_brand(get_session(), **body)


@bp.route("/admin/stores")
class AdminStores(MethodView):
    @bp.arguments(StoreIn)
    @bp.response(201, StoreCreated)
    def post(self, body):
        """Onboard a store; its API key is shown only in this response."""
        require_admin()
        return services.create_store(get_session(), **body)


@bp.route("/auth/consumer")
class ConsumerAuth(MethodView):
    @bp.arguments(ConsumerAuthIn)
    @bp.response(200, ConsumerAuthOut)
    def post(self, body):
        """Exchange a mini-app openid signed with MINIAPP_SECRET for a session token."""
        ok = verify_miniapp_signature(body["openid"], body["signature"])
        return services.sign_in_consumer(get_session(), body["openid"], ok)


@bp.route("/brand/partners")
class BrandPartners(MethodView):
    @bp.arguments(PartnerIn)
    @bp.response(201, PartnerOut)
    def post(self, body):
        """Add a store to the brand's partner network (idempotent)."""
        return services.add_partner(get_session(), current_brand().id, body["store_id"])

    @bp.response(200, PartnerOut(many=True))
    def get(self):
        """The brand's partner stores."""
        return services.list_partners(get_session(), current_brand().id)


@bp.route("/stores/nearby")
class NearbyStores(MethodView):
    @bp.arguments(NearbyArgs, location="query")
    @bp.response(200, NearbyPage)
    def get(self, args):
        """Stores near a location, nearest first (optionally only a brand's partners)."""
        current_consumer()
        return nearby.nearby_page(
            get_session(), args["lat"], args["lng"], args["radius_m"], args["brand_id"], args["limit"]
        )
