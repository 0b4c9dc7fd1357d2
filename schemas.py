"""Schema pieces every package's API shares: timestamps as clients read them."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import fields


class UtcDateTime(fields.DateTime):
    """A moment as ISO 8601 in UTC with a `Z` (`2026-12-01T08:30:00.123456Z`).

    We store naive UTC datetimes (db.utcnow); an aware one is converted to UTC first."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"

    def _deserialize(self, value, attr, data, **kwargs) -> datetime:
        return super()._deserialize(value, attr, data, **kwargs)
