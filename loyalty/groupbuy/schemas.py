"""The group-buy endpoints' schemas."""

from marshmallow import Schema, fields, validate

from schemas import Text, UtcDateTime
from storefront.schemas import OrderOut


class OpenGroupIn(Schema):
    store_id = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "st_227f286d7a79724b92b2"})


class JoinIn(Schema):
    store_id = Text(
        load_default=None,
        validate=validate.Length(1, 32),
        metadata={"description": "default: the store the group was opened at", "example": "st_227f286d7a79724b92b2"},
    )


class ProductBrief(Schema):
    id = fields.String(metadata={"example": "pr_d10460933cb42a0f58bb"})
    name = fields.String(metadata={"example": "光明鲜牛奶 1L"})
    price_fen = fields.Integer(metadata={"description": "the usual price", "example": 1590})


class OpenGroupBrief(Schema):
    group_id = fields.String(metadata={"example": "gp_5e1f0c2d3b4a59687766"})
    seats_left = fields.Integer(metadata={"example": 1})
    expires_at = UtcDateTime(metadata={"example": "2026-03-02T10:00:00Z"})


class GroupBuyOut(Schema):
    id = fields.String(metadata={"example": "cp_f1b947626c6c07500ff0"})
    name = fields.String(metadata={"example": "三人团：鲜牛奶 9.9 元"})
    product = fields.Nested(ProductBrief)
    group_size = fields.Integer(metadata={"example": 3})
    price_fen = fields.Integer(metadata={"example": 990})
    duration_seconds = fields.Integer(metadata={"example": 86400})
    virtual_fill = fields.Boolean(metadata={"example": False})
    status = fields.String(
        metadata={"example": "active", "description": "active, paused, ended, or not_live (outside its dates)"}
    )
    open_groups = fields.List(fields.Nested(OpenGroupBrief))


class GroupOut(Schema):
    id = fields.String(metadata={"example": "gp_5e1f0c2d3b4a59687766"})
    campaign_id = fields.String(metadata={"example": "cp_f1b947626c6c07500ff0"})
    status = fields.String(metadata={"example": "forming", "enum": ["forming", "succeeded", "failed"]})
    size = fields.Integer(metadata={"example": 3})
    price_fen = fields.Integer(metadata={"example": 990})
    members_paid = fields.Integer(metadata={"example": 1})
    seats_left = fields.Integer(metadata={"example": 1})
    virtual_members = fields.Integer(metadata={"example": 0})
    expires_at = UtcDateTime(metadata={"example": "2026-03-02T10:00:00Z"})
    store_id = fields.String(metadata={"example": "st_227f286d7a79724b92b2"})
    product_id = fields.String(metadata={"example": "pr_d10460933cb42a0f58bb"})
    finished_at = UtcDateTime(allow_none=True, metadata={"example": None})


class GroupOpenedOut(Schema):
    group_id = fields.String(metadata={"example": "gp_5e1f0c2d3b4a59687766"})
    order = fields.Nested(OrderOut)
    share_url = fields.String(metadata={"example": "https://qr.example.com/g/gp_5e1f0c2d3b4a59687766"})


class JoinedOut(Schema):
    order = fields.Nested(OrderOut)
