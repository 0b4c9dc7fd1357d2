from marshmallow import Schema, fields, validate

from codes.models import BatchKind, CodeFormat
from pagination import page_of
from schemas import BIGINT, Day, Text, UtcDateTime


class ProductIn(Schema):
    sku = Text(required=True, validate=validate.Length(1, 64))
    name = Text(required=True, validate=validate.Length(1, 200))
    price_fen = fields.Integer(required=True, strict=True, validate=validate.Range(0, 10**10))
    cost_fen = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, 10**10))
    gtin = Text(load_default=None, validate=validate.Length(1, 14))


class ProductOut(Schema):
    id = fields.String()
    sku = fields.String()
    name = fields.String()
    price_fen = fields.Integer()
    cost_fen = fields.Integer(allow_none=True)
    gtin = fields.String(allow_none=True)
    created_at = UtcDateTime()


class BatchIn(Schema):
    product_id = Text(required=True, validate=validate.Length(1, 32))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10_000_000))
    lot = fields.String(
        required=True,
        validate=validate.Regexp(
            r"[A-Za-z0-9._-]{1,20}\Z", error="1 to 20 characters of letters, digits, '.', '_' or '-'."
        ),
        metadata={"pattern": "^[A-Za-z0-9._-]{1,20}$", "example": "L2026A"},  # \Z is Python's, not ECMA's
    )
    produced_on = Day(required=True)
    expires_on = Day(load_default=None)
    kind = fields.String(load_default=BatchKind.ITEM, validate=validate.OneOf(list(BatchKind)))
    format = fields.String(load_default=CodeFormat.SHORT, validate=validate.OneOf(list(CodeFormat)))
    region_codes = fields.List(Text(), load_default=None, validate=validate.Length(max=200))
    distributor = Text(load_default=None, validate=validate.Length(1, 200))


class BatchOut(Schema):
    id = fields.String(attribute="batch.id")
    status = fields.String()
    product_id = fields.String(attribute="batch.product_id")
    kind = fields.String(attribute="batch.kind")
    format = fields.String(attribute="batch.format")
    quantity = fields.Integer(attribute="batch.quantity")
    serial_from = fields.Integer(attribute="batch.serial_from")
    serial_to = fields.Integer(attribute="batch.serial_to")
    key_id = fields.String(attribute="batch.key_id")
    lot = fields.String(attribute="batch.lot")
    produced_on = fields.Date(attribute="batch.produced_on")
    expires_on = fields.Date(attribute="batch.expires_on", allow_none=True)
    region_codes = fields.List(fields.String(), attribute="batch.region_codes")
    distributor = fields.String(attribute="batch.distributor", allow_none=True)
    activated = fields.Integer()
    voided = fields.Integer()
    scanned = fields.Integer()
    created_at = UtcDateTime(attribute="batch.created_at")


BatchPage = page_of(BatchOut)


class RangeQuery(Schema):
    from_ = fields.Integer(data_key="from", load_default=None, validate=validate.Range(0, BIGINT))
    to = fields.Integer(load_default=None, validate=validate.Range(0, BIGINT))


class LabelQuery(RangeQuery):
    format = fields.String(load_default="png", validate=validate.OneOf(["png", "svg"]))


class ActivateIn(Schema):
    from_ = fields.Integer(data_key="from", load_default=None, strict=True, validate=validate.Range(0, BIGINT))
    to = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, BIGINT))


class ActivateOut(Schema):
    activated = fields.Integer()
    batch_activated = fields.Integer()


class VoidIn(Schema):
    from_ = fields.Integer(data_key="from", required=True, strict=True, validate=validate.Range(0, BIGINT))
    to = fields.Integer(required=True, strict=True, validate=validate.Range(0, BIGINT))
    reason = Text(required=True, multiline=True, validate=validate.Length(1, 200))


class VoidOut(Schema):
    voided = fields.Integer()
    batch_voided = fields.Integer()


class AggregationIn(Schema):
    parent = Text(required=True, validate=validate.Length(1, 2048))
    children = fields.List(Text(validate=validate.Length(1, 2048)), required=True)
    action = fields.String(load_default="pack", validate=validate.OneOf(["pack", "unpack", "repack"]))


class AggregationOut(Schema):
    parent = fields.Integer(metadata={"description": "serial of the case code"})
    children = fields.List(fields.Integer())
    action = fields.String()
    case_contents = fields.Integer()


class TraceEvent(Schema):
    type = fields.String()
    at = UtcDateTime()
    detail = fields.Dict()


class TraceOut(Schema):
    token = fields.String()
    batch_id = fields.String()
    serial = fields.Integer()
    verdict = fields.String()
    case_serial = fields.Integer(allow_none=True)
    events = fields.List(fields.Nested(TraceEvent))


class KeyOut(Schema):
    key_id = fields.String()
    created_at = UtcDateTime()
    revoked_at = UtcDateTime(allow_none=True)


class KeyRow(Schema):
    key_id = fields.String(attribute="id")
    created_at = UtcDateTime()
    revoked_at = UtcDateTime(allow_none=True)


class Gs1PrefixIn(Schema):
    prefix = fields.String(
        required=True,
        validate=validate.Regexp(r"[0-9]{6,12}\Z", error="A GS1 company prefix is 6 to 12 digits 0-9."),
        metadata={"pattern": "^[0-9]{6,12}$", "example": "950600"},  # \Z is Python's, not ECMA's
    )


class Gs1PrefixOut(Schema):
    prefix = fields.String()
    brand_id = fields.String()
    created_at = UtcDateTime()
