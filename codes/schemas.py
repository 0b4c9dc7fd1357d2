from marshmallow import Schema, fields, validate

from codes.models import BatchKind, CodeFormat
from pagination import page_of
from schemas import BIGINT, Day, Text, UtcDateTime


class ProductIn(Schema):
    sku = Text(required=True, validate=validate.Length(1, 64), metadata={"example": "BM-FM-1L"})
    name = Text(required=True, validate=validate.Length(1, 200), metadata={"example": "光明鲜牛奶 1L"})
    price_fen = fields.Integer(
        required=True, strict=True, validate=validate.Range(0, 10**10), metadata={"example": 1590}
    )
    cost_fen = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(0, 10**10), metadata={"example": 980}
    )
    gtin = Text(load_default=None, validate=validate.Length(1, 14), metadata={"example": "6901234567892"})


class ProductOut(Schema):
    id = fields.String(metadata={"example": "pr_d10460933cb42a0f58bb"})
    sku = fields.String(metadata={"example": "BM-FM-1L"})
    name = fields.String(metadata={"example": "光明鲜牛奶 1L"})
    price_fen = fields.Integer(metadata={"example": 1590})
    cost_fen = fields.Integer(allow_none=True, metadata={"example": 980})
    gtin = fields.String(allow_none=True, metadata={"example": "06901234567892"})
    created_at = UtcDateTime(metadata={"example": "2026-02-28T07:05:19.283942Z"})


class BatchIn(Schema):
    product_id = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "pr_d10460933cb42a0f58bb"})
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(1, 10_000_000), metadata={"example": 10000}
    )
    lot = fields.String(
        required=True,
        validate=validate.Regexp(
            r"[A-Za-z0-9._-]{1,20}\Z", error="1 to 20 characters of letters, digits, '.', '_' or '-'."
        ),
        metadata={"pattern": "^[A-Za-z0-9._-]{1,20}$", "example": "L2026A"},  # \Z is Python's, not ECMA's
    )
    produced_on = Day(required=True, metadata={"example": "2026-03-01"})
    expires_on = Day(load_default=None, metadata={"example": "2026-03-08"})
    kind = fields.String(
        load_default=BatchKind.ITEM, validate=validate.OneOf(list(BatchKind)), metadata={"example": "item"}
    )
    format = fields.String(
        load_default=CodeFormat.SHORT, validate=validate.OneOf(list(CodeFormat)), metadata={"example": "short"}
    )
    region_codes = fields.List(
        Text(), load_default=None, validate=validate.Length(max=200), metadata={"example": ["310000"]}
    )
    distributor = Text(load_default=None, validate=validate.Length(1, 200), metadata={"example": "上海华东配送中心"})


class BatchOut(Schema):
    id = fields.String(attribute="batch.id", metadata={"example": "ba_607684d9ae05a482f17f"})
    status = fields.String(metadata={"example": "issued"})
    product_id = fields.String(attribute="batch.product_id", metadata={"example": "pr_d10460933cb42a0f58bb"})
    kind = fields.String(attribute="batch.kind", metadata={"example": "item"})
    format = fields.String(attribute="batch.format", metadata={"example": "short"})
    quantity = fields.Integer(attribute="batch.quantity", metadata={"example": 10000})
    serial_from = fields.Integer(attribute="batch.serial_from", metadata={"example": 1})
    serial_to = fields.Integer(attribute="batch.serial_to", metadata={"example": 10000})
    key_id = fields.String(attribute="batch.key_id", metadata={"example": "1"})
    lot = fields.String(attribute="batch.lot", metadata={"example": "L2026A"})
    produced_on = fields.Date(attribute="batch.produced_on", metadata={"example": "2026-03-01"})
    expires_on = fields.Date(attribute="batch.expires_on", allow_none=True, metadata={"example": "2026-03-08"})
    region_codes = fields.List(fields.String(), attribute="batch.region_codes", metadata={"example": ["310000"]})
    distributor = fields.String(
        attribute="batch.distributor", allow_none=True, metadata={"example": "上海华东配送中心"}
    )
    activated = fields.Integer(metadata={"example": 0})
    voided = fields.Integer(metadata={"example": 0})
    scanned = fields.Integer(metadata={"example": 0})
    created_at = UtcDateTime(attribute="batch.created_at", metadata={"example": "2026-03-01T00:30:00.296804Z"})


BatchPage = page_of(BatchOut)


class RangeQuery(Schema):
    from_ = fields.Integer(data_key="from", load_default=None, validate=validate.Range(0, BIGINT))
    to = fields.Integer(load_default=None, validate=validate.Range(0, BIGINT))


class LabelQuery(RangeQuery):
    format = fields.String(load_default="png", validate=validate.OneOf(["png", "svg"]))


class ActivateIn(Schema):
    from_ = fields.Integer(
        data_key="from", load_default=None, strict=True, validate=validate.Range(0, BIGINT), metadata={"example": 1}
    )
    to = fields.Integer(load_default=None, strict=True, validate=validate.Range(0, BIGINT), metadata={"example": 10000})


class ActivateOut(Schema):
    activated = fields.Integer(metadata={"example": 10000})
    batch_activated = fields.Integer(metadata={"example": 10000})


class VoidIn(Schema):
    from_ = fields.Integer(
        data_key="from", required=True, strict=True, validate=validate.Range(0, BIGINT), metadata={"example": 9001}
    )
    to = fields.Integer(required=True, strict=True, validate=validate.Range(0, BIGINT), metadata={"example": 9024})
    reason = Text(
        required=True,
        multiline=True,
        validate=validate.Length(1, 200),
        metadata={"example": "标签印刷错位 (labels misprinted)"},
    )


class VoidOut(Schema):
    voided = fields.Integer(metadata={"example": 24})
    batch_voided = fields.Integer(metadata={"example": 24})


class AggregationIn(Schema):
    parent = Text(
        required=True,
        validate=validate.Length(1, 2048),
        metadata={"example": "https://qr.example.com/c/AQAAAQAAAAAAGSRPphdZUpHe"},
    )
    children = fields.List(
        Text(validate=validate.Length(1, 2048)),
        required=True,
        metadata={"example": ["AQAAAQAAAAAAAU5OT1JY2GzN", "AQAAAQAAAAAAAg1TVLukMI5E"]},
    )
    action = fields.String(
        load_default="pack", validate=validate.OneOf(["pack", "unpack", "repack"]), metadata={"example": "pack"}
    )


class AggregationOut(Schema):
    parent = fields.Integer(metadata={"description": "serial of the case code", "example": 10001})
    children = fields.List(fields.Integer(), metadata={"example": [1, 2]})
    action = fields.String(metadata={"example": "pack"})
    case_contents = fields.Integer(metadata={"example": 2})


class TraceEvent(Schema):
    type = fields.String(metadata={"example": "scanned"})
    at = UtcDateTime(metadata={"example": "2026-03-01T02:10:44.385588Z"})
    detail = fields.Dict(
        metadata={"example": {"first": True, "verdict": "genuine", "region_code": "310101", "consumer": True}}
    )


class TraceOut(Schema):
    token = fields.String(metadata={"example": "AQAAAQAAAAAAAU5OT1JY2GzN"})
    batch_id = fields.String(metadata={"example": "ba_607684d9ae05a482f17f"})
    serial = fields.Integer(metadata={"example": 1})
    verdict = fields.String(metadata={"example": "genuine"})
    case_serial = fields.Integer(allow_none=True, metadata={"example": 10001})
    events = fields.List(fields.Nested(TraceEvent))


class KeyOut(Schema):
    key_id = fields.String(metadata={"example": "2"})
    created_at = UtcDateTime(metadata={"example": "2026-03-02T08:00:00.566047Z"})
    revoked_at = UtcDateTime(allow_none=True, metadata={"example": None})


class KeyRow(Schema):
    key_id = fields.String(attribute="id", metadata={"example": "1"})
    created_at = UtcDateTime(metadata={"example": "2026-02-27T03:12:45.291608Z"})
    revoked_at = UtcDateTime(allow_none=True, metadata={"example": None})


class Gs1PrefixIn(Schema):
    prefix = fields.String(
        required=True,
        validate=validate.Regexp(r"[0-9]{6,12}\Z", error="A GS1 company prefix is 6 to 12 digits 0-9."),
        metadata={"pattern": "^[0-9]{6,12}$", "example": "950600"},  # \Z is Python's, not ECMA's
    )


class Gs1PrefixOut(Schema):
    prefix = fields.String(metadata={"example": "950600"})
    brand_id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    created_at = UtcDateTime(metadata={"example": "2026-02-27T03:15:02.570498Z"})
