"""Lists: ?limit= (default 50, max 500) and an opaque ?cursor=; response {items, next_cursor}.

A service pages with `keyset_page` and hands back a plain cursor (the last row's sort values). The
schemas sign it on the way out and check it on the way in (`Cursor`): a client's cursor is
`<values>.<mac>`, an HMAC under a key derived from SECRET_KEY over the list it came from (the
endpoint) and the values, so a cursor edited, made up, or taken from another list is refused, 422
naming `cursor`, before any query. `keyset_page` still checks each value against its column's type,
so even an unsigned cursor can only ever be a well-formed one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime

from flask import current_app, request
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import Select, and_, or_

from errors import invalid
from schemas import BIGINT, CONTROL, EARLIEST, LATEST

NOT_OURS = "Not a cursor this API returned."
MAX_CURSOR = 512  # characters: a few sort values, base64, and a MAC
_MAC_BYTES = 16
_MAX_TEXT = 64  # ids are at most 32 characters


def _mac(cursor: str) -> str:
    """The MAC binding a plain cursor to this app's secret and to the list (endpoint) it pages."""
    secret = current_app.config["SECRET_KEY"]
    key = hmac.new(secret.encode() if isinstance(secret, str) else secret, b"pagination cursor", hashlib.sha256)
    message = f"{request.endpoint}\n{cursor}".encode()
    tag = hmac.new(key.digest(), message, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(tag).decode().rstrip("=")


def sign(cursor: str) -> str:
    return f"{cursor}.{_mac(cursor)}"


def verify(signed: str) -> str:
    """The plain cursor inside a signed one; ValidationError if it is not one this list handed out."""
    cursor, dot, tag = signed.rpartition(".")
    if not dot or not hmac.compare_digest(tag.encode(), _mac(cursor).encode()):
        raise ValidationError(NOT_OURS)
    return cursor


class Cursor(fields.String):
    """`?cursor=` in, `next_cursor` out: signed on the way out, verified (then plain) on the way in."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Length(1, MAX_CURSOR))
        kwargs.setdefault(
            "metadata",
            {
                "description": "next_cursor of the previous page, as it was",
                "example": "WyIyMDI2LTAzLTAxVDAyOjMxOjA1LjExODIwNCIsICJvcl82NzZmNzQ0NWM0N2YxN2MwMDc3MyJd"
                ".LXEWQrcmsEQBYnyp-6wy9Q",
            },
        )
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else sign(value)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > MAX_CURSOR or CONTROL.search(text):
            raise ValidationError(NOT_OURS)
        return verify(text)


class ListArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = Cursor(load_default=None)


_PAGES: dict[type[Schema], type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The list response `{items: [item], next_cursor}` for an item schema (one class per item schema,
    named after it: BatchOut -> BatchPage, so the OpenAPI document names each page once)."""
    if item not in _PAGES:
        name = item.__name__.removesuffix("Out") + "Page"
        _PAGES[item] = Schema.from_dict(
            {"items": fields.List(fields.Nested(item)), "next_cursor": Cursor(allow_none=True)}, name=name
        )
    return _PAGES[item]


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise invalid("cursor", NOT_OURS) from None
    if not isinstance(values, list):
        raise invalid("cursor", NOT_OURS)
    return values


def keyset_page(session, query: Select, order_cols: list, limit: int, cursor: str | None, descending: bool = True):
    """Keyset pagination on (order_cols...), newest first by default; the next cursor holds the last
    row's values of those columns (a time as ISO text), which is what `_typed` reads back."""
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != len(order_cols):
            raise invalid("cursor", NOT_OURS)
        values = [_typed(col, v) for col, v in zip(order_cols, values)]
        query = query.where(_after(order_cols, values, descending))
    query = query.order_by(*[(c.desc() if descending else c.asc()) for c in order_cols]).limit(limit + 1)
    rows = list(session.scalars(query))
    next_cursor = encode_cursor(_values_of(rows[limit - 1], order_cols)) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _values_of(row, order_cols: list) -> list:
    values = [getattr(row, col.key) for col in order_cols]
    return [v.isoformat() if isinstance(v, datetime) else v for v in values]


def _typed(col, value):
    """A cursor value as its column's type: an ISO time in range, a 64-bit int, or a short plain string."""
    python_type = getattr(col.type, "python_type", None)
    if python_type is datetime and type(value) is str and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise invalid("cursor", NOT_OURS) from None
        if moment.tzinfo is None and EARLIEST.replace(tzinfo=None) <= moment < LATEST.replace(tzinfo=None):
            return moment
    elif python_type is int and type(value) is int and -BIGINT <= value <= BIGINT:
        return value
    elif python_type is str and type(value) is str and len(value) <= _MAX_TEXT and not CONTROL.search(value):
        return value
    raise invalid("cursor", NOT_OURS)


def _after(cols, values, descending):
    clauses = []
    for i, col in enumerate(cols):
        eqs = [cols[j] == values[j] for j in range(i)]
        cmp = col < values[i] if descending else col > values[i]
        clauses.append(and_(*eqs, cmp))
    return or_(*clauses)
