"""The referral endpoints' schemas."""

from marshmallow import Schema, fields, validate

from pagination import Cursor
from schemas import Text, UtcDateTime


class ReferralOut(Schema):
    code = fields.String(metadata={"example": "7KQ2M9XD"})
    link = fields.String(metadata={"example": "https://qr.example.com/r/7KQ2M9XD"})
    referrer_id = fields.String(allow_none=True, metadata={"example": "cs_2b7f0e4d9a1c3b5e8f60"})
    referees = fields.Integer(metadata={"description": "consumers bound to this one", "example": 3})
    earned_fen = fields.Integer(metadata={"description": "commissions granted, less refunds", "example": 1500})


class BindIn(Schema):
    code = Text(required=True, validate=validate.Length(1, 16), metadata={"example": "7KQ2M9XD"})


class BoundOut(Schema):
    referrer_id = fields.String(metadata={"example": "cs_2b7f0e4d9a1c3b5e8f60"})


class RewardListArgs(Schema):
    campaign_id = Text(load_default=None, validate=validate.Length(1, 32), metadata={"example": None})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500), metadata={"example": 50})
    cursor = Cursor(load_default=None)


class RewardOut(Schema):
    id = fields.String(metadata={"example": "rr_0d4c2f7b9e1a3c5d7f80"})
    campaign_id = fields.String(metadata={"example": "cp_f1b947626c6c07500ff0"})
    referrer_id = fields.String(
        metadata={
            "description": "who the reward is for (level 2: the referrer's referrer)",
            "example": "cs_2b7f0e4d9a1c3b5e8f60",
        }
    )
    referee_id = fields.String(metadata={"example": "cs_8e1d3c5b7a9f0e2d4c61"})
    level = fields.Integer(metadata={"description": "1 or 2", "example": 1})
    trigger = fields.String(metadata={"example": "first_order"})
    kind = fields.String(metadata={"description": "coupon or commission", "example": "commission"})
    amount_fen = fields.Integer(metadata={"example": 500})
    reversed_fen = fields.Integer(metadata={"description": "taken back by refunds", "example": 0})
    status = fields.String(
        metadata={
            "description": "granted, reversed, unfunded (budget spent) or blocked (blacklist)",
            "example": "granted",
        }
    )
    order_id = fields.String(allow_none=True, metadata={"example": "or_676f7445c47f17c00773"})
    coupon_id = fields.String(allow_none=True, metadata={"example": None})
    created_at = UtcDateTime(metadata={"example": "2026-03-01T02:31:05.118204Z"})
