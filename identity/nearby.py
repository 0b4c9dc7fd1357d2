"""Stores near a location: GET /stores/nearby, a store coupon's store, and the region a scan is placed in."""

from __future__ import annotations

import math

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from identity.models import Partnership, Store
from identity.regions import distance_m

REGION_RADIUS_M = 30_000  # the nearest store within this distance tells the consumer's region


def region_near(session: Session, lat: float | None, lng: float | None) -> str | None:
    """The region code of the nearest store within REGION_RADIUS_M, if any."""
    store = nearest_store(session, lat, lng, REGION_RADIUS_M)
    return store.region_code if store else None


def nearest_store(session: Session, lat, lng, radius_m: float, brand_id: str | None = None) -> Store | None:
    found = stores_near(session, lat, lng, radius_m, brand_id, limit=1)
    return found[0][0] if found else None


def stores_near(session: Session, lat, lng, radius_m: float, brand_id: str | None = None, limit: int = 50):
    """(store, distance_m) within radius, nearest first: a bounding box in SQL, exact distance in Python;
    only the brand's partner stores when brand_id is given."""
    if lat is None or lng is None:
        return []
    dlat = radius_m / 111_320
    dlng = radius_m / max(1.0, 111_320 * math.cos(math.radians(lat)))
    query = select(Store).where(Store.lat.between(lat - dlat, lat + dlat), Store.lng.between(lng - dlng, lng + dlng))
    if brand_id:
        query = query.join(Partnership, and_(Partnership.store_id == Store.id, Partnership.brand_id == brand_id))
    found = [(s, distance_m(lat, lng, s.lat, s.lng)) for s in session.scalars(query.limit(5000))]
    found = sorted([f for f in found if f[1] <= radius_m], key=lambda f: f[1])
    return found[:limit]


def nearby_page(session: Session, lat: float, lng: float, radius_m: float, brand_id: str | None, limit: int) -> dict:
    """GET /stores/nearby: the stores within radius_m, nearest first, in one page."""
    found = stores_near(session, lat, lng, radius_m, brand_id, limit)
    return {
        "items": [
            {
                "id": s.id,
                "name": s.name,
                "lat": s.lat,
                "lng": s.lng,
                "region_code": s.region_code,
                "distance_m": round(d),
            }
            for s, d in found
        ],
        "next_cursor": None,
    }
