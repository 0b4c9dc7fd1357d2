from marshmallow import Schema, ValidationError, fields, validate, validates

from identity.regions import is_region_code
from pagination import page_of
from schemas import Text, UtcDateTime


class BrandIn(Schema):
    name = Text(required=True, validate=validate.Length(1, 200))


class BrandCreated(Schema):
    id = fields.String()
    name = fields.String()
    api_key = fields.String()


class StoreIn(Schema):
    name = Text(required=True, validate=validate.Length(1, 200))
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lng = fields.Float(required=True, validate=validate.Range(-180, 180))
    region_code = Text(required=True)
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
    id = fields.String()
    name = fields.String()
    region_code = fields.String()
    api_key = fields.String()


class ConsumerAuthIn(Schema):
    """The mini-app platform's one-time login proof: signature = hex HMAC-SHA256(MINIAPP_SECRET,
    "{openid}.{ts}"), ts in Unix seconds, at most 300 s old, usable once."""

    openid = Text(
        required=True,
        validate=validate.Length(1, 128),
        metadata={"description": "the platform's user id: printable ASCII, no spaces"},
    )
    ts = fields.Integer(required=True, strict=True, metadata={"description": "when the proof was signed, Unix seconds"})
    signature = Text(
        required=True,
        validate=validate.Length(64, 64),
        metadata={"description": 'hex HMAC-SHA256(MINIAPP_SECRET, "{openid}.{ts}")'},
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
    token = fields.String()
    consumer_id = fields.String()
    expires_at = UtcDateTime()


class ApiKeyIn(Schema):
    label = Text(
        load_default=None,
        validate=validate.Length(1, 100),
        metadata={"description": "what the key is for (a till, an ERP connector), shown in the list"},
    )


class ApiKeyCreated(Schema):
    id = fields.String()
    api_key = fields.String(metadata={"description": "the secret: shown only in this answer"})
    label = fields.String(allow_none=True)
    created_at = UtcDateTime()


class ApiKeyOut(Schema):
    id = fields.String()
    label = fields.String(allow_none=True)
    created_at = UtcDateTime()
    last_used_at = UtcDateTime(allow_none=True, metadata={"description": "to the minute"})
    revoked_at = UtcDateTime(allow_none=True)


ApiKeyPage = page_of(ApiKeyOut)


class PartnerIn(Schema):
    store_id = Text(required=True, validate=validate.Length(1, 32))


class PartnerOut(Schema):
    brand_id = fields.String()
    store_id = fields.String()
    store_name = fields.String()
    region_code = fields.String()


class NearbyArgs(Schema):
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    lng = fields.Float(required=True, validate=validate.Range(-180, 180))
    radius_m = fields.Integer(load_default=3000, validate=validate.Range(1, 50_000))
    brand_id = Text(load_default=None, validate=validate.Length(1, 32))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class NearbyStore(Schema):
    id = fields.String()
    name = fields.String()
    lat = fields.Float()
    lng = fields.Float()
    region_code = fields.String()
    distance_m = fields.Integer()


NearbyPage = page_of(NearbyStore)


class BrandOut(Schema):
    id = fields.String()
    name = fields.String()
    created_at = UtcDateTime()


class StoreOut(Schema):
    id = fields.String()
    name = fields.String()
    lat = fields.Float()
    lng = fields.Float()
    region_code = fields.String()
    owner_phone = fields.String(allow_none=True)
    created_at = UtcDateTime()
