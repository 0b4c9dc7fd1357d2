"""Lists: ?limit= (default 50, max 500) and an opaque ?cursor=; response {items, next_cursor}."""

from __future__ import annotations

import base64
import json

from marshmallow import Schema, fields, validate
from sqlalchemy import Select, and_, or_

from errors import invalid


class ListArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(load_default=None)


_PAGES: dict[type[Schema], type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The list response `{items: [item], next_cursor}` for an item schema (one class per item schema,
    named after it: BatchOut -> BatchPage, so the OpenAPI document names each page once)."""
    if item not in _PAGES:
        name = item.__name__.removesuffix("Out") + "Page"
        _PAGES[item] = Schema.from_dict(
            {"items": fields.List(fields.Nested(item)), "next_cursor": fields.String(allow_none=True)}, name=name
        )
    return _PAGES[item]


def encode_cursor(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list):
            raise ValueError
        return values
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("cursor", "Not a cursor this API returned.") from None


def keyset_page(
    session, query: Select, order_cols: list, limit: int, cursor: str | None, cursor_of, descending: bool = True
):
    """Keyset pagination on (order_cols...), newest first by default. cursor_of(row) -> list of values."""
    if cursor:
        values = decode_cursor(cursor)
        if len(values) != len(order_cols):
            raise invalid("cursor", "Not a cursor this API returned.") from None
        values = [_coerce(col, v) for col, v in zip(order_cols, values)]
        query = query.where(_after(order_cols, values, descending))
    query = query.order_by(*[(c.desc() if descending else c.asc()) for c in order_cols]).limit(limit + 1)
    rows = list(session.scalars(query))
    next_cursor = encode_cursor(cursor_of(rows[limit - 1])) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _coerce(col, value):
    from datetime import datetime

    python_type = getattr(col.type, "python_type", None)
    try:
        if python_type is datetime:
            return datetime.fromisoformat(value)
        if python_type is int:
            return int(value)
    except (TypeError, ValueError):
        raise invalid("cursor", "Not a cursor this API returned.") from None
    return value


def _after(cols, values, descending):
    clauses = []
    for i, col in enumerate(cols):
        eqs = [cols[j] == values[j] for j in range(i)]
        cmp = col < values[i] if descending else col > values[i]
        clauses.append(and_(*eqs, cmp))
    return or_(*clauses)
