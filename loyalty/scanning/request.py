"""One scan through a batch: what the consumer sent (ScanRequest), the app's settings it is served
with (ScanSettings), and its state as the batch writes it (ScanState), starting from its verification."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from codes.catalog import Catalog, Snapshot
from codes.models import Verdict
from codes.scans import ScanOutcome
from codes.verify import Verification, verify
from loyalty.scanning.catalog import blacklisted


class ScanSettings(NamedTuple):
    """The app's configuration a scan is served with, read by the view (a tuple: cheap per request)."""

    limit_per_consumer: int  # SCAN_LIMIT_PER_CONSUMER, scans a minute (0: no limit)
    limit_per_ip: int  # SCAN_LIMIT_PER_IP
    repeat_warning: int  # REPEAT_SCAN_WARNING: scans of one code before the counterfeit warning
    synchronous_commit: str  # SCAN_SYNCHRONOUS_COMMIT, for the one statement's transaction
    redis_url: str | None  # REDIS_URL: the throttle's counters (in-process without it)
    redis_timeout_ms: int  # REDIS_TIMEOUT_MS: the throttle's longest wait for Redis before counting in-process

    @classmethod
    def from_config(cls, config) -> ScanSettings:
        return cls(
            config["SCAN_LIMIT_PER_CONSUMER"],
            config["SCAN_LIMIT_PER_IP"],
            config["REPEAT_SCAN_WARNING"],
            config["SCAN_SYNCHRONOUS_COMMIT"],
            config["REDIS_URL"],
            config["REDIS_TIMEOUT_MS"],
        )


@dataclass
class ScanRequest:
    consumer_id: str
    code: str
    lat: float | None
    lng: float | None
    ip: str | None
    at: datetime
    settings: ScanSettings
    refused: Exception | None = None  # set by the throttle, once: a retried batch must not count again
    counted: bool = False


@dataclass
class ScanState:
    """One scan's state through a batch."""

    request: ScanRequest
    found: Verification
    blacklisted: bool = False
    outcome: ScanOutcome | None = None
    bound_store: Snapshot | None = None
    region: str | None = None
    rewards: list = field(default_factory=list)  # coupon rows (Coupon or Snapshot), for coupons.describe()


def verified(session: Session, cached: Catalog, r: ScanRequest, genuine_only: bool = False) -> ScanState | None:
    """The request verified against the catalog as it is (the caller refreshed it, or compares its
    versions later), and whether its consumer is on the brand's blacklist; None when genuine_only
    and the verdict is another (the one statement writes first scans only)."""
    found = verify(session, r.code, refresh=False, load_code=False)
    if genuine_only and found.verdict != Verdict.GENUINE:
        return None
    brand_id = found.batch.brand_id if found.batch else None
    return ScanState(r, found, bool(brand_id) and blacklisted(cached, session, brand_id, r.consumer_id))
