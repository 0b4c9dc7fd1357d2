"""Per-process copies of the rows every scan reads, kept exact by version counters.

A scan reads the same few rows again and again: the signing key, the batch its serial falls in,
the product and brand, the batch's activation and void ranges, and rows of the packages above
codes, which declare their own versioned areas here (`versioned_area`) and keep their copies in
this catalog (`cache`, `generation`, `keep`). Batches, products, brands and stores never change
once written, so their copies live as long as the process. Keys (revocation), ranges and the
declared areas do change: every change bumps its area's counter in `cache_versions` in the same
transaction, and a reader compares the counters once per transaction (`refresh`, one small SELECT,
every area at once) and drops the areas that moved. So a scan never acts on a revoked key, a void,
a pause or a blacklisting that had committed before its transaction began; what commits later is
ordered after that scan.

Copies are read-only `Snapshot`s of the rows' columns, never ORM instances, so they are safe to
share between threads and sessions. A load that raced a drop is not stored (generation check),
so a stale read can never outlive the version that invalidated it. (Restoring the database from a
backup rewinds the counters: restart the app servers after a restore.)
"""

from __future__ import annotations

import bisect
import threading
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from codes.models import Batch, CacheVersion, CodeRange, Product, SigningKey
from db import dialect_insert
from identity.models import Brand, Store
from pgfast import pg_connection, pg_first, pg_text

AREAS = {"keys", "ranges"}  # and the areas packages above codes declare (versioned_area)
_VERSIONS = select(CacheVersion.__table__.c.area, CacheVersion.__table__.c.version)
_PG_VERSIONS = pg_text(_VERSIONS)  # the same, run on psycopg directly (pgfast.pg_connection)
MAX_ENTRIES = 50_000  # per dict; past it the dict starts again (immutable rows reload on demand)


class Snapshot(SimpleNamespace):
    """A read-only copy of a row's columns."""


def snapshot(row) -> Snapshot:
    return Snapshot(**{attr.key: getattr(row, attr.key) for attr in inspect(type(row)).column_attrs})


def versioned_area(name: str) -> str:
    """Declare a versioned area of rows that change, kept by a package above codes; its name."""
    AREAS.add(name)
    return name


def bump(session: Session, area: str) -> None:
    """Record a change to `area` in the caller's transaction: every process drops its copies once it commits."""
    assert area in AREAS, area
    table = CacheVersion.__table__
    session.execute(
        dialect_insert(session, table)
        .values(area=area, version=1)
        .on_conflict_do_update(index_elements=["area"], set_={"version": table.c.version + 1})
    )


class Catalog:
    def __init__(self):
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._generation: dict[str, int] = {}
        self._batch_starts: list[int] = []
        self._batches: list[Snapshot] = []
        self._products: dict[str, Snapshot] = {}
        self._brands: dict[str, Snapshot] = {}
        self._stores: dict[str, Snapshot] = {}
        self._revoked: dict[int, bool] = {}
        self._ranges: dict[str, tuple[tuple[str, int, int], ...]] = {}
        self._area_dicts: dict[str, list[dict]] = {"keys": [self._revoked], "ranges": [self._ranges]}
        self._named: dict[tuple[str, str], dict] = {}  # (area, name) -> the dicts of cache()

    # --- freshness -------------------------------------------------------------------------------
    def refresh(self, session: Session) -> bool:
        """Drop every area whose counter moved since this process last looked; whether any did."""
        return self.apply(self.read_versions(session))

    @staticmethod
    def read_versions(session: Session) -> dict[str, int]:
        raw = pg_connection(session)
        rows = pg_first(raw, _PG_VERSIONS) if raw is not None else session.connection().execute(_VERSIONS)
        return dict(rows.fetchall())

    def versions(self) -> dict[str, int]:
        """The counters this process's copies are current for. A reader that does not refresh first
        takes this before reading anything, and compares it with the counters it reads later in its
        transaction: equal means nothing it read had changed (see loyalty/scanning/batch.py)."""
        with self._lock:
            return dict(self._versions)

    def apply(self, versions: dict[str, int]) -> bool:
        """refresh() with counters read elsewhere in the caller's transaction; whether any area moved
        since this process last looked (not since the caller looked: see versions())."""
        moved = False
        for area, version in versions.items():
            if self._versions.get(area) != version:
                moved = True
                with self._lock:
                    self._generation[area] = self._generation.get(area, 0) + 1
                    for found in self._area_dicts.get(area, ()):
                        found.clear()
                    self._versions[area] = version
        return moved

    # --- versioned copies: codes' own areas, and those of the packages above -----------------------
    def cache(self, area: str, name: str) -> dict:
        """The dict `name` of a versioned area (created on first use), emptied whenever the area's
        counter moves. Read it freely; add to it only through keep()."""
        found = self._named.get((area, name))
        if found is None:
            assert area in AREAS, area
            with self._lock:
                found = self._named.get((area, name))
                if found is None:
                    found = self._named[(area, name)] = {}
                    self._area_dicts.setdefault(area, []).append(found)
        return found

    def generation(self, area: str) -> int:
        """Taken before loading a copy, and passed to keep(): a load that raced a drop is not kept."""
        return self._generation.get(area, 0)

    def keep(self, area: str, generation: int, target: dict, key, value) -> None:
        """Store a copy loaded at `generation` into one of the area's dicts, unless the area moved meanwhile."""
        with self._lock:
            if self._generation.get(area, 0) == generation:
                if len(target) > MAX_ENTRIES:
                    target.clear()
                target[key] = value

    # --- rows that never change -------------------------------------------------------------------
    def batch_for_serial(self, session: Session, serial: int) -> Snapshot | None:
        index = bisect.bisect_right(self._batch_starts, serial) - 1
        if index >= 0 and self._batches[index].serial_from <= serial <= self._batches[index].serial_to:
            return self._batches[index]
        row = session.scalar(
            select(Batch).where(Batch.serial_from <= serial).order_by(Batch.serial_from.desc()).limit(1)
        )
        if row is None or serial > row.serial_to:
            return None
        found = snapshot(row)
        with self._lock:
            if len(self._batches) > MAX_ENTRIES:
                self._batch_starts, self._batches = [], []
            at = bisect.bisect_left(self._batch_starts, found.serial_from)
            if at == len(self._batch_starts) or self._batch_starts[at] != found.serial_from:
                self._batch_starts = self._batch_starts[:at] + [found.serial_from] + self._batch_starts[at:]
                self._batches = self._batches[:at] + [found] + self._batches[at:]
        return found

    def _immutable(self, target: dict, model, session: Session, key: str) -> Snapshot | None:
        found = target.get(key)
        if found is None:
            row = session.get(model, key)
            if row is None:
                return None
            found = snapshot(row)
            if len(target) > MAX_ENTRIES:
                target.clear()
            target[key] = found
        return found

    def product(self, session: Session, product_id: str) -> Snapshot | None:
        return self._immutable(self._products, Product, session, product_id)

    def brand(self, session: Session, brand_id: str) -> Snapshot | None:
        return self._immutable(self._brands, Brand, session, brand_id)

    def store(self, session: Session, store_id: str) -> Snapshot | None:
        return self._immutable(self._stores, Store, session, store_id)

    # --- codes' rows that change (versioned) ------------------------------------------------------
    def key_revoked(self, session: Session, key_id: int) -> bool:
        found = self._revoked.get(key_id)
        if found is None:
            generation = self.generation("keys")
            found = session.scalar(select(SigningKey.revoked_at).where(SigningKey.id == key_id)) is not None
            self.keep("keys", generation, self._revoked, key_id, found)
        return found

    def ranges(self, session: Session, batch_id: str) -> tuple[tuple[str, int, int], ...]:
        found = self._ranges.get(batch_id)
        if found is None:
            generation = self.generation("ranges")
            found = tuple(
                tuple(row)
                for row in session.execute(
                    select(CodeRange.action, CodeRange.serial_from, CodeRange.serial_to).where(
                        CodeRange.batch_id == batch_id
                    )
                )
            )
            self.keep("ranges", generation, self._ranges, batch_id, found)
        return found

    def range_state(self, session: Session, batch_id: str, serial: int) -> tuple[bool, bool]:
        """(activated, voided) for one serial."""
        activated = voided = False
        for action, lo, hi in self.ranges(session, batch_id):
            if lo <= serial <= hi:
                activated, voided = activated or action == "activate", voided or action == "void"
        return activated, voided


def catalog(app=None) -> Catalog:
    """The app's catalog in this process (a forked worker starts with its parent's copies, which the
    first refresh validates like any other)."""
    app = app or current_app
    found = app.extensions.get("catalog")
    if found is None:
        found = app.extensions.setdefault("catalog", Catalog())
    return found
