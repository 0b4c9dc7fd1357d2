from marshmallow import Schema, ValidationError, fields, validate, validates

from identity.regions import is_region_code
from pagination import page_of
from schemas import Text


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
    owner_phone = Text(load_default=None, validate=validate.Regexp(r"\+?[0-9 \-]{5,20}\Z"))

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
    openid = fields.String(required=True, validate=validate.Length(1, 128))
    signature = fields.String(required=True, validate=validate.Length(1, 128))


class ConsumerAuthOut(Schema):
    token = fields.String()
    consumer_id = fields.String()


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
