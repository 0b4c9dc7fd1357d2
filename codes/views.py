import re

from flask import Response, current_app, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from codes import aggregation, batches, export, gtins, keys, labels, tokens, trace
from codes.schemas import (
    ActivateIn,
    ActivateOut,
    AggregationIn,
    AggregationOut,
    BatchIn,
    BatchOut,
    BatchPage,
    Gs1PrefixIn,
    Gs1PrefixOut,
    KeyOut,
    KeyRow,
    LabelQuery,
    ProductIn,
    ProductOut,
    RangeQuery,
    TraceOut,
    VoidIn,
    VoidOut,
)
from codes.verify import code_url, gs1_fields, own_code
from db import get_session
from errors import NotFound, ValidationFailed, fails
from identity.auth import current_brand, require_admin
from pagination import ListArgs, page_of

bp = Blueprint(
    "codes", __name__, url_prefix="/api/v1", description="Products, batches, codes, labels, keys, GTIN ownership"
)

MAX_LABELS = 10_000


@bp.route("/brand/products")
class Products(MethodView):
    @bp.arguments(ProductIn)
    @bp.response(201, ProductOut)
    @fails(401, 403, 409)
    def post(self, body):
        """Add a product to the brand's catalogue (GTIN check digit verified, stored as GTIN-14)."""
        return batches.create_product(get_session(), current_brand().id, **body)

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(ProductOut))
    @fails(401, 403)
    def get(self, args):
        """The brand's catalogue, newest first."""
        rows, cursor = batches.list_products(get_session(), current_brand().id, args["limit"], args["cursor"])
        return {"items": rows, "next_cursor": cursor}


@bp.route("/brand/batches")
class Batches(MethodView):
    @bp.arguments(BatchIn)
    @bp.response(201, BatchOut)
    @fails(401, 403, 404, 409)
    def post(self, body):
        """Issue a batch of 1..10,000,000 codes: O(1) rows, codes are inactive until activated."""
        session = get_session()
        batch = batches.create_batch(session, current_brand().id, **body)
        return batches.summarize(session, batch)

    @bp.arguments(ListArgs, location="query")
    @bp.response(200, BatchPage)
    @fails(401, 403)
    def get(self, args):
        """The brand's batches, newest first."""
        session = get_session()
        rows, cursor = batches.list_batches(session, current_brand().id, args["limit"], args["cursor"])
        return {"items": [batches.summarize(session, b) for b in rows], "next_cursor": cursor}


@bp.route("/brand/batches/<batch_id>")
class BatchResource(MethodView):
    @bp.response(200, BatchOut)
    @fails(401, 403, 404)
    def get(self, batch_id):
        """One of the brand's batches: status and its activated, voided and scanned counts."""
        session = get_session()
        return batches.summarize(session, batches.own_batch(session, current_brand().id, batch_id))


def _range(batch, args) -> tuple[int, int]:
    return batches._check_range(batch, args.get("from_"), args.get("to"))


@bp.route("/brand/batches/<batch_id>/codes.csv")
class BatchCsv(MethodView):
    @bp.arguments(RangeQuery, location="query")
    @bp.response(200, content_type="text/csv")
    @fails(401, 403, 404)
    def get(self, args, batch_id):
        """Stream `serial,token,url` for the batch (or ?from=&to=) with constant memory."""
        session = get_session()
        batch = batches.own_batch(session, current_brand().id, batch_id)
        first, last = _range(batch, args)
        _, secret = keys.secret_for(session, batch.key_id)
        gs1 = gs1_fields(session, batch)
        processes = current_app.config.get("EXPORT_PROCESSES", 0)
        body = export.csv_rows(secret, batch.key_id, current_app.config["PUBLIC_BASE_URL"], first, last, gs1, processes)
        return Response(
            body,
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{batch.id}-{first}-{last}.csv"'},
        )


@bp.route("/brand/batches/<batch_id>/labels.zip")
class BatchLabels(MethodView):
    @bp.arguments(LabelQuery, location="query")
    @bp.response(200, content_type="application/zip")
    @fails(401, 403, 404)
    def get(self, args, batch_id):
        """A ZIP of QR labels named `{serial}.{format}`, at most 10,000 per request."""
        session = get_session()
        batch = batches.own_batch(session, current_brand().id, batch_id)
        first, last = _range(batch, args)
        if last - first + 1 > MAX_LABELS:
            raise ValidationFailed({"to": [f"At most {MAX_LABELS:,} labels per request; narrow from/to."]})
        fmt, base = args["format"], current_app.config["PUBLIC_BASE_URL"]
        _, secret = keys.secret_for(session, batch.key_id)
        signer, gs1 = tokens.keyed(secret), gs1_fields(session, batch)

        def items():
            for serial in range(first, last + 1):
                url = tokens.code_url(base, signer, batch.key_id, serial, gs1)
                yield f"{serial}.{fmt}", labels.qr_image(url, fmt)

        return Response(
            stream_with_context(labels.zip_stream(items())),
            mimetype="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{batch.id}-{first}-{last}-{fmt}.zip"'},
        )


@bp.route("/brand/codes/<path:token>/qr.<any(png, svg):fmt>")
class CodeQr(MethodView):
    @bp.response(200, content_type="image/png")
    @fails(401, 403, 404)
    def get(self, token, fmt):
        """One QR label (token, or the code's full URL percent-encoded)."""
        session = get_session()
        found = own_code(session, current_brand().id, token)
        url = code_url(session, current_app.config["PUBLIC_BASE_URL"], found.batch, found.serial)
        return Response(labels.qr_image(url, fmt), mimetype=labels.FORMATS[fmt])


@bp.route("/brand/batches/<batch_id>/activate")
class Activate(MethodView):
    @bp.arguments(ActivateIn)
    @bp.response(200, ActivateOut)
    @fails(401, 403, 404)
    def post(self, body, batch_id):
        """Activate the whole batch or a serial range (when goods leave the factory)."""
        return batches.activate(get_session(), current_brand().id, batch_id, body.get("from_"), body.get("to"))


@bp.route("/brand/batches/<batch_id>/void")
class Void(MethodView):
    @bp.arguments(VoidIn)
    @bp.response(200, VoidOut)
    @fails(401, 403, 404)
    def post(self, body, batch_id):
        """Void a serial range (recall, damaged labels); voided codes never reward."""
        return batches.void(get_session(), current_brand().id, batch_id, body["from_"], body["to"], body["reason"])


@bp.route("/brand/aggregations")
class Aggregations(MethodView):
    @bp.arguments(AggregationIn)
    @bp.response(201, AggregationOut)
    @fails(401, 403, 404, 409)
    def post(self, body):
        """Pack item codes into a case code (or unpack, or repack from another case)."""
        return aggregation.aggregate(
            get_session(), current_brand().id, body["parent"], body["children"], body["action"]
        )


@bp.route("/brand/codes/<path:token>/trace")
class Trace(MethodView):
    @bp.response(200, TraceOut)
    @fails(401, 403, 404)
    def get(self, token):
        """A code's timeline: issued, activated, voided, packed, received, scanned."""
        return trace.trace(get_session(), current_brand().id, token)


@bp.route("/brand/keys")
class Keys(MethodView):
    @bp.arguments(ListArgs, location="query")
    @bp.response(200, page_of(KeyRow))
    @fails(401, 403)
    def get(self, args):
        """The brand's code-signing keys, newest first, revoked ones included."""
        rows, cursor = keys.list_keys(get_session(), current_brand().id, args["limit"], args["cursor"])
        return {"items": rows, "next_cursor": cursor}


@bp.route("/brand/keys/rotate")
class RotateKey(MethodView):
    @bp.response(201, KeyOut)
    @fails(401, 403)
    def post(self):
        """New batches use the new key; codes under older keys keep verifying."""
        return keys.rotate(get_session(), current_brand().id)


@bp.route("/brand/keys/<key_id>/revoke")
class RevokeKey(MethodView):
    @bp.response(200, KeyOut)
    @fails(401, 403, 404, 409)
    def post(self, key_id):
        """Codes signed with a revoked key scan as `revoked_key`."""
        # ASCII digits only: werkzeug's <int:> takes any Unicode digit (`٧` would name key 7).
        if not re.fullmatch(r"[0-9]{1,8}", key_id):
            raise NotFound("No such key for this brand.")
        return keys.revoke(get_session(), current_brand().id, int(key_id))


@bp.route("/admin/brands/<brand_id>/gs1-prefixes")
class Gs1Prefixes(MethodView):
    @bp.arguments(Gs1PrefixIn)
    @bp.response(201, Gs1PrefixOut)
    @fails(401, 403, 404, 409)
    def post(self, body, brand_id):
        """Assign a GS1 company prefix to a brand: from then on only it registers GTINs under the prefix."""
        require_admin()
        return gtins.assign_prefix(get_session(), brand_id, body["prefix"])
