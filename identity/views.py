from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from db import get_session
from errors import fails
from identity import credentials, nearby, services
from identity.auth import current_brand, current_consumer, current_store, require_admin
from identity.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    ApiKeyPage,
    BrandCreated,
    BrandIn,
    BrandOut,
    ConsumerAuthIn,
    ConsumerAuthOut,
    NearbyArgs,
    NearbyPage,
    PartnerIn,
    PartnerOut,
    StoreCreated,
    StoreIn,
    StoreOut,
)
from pagination import ListArgs, page_of

bp = Blueprint("identity", __name__, url_prefix="/api/v1", description="Brands, stores, consumers, partners")


@bp.route("/admin/brands")
class AdminBrands(MethodView):
    @bp.arguments(BrandIn)
    @bp.response(201, BrandCreated)
    @fails(401, 403)
    def post(self, body):
        """Onboard a brand; its API key is shown only in this response."""
        require_admin()
        return services.create_brand(get_session(), **body)

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(BrandOut))
    @fails(401, 403)
    def get(self, args):
        """Every brand, newest first (never a key)."""
        require_admin()
        return _page(services.list_brands(get_session(), args["limit"], args["cursor"]))


@bp.route("/admin/stores")
class AdminStores(MethodView):
    @bp.arguments(StoreIn)
    @bp.response(201, StoreCreated)
    @fails(401, 403)
    def post(self, body):
        """Onboard a store; its API key is shown only in this response."""
        require_admin()
        return services.create_store(get_session(), **body)

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(StoreOut))
    @fails(401, 403)
    def get(self, args):
        """Every store, newest first (never a key)."""
        require_admin()
        return _page(services.list_stores(get_session(), args["limit"], args["cursor"]))


@bp.route("/auth/consumer")
class ConsumerAuth(MethodView):
    @bp.arguments(ConsumerAuthIn)
    @bp.response(200, ConsumerAuthOut)
    @fails(401)
    def post(self, body):
        """Exchange the mini app's one-time login proof for a session token (bad, stale or used: 401)."""
        return services.sign_in_consumer(get_session(), current_app.config["MINIAPP_SECRET"], **body)


@bp.route("/brand/partners")
class BrandPartners(MethodView):
    @bp.arguments(PartnerIn)
    @bp.response(201, PartnerOut)
    @fails(401, 403, 404)
    def post(self, body):
        """Add a store to the brand's partner network (idempotent)."""
        return services.add_partner(get_session(), current_brand().id, body["store_id"])

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(PartnerOut))
    @fails(401, 403)
    def get(self, args):
        """The brand's partner stores, the latest to join first."""
        return _page(services.list_partners(get_session(), current_brand().id, args["limit"], args["cursor"]))


@bp.route("/stores/nearby")
class NearbyStores(MethodView):
    @bp.arguments(NearbyArgs, location="query")
    @bp.response(200, NearbyPage)
    @fails(401, 403)
    def get(self, args):
        """Stores near a location, nearest first (optionally only a brand's partners)."""
        current_consumer()
        return nearby.nearby_page(
            get_session(), args["lat"], args["lng"], args["radius_m"], args["brand_id"], args["limit"]
        )


# --- API keys: the same endpoints for brands and stores, each principal on its own keys -------------
@bp.route("/brand/api-keys")
class BrandApiKeys(MethodView):
    @bp.arguments(ApiKeyIn)
    @bp.response(201, ApiKeyCreated)
    @fails(401, 403, 409)
    def post(self, body):
        """Create another API key; its secret is shown only in this answer."""
        return credentials.create_key(get_session(), "brand", current_brand().id, body["label"])

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, ApiKeyPage)
    @fails(401, 403)
    def get(self, args):
        """The brand's API keys, newest first, revoked ones included (never their secrets)."""
        return _page(credentials.list_keys(get_session(), "brand", current_brand().id, args["limit"], args["cursor"]))


@bp.route("/brand/api-keys/<key_id>")
class BrandApiKey(MethodView):
    @bp.response(200, ApiKeyOut)
    @fails(401, 403, 404, 409)
    def delete(self, key_id):
        """Revoke a key: refused everywhere from the next request on. The last active key cannot be
        revoked (409 last_key): create its successor first."""
        return credentials.revoke_key(get_session(), "brand", current_brand().id, key_id)


@bp.route("/store/api-keys")
class StoreApiKeys(MethodView):
    @bp.arguments(ApiKeyIn)
    @bp.response(201, ApiKeyCreated)
    @fails(401, 403, 409)
    def post(self, body):
        """Create another API key; its secret is shown only in this answer."""
        return credentials.create_key(get_session(), "store", current_store().id, body["label"])

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, ApiKeyPage)
    @fails(401, 403)
    def get(self, args):
        """The store's API keys, newest first, revoked ones included (never their secrets)."""
        return _page(credentials.list_keys(get_session(), "store", current_store().id, args["limit"], args["cursor"]))


@bp.route("/store/api-keys/<key_id>")
class StoreApiKey(MethodView):
    @bp.response(200, ApiKeyOut)
    @fails(401, 403, 404, 409)
    def delete(self, key_id):
        """Revoke a key: refused everywhere, the store page included, from the next request on. The
        last active key cannot be revoked (409 last_key): create its successor first."""
        return credentials.revoke_key(get_session(), "store", current_store().id, key_id)


@bp.route("/admin/brands/<brand_id>/api-keys")
class AdminBrandApiKeys(MethodView):
    @bp.response(201, ApiKeyCreated)
    @fails(401, 403, 404)
    def post(self, brand_id):
        """Issue a new API key to a brand that lost its own (shown only in this answer)."""
        require_admin()
        return credentials.issue_key(get_session(), "brand", brand_id)


@bp.route("/admin/stores/<store_id>/api-keys")
class AdminStoreApiKeys(MethodView):
    @bp.response(201, ApiKeyCreated)
    @fails(401, 403, 404)
    def post(self, store_id):
        """Issue a new API key to a store that lost its own (shown only in this answer)."""
        require_admin()
        return credentials.issue_key(get_session(), "store", store_id)


def _page(found) -> dict:
    rows, cursor = found
    return {"items": rows, "next_cursor": cursor}
