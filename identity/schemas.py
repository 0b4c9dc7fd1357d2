from marshmallow import Schema, ValidationError, fields, validate, validates

from identity.regions import is_region_code
from pagination import page_of
from schemas import Text, UtcDateTime


class BrandIn(Schema):
    name = Text(required=True, validate=validate.Length(1, 200), metadata={"example": "光明乳业"})


class BrandCreated(Schema):
    id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    name = fields.String(metadata={"example": "光明乳业"})
    api_key = fields.String(metadata={"example": "bk_SU29Oc8p65UD0RBdXo-u5SkAoCENHlaRK0oP0oMX"})


class StoreIn(Schema):
    name = Text(required=True, validate=validate.Length(1, 200), metadata={"example": "全家 淮海中路店"})
    lat = fields.Float(required=True, validate=validate.Range(-90, 90), metadata={"example": 31.2196})
    lng = fields.Float(required=True, validate=validate.Range(-180, 180), metadata={"example": 121.4589})
    region_code = Text(required=True, metadata={"example": "310101"})
    owner_phone = Text(
        load_default=None,
        validate=validate.Regexp(r"\+?[0-9 \-]{5,20}\Z"),
        metadata={"pattern": "^\\+?[0-9 \\-]{5,20}$", "example": "+86 138 0013 8000"},  # the document's regex is ECMA's
    )

    @validates("region_code")
    def _region(self, value, **_):
        if not is_region_code(value):
            raise ValidationError("Must be a six-digit administrative region code, e.g. 310115.")


class StoreCreated(Schema):
    id = fields.String(metadata={"example": "st_227f286d7a79724b92b2"})
    name = fields.String(metadata={"example": "全家 淮海中路店"})
    region_code = fields.String(metadata={"example": "310101"})
    api_key = fields.String(metadata={"example": "sk_S0PVmom2xidHtwQjllVVPVQS2W9p_P6XB6hTuYqk"})


class ConsumerAuthIn(Schema):
    """The mini-app platform's one-time login proof: signature = hex HMAC-SHA256(MINIAPP_SECRET,
    "{openid}.{ts}"), ts in Unix seconds, at most 300 s old, usable once."""

    openid = Text(
        required=True,
        validate=validate.Length(1, 128),
        metadata={
            "description": "the platform's user id: printable ASCII, no spaces",
            "example": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
        },
    )
    ts = fields.Integer(
        required=True,
        strict=True,
        metadata={"description": "when the proof was signed, Unix seconds", "example": 1772330100},
    )
    signature = Text(
        required=True,
        validate=validate.Length(64, 64),
        metadata={
            "description": 'hex HMAC-SHA256(MINIAPP_SECRET, "{openid}.{ts}")',
            "example": "33ec34d34fd52b35ebfdb3aa3fab753025435dcfe33e28754155a02721e2abc0",
        },
    )

    @validates("openid")
    def _openid(self, value, **_):
        if not (value.isascii() and value.isprintable() and " " not in value):
            raise ValidationError("Must be printable ASCII without spaces.")

    @validates("signature")
    def _signature(self, value, **_):
        if not (value.isascii() and all(c in "0123456789abcdefABCDEF" for c in value)):
            raise ValidationError("Must be 64 hexadecimal characters.")


class ConsumerAuthOut(Schema):
    token = fields.String(
        metadata={"example": "ct_ImNzX2Q5NTQzYTU2OWJhMjRhNTEzZDVkIg.axHfng.8OiDCCQEYwLJfx1Q_f2_O-YEdZg"}
    )
    consumer_id = fields.String(metadata={"example": "cs_d9543a569ba24a513d5d"})
    expires_at = UtcDateTime(metadata={"example": "2026-03-31T01:55:00Z"})


class ApiKeyIn(Schema):
    label = Text(
        load_default=None,
        validate=validate.Length(1, 100),
        metadata={
            "description": "what the key is for (a till, an ERP connector), shown in the list",
            "example": "ERP connector",
        },
    )


class ApiKeyCreated(Schema):
    id = fields.String(metadata={"example": "ak_5e2247272c4c6809239f"})
    api_key = fields.String(
        metadata={
            "description": "the secret: shown only in this answer",
            "example": "bk_ZwvjVZCigT7xZPK0wnTQAnvCNvgkWdx5iZ1xtdFj",
        }
    )
    label = fields.String(allow_none=True, metadata={"example": "ERP connector"})
    created_at = UtcDateTime(metadata={"example": "2026-02-28T06:40:02.268312Z"})


class ApiKeyOut(Schema):
    id = fields.String(metadata={"example": "ak_5e2247272c4c6809239f"})
    label = fields.String(allow_none=True, metadata={"example": "ERP connector"})
    created_at = UtcDateTime(metadata={"example": "2026-02-28T06:40:02.268312Z"})
    last_used_at = UtcDateTime(
        allow_none=True, metadata={"description": "to the minute", "example": "2026-03-01T01:58:00Z"}
    )
    revoked_at = UtcDateTime(allow_none=True, metadata={"example": None})


ApiKeyPage = page_of(ApiKeyOut)


class PartnerIn(Schema):
    store_id = Text(required=True, validate=validate.Length(1, 32), metadata={"example": "st_227f286d7a79724b92b2"})


class PartnerOut(Schema):
    brand_id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    store_id = fields.String(metadata={"example": "st_227f286d7a79724b92b2"})
    store_name = fields.String(metadata={"example": "全家 淮海中路店"})
    region_code = fields.String(metadata={"example": "310101"})


class NearbyArgs(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lng = fields.Float(required=True, validate=validate.Range(-180, 180))
    radius_m = fields.Integer(load_default=3000, validate=validate.Range(1, 50_000))
    brand_id = Text(load_default=None, validate=validate.Length(1, 32))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class NearbyStore(Schema):
    id = fields.String(metadata={"example": "st_227f286d7a79724b92b2"})
    name = fields.String(metadata={"example": "全家 淮海中路店"})
    lat = fields.Float(metadata={"example": 31.2196})
    lng = fields.Float(metadata={"example": 121.4589})
    region_code = fields.String(metadata={"example": "310101"})
    distance_m = fields.Integer(metadata={"example": 114})


NearbyPage = page_of(NearbyStore)


class BrandOut(Schema):
    id = fields.String(metadata={"example": "br_97b1ec8c117a6d771f0c"})
    name = fields.String(metadata={"example": "光明乳业"})
    created_at = UtcDateTime(metadata={"example": "2026-02-27T03:12:45.230387Z"})


class StoreOut(Schema):
    id = fields.String(metadata={"example": "st_227f286d7a79724b92b2"})
    name = fields.String(metadata={"example": "全家 淮海中路店"})
    lat = fields.Float(metadata={"example": 31.2196})
    lng = fields.Float(metadata={"example": 121.4589})
    region_code = fields.String(metadata={"example": "310101"})
    owner_phone = fields.String(allow_none=True, metadata={"example": "+86 138 0013 8000"})
    created_at = UtcDateTime(metadata={"example": "2026-02-27T03:20:11.236934Z"})
