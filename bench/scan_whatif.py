"""What-if variants of the app for bench.scan / bench.scan_profile: measure a proposed change to the
scan path before anyone edits the real code.  Nothing here is used by the application.

    BENCH_SCAN_APP="bench.scan_whatif:create_app()" BENCH_WHATIF=brand,noping python -m bench.scan
    BENCH_WHATIF=brand,noping python -m bench.scan_profile

BENCH_WHATIF, comma-separated:
- brand: load the product's brand into the session before the scan commits.  Today _response()
  reads it after session.commit(), which opens a second pooled transaction (pool pre-ping, BEGIN,
  SELECT brands, and a ROLLBACK at teardown); psycopg clears its prepared-statement cache on every
  ROLLBACK, so no statement of the scan path ever gets prepared.  With the brand loaded earlier
  the request ends on its COMMIT and psycopg prepares the hot statements after 5 uses.
- noping: pool_pre_ping off (one SELECT-like round trip per pool checkout).
- consumer: trust the signed consumer token instead of SELECTing the consumer row (the token is
  an itsdangerous signature over the id; a deleted/banned consumer would need a check elsewhere).
"""
from __future__ import annotations

import os

ENABLED: set[str] = set()   # which variants are on right now (bench.scan_profile's A/B flips this)
KNOWN = ("brand", "noping", "consumer")


def variants(raw: str | None = None) -> set[str]:
    raw = os.environ.get("BENCH_WHATIF", "") if raw is None else raw
    chosen = {v.strip() for v in raw.split(",") if v.strip()}
    unknown = chosen - set(KNOWN)
    if unknown:
        raise SystemExit(f"unknown BENCH_WHATIF variants {sorted(unknown)}; known: {', '.join(KNOWN)}")
    return chosen


def switch(app, chosen: set[str]) -> None:
    """Turn exactly these variants on (install() must have run for the app)."""
    import db

    ENABLED.clear()
    ENABLED.update(chosen)
    db.engine(app).pool._pre_ping = "noping" not in chosen


def apply(app, chosen: set[str] | None = None) -> set[str]:
    chosen = variants() if chosen is None else chosen
    install()
    switch(app, chosen)
    return chosen


def install() -> None:
    """Wrap the functions the variants change; each wrapper defers to the original when its variant is off."""
    from identity import auth
    from identity.models import Brand, Consumer
    from loyalty import scan_rewards

    if not getattr(scan_rewards.verify, "_whatif", False):
        original_verify = scan_rewards.verify

        def verify_and_load_brand(session, code):
            found = original_verify(session, code)
            if "brand" in ENABLED and found.batch is not None:
                # keep a strong reference: the identity map is weak, and expire_on_commit=False keeps the
                # row usable after commit, so _response()'s session.get() needs no SQL.
                found.whatif_brand = session.get(Brand, found.batch.brand_id)
            return found

        verify_and_load_brand._whatif = True
        scan_rewards.verify = verify_and_load_brand

    if not getattr(auth.principal, "_whatif", False):
        original_principal = auth.principal

        def principal():
            from flask import g

            if "consumer" not in ENABLED:
                return original_principal()
            if "principal" in g:
                return g.principal
            secret = auth._bearer()
            if not secret.startswith("ct_"):
                return original_principal()
            try:
                consumer_id = auth._serializer().loads(secret[3:], max_age=auth.CONSUMER_TOKEN_MAX_AGE)
            except Exception:  # noqa: BLE001 - the original gives the proper 401
                return original_principal()
            g.principal = ("consumer", Consumer(id=consumer_id))   # transient, never added to the session
            return g.principal

        principal._whatif = True
        auth.principal = principal


def create_app(config: dict | None = None):
    from app import create_app as real_create_app

    app = real_create_app(config)
    apply(app)
    return app
