"""Schema pieces every package's API shares: text as clients may send it, timestamps and days.

Every string a request carries is a `Text`: no control characters (C0, DEL, C1) and no lone UTF-16
surrogates, which PostgreSQL refuses (NUL) or cannot encode (surrogates), and which no name, id or
code ever holds. Free text a person types (a reason, a note) is `Text(multiline=True)`, which also
takes tab, line feed and carriage return. Times and days are between 1970 and 8999 (UTC), so that
adding a coupon's validity or converting an offset can never leave Python's datetime range.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from marshmallow import ValidationError, fields

# C0 controls, DEL and C1 controls, and the surrogate halves that only a broken \\u escape produces.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# The same, except tab, line feed and carriage return: what free text may hold.
CONTROL_IN_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
NO_CONTROL = "Must not contain control characters."

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # exclusive
OUT_OF_RANGE = "Must be between 1970-01-01 and 8999-12-31 (UTC)."
BIGINT = 2**63 - 1  # the largest number a BIGINT column holds: the bound of any serial or count we look up


def has_control(value: str, multiline: bool = False) -> bool:
    """Whether a string holds a character no field of ours accepts (see the module's docstring)."""
    return (CONTROL_IN_FREE_TEXT if multiline else CONTROL).search(value) is not None


class Text(fields.String):
    """A string without control characters; `multiline=True` lets free text keep tab, LF and CR."""

    def __init__(self, *args, multiline: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if has_control(text, self.multiline):
            raise ValidationError(NO_CONTROL)
        return text


class UtcDateTime(fields.AwareDateTime):
    """A moment as ISO 8601 in UTC with a `Z` (`2026-12-01T08:30:00.123456Z`).

    Dumps our naive UTC datetimes (db.utcnow; an aware one is converted to UTC first). Loads a time
    with an offset (or `Z`) as an aware UTC datetime, between 1970 and 8999."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 is before year 1 in UTC
            raise ValidationError(OUT_OF_RANGE) from None
        if not EARLIEST <= moment < LATEST:
            raise ValidationError(OUT_OF_RANGE)
        return moment


class Day(fields.Date):
    """A calendar day (`2026-12-01`), between 1970 and 8999."""

    def _deserialize(self, value, attr, data, **kwargs) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST.date() <= day < LATEST.date():
            raise ValidationError(OUT_OF_RANGE)
        return day
