"""Every configuration key, once: its type, default, validation and what it is for.

`load(app, overrides)` fills `app.config` from the environment (then the overrides a test or a
benchmark passes to `create_app`), checks every value, and in development generates the missing
secrets once into `instance/secrets.json`. Everything else reads `config["X"]` (always present
after `load`) and passes values on to services as plain arguments.

Production is `APP_ENV=production`, and nothing else: there every secret must be set and strong
(a secret's `strength` check; the message names the key, never the value), and cookies are
`Secure` with the `__Host-` prefix (security.py). Development (the default) generates its secrets.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SYNCHRONOUS_COMMIT_VALUES = ("on", "off", "local", "remote_write", "remote_apply")


def _one_of(*allowed: str) -> Callable[[Any], str | None]:
    def check(value):
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def _at_least(low: int) -> Callable[[Any], str | None]:
    def check(value):
        return None if value >= low else f"must be at least {low}"

    return check


KNOWN_WEAK = {"admin", "changeme", "change-me", "default", "dev", "development", "password", "secret", "test", "x"}
MIN_SECRET_CHARS = 32
MIN_DISTINCT_CHARS = 8  # a random 32-character hex string has about 14; "0000...", "admin" * 7 have 1 and 5
MIN_KEY_DISTINCT_BYTES = 20  # a random 32-byte key has about 30; all-zero has 1, an ASCII hex string 16


def _random_secret(value: str) -> str | None:
    """A shared secret fit for production: long, and not a default or a repeated character or word."""
    if value.strip().lower() in KNOWN_WEAK:
        return "is a well-known default value"
    if len(value) < MIN_SECRET_CHARS:
        return f"is {len(value)} characters long; use at least {MIN_SECRET_CHARS} random characters"
    if len(set(value)) < MIN_DISTINCT_CHARS:
        return f"has only {len(set(value))} different characters; it is not random"
    return None


def master_key_bytes(value: str) -> bytes | None:
    """CODE_MASTER_KEY's 32 bytes, or None if it is not 32 bytes of base64url."""
    try:
        key = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == 32 else None


def _master_key_format(value: str) -> str | None:
    return None if master_key_bytes(value) is not None else "must be 32 bytes, base64url encoded"


def _random_master_key(value: str) -> str | None:
    key = master_key_bytes(value) or b""
    if len(set(key)) < MIN_KEY_DISTINCT_BYTES:
        return f"has only {len(set(key))} different byte values (all-zero or patterned); generate a random key"
    return None


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    kind: type
    help: str
    check: Callable[[Any], str | None] | None = None
    secret: bool = False  # generated in development, required in production (the message never shows it)
    strength: Callable[[Any], str | None] | None = None  # in production: refuse a weak value


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "APP_ENV",
        "development",
        str,
        "production: every secret set and strong, Secure __Host- cookies; development: secrets generated",
        _one_of("development", "production"),
    ),
    Setting("DATABASE_URL", None, str, "SQLAlchemy URL; default: SQLite in instance/app.db"),
    Setting("REDIS_URL", None, str, "Redis for RQ jobs and the scan throttle; unset: jobs run inline"),
    Setting("REDIS_TIMEOUT_MS", 300, int, "longest wait for Redis (to connect, then per answer)", _at_least(1)),
    Setting("PUBLIC_BASE_URL", "http://localhost:5000", str, "base of every code URL we print"),
    Setting(
        "CODE_MASTER_KEY",
        None,
        str,
        "AES-GCM key (32 bytes, base64url) wrapping brands' signing keys",
        _master_key_format,
        secret=True,
        strength=_random_master_key,
    ),
    Setting("ADMIN_API_KEY", None, str, "the platform operator's bearer key", secret=True, strength=_random_secret),
    Setting(
        "MINIAPP_SECRET",
        None,
        str,
        "HMAC secret the mini app signs consumer logins with",
        secret=True,
        strength=_random_secret,
    ),
    Setting(
        "PAYMENT_WEBHOOK_SECRET",
        None,
        str,
        "HMAC secret of the payment provider's notices",
        secret=True,
        strength=_random_secret,
    ),
    Setting(
        "SECRET_KEY",
        None,
        str,
        "Flask's key for the store page's session cookie",
        secret=True,
        strength=_random_secret,
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        int,
        "reverse proxies in front that set X-Forwarded-For/-Proto (the client IP of throttles and scans); "
        "0: those headers are ignored",
        _at_least(0),
    ),
    Setting("SETTLEMENT_DELAY_SECONDS", 604800, int, "how long store earnings stay pending", _at_least(0)),
    Setting("PAYOUT_MIN_FEN", 100, int, "smallest payout a store may ask for", _at_least(1)),
    Setting("PAYOUT_LEASE_SECONDS", 300, int, "how long a payout run holds a payout before another may", _at_least(0)),
    Setting("PAYOUT_PROVIDER", "simulated", str, "who pays stores out", _one_of("simulated")),
    Setting("ORDER_PAYMENT_SECONDS", 1800, int, "how long an order waits for its payment", _at_least(1)),
    Setting(
        "REFUND_WINDOW_SECONDS", 604800, int, "how long after payment a consumer may ask for a refund", _at_least(0)
    ),
    Setting(
        "REFUND_AUTO_APPROVE_SECONDS",
        172800,
        int,
        "a refund request the store has not decided is approved after this",
        _at_least(0),
    ),
    Setting(
        "REFERRAL_DAILY_BINDINGS",
        50,
        int,
        "new consumers one referrer may bind per day (Beijing time); past it: 409 daily_limit",
        _at_least(1),
    ),
    Setting("REFUND_LEASE_SECONDS", 300, int, "how long a refund job holds a refund before another may", _at_least(1)),
    Setting("PAYMENT_PROVIDER", "simulated", str, "who takes payments and pays refunds", _one_of("simulated")),
    Setting(
        "SIMULATED_REFUND_FAILURES",
        None,
        str,
        "the simulated provider declines refunds of these orders (comma-separated ids, or *)",
    ),
    Setting(
        "SIMULATED_REFUND_UNAVAILABLE",
        None,
        str,
        "the simulated provider times out on refunds of these orders (comma-separated ids, or *)",
    ),
    Setting(
        "SIMULATED_REFUND_DELAY_SECONDS",
        0,
        int,
        "the simulated provider answers a refund this long after paying it",
        _at_least(0),
    ),
    Setting(
        "INSIGHT_SETTLE_SECONDS", 60, int, "how long a scan may take to commit before the rollups pass it", _at_least(0)
    ),
    Setting("INLINE_SWEEP_SECONDS", 60, int, "without Redis: how often the embedded server runs the sweeps"),
    Setting("SWEEP_INTERVAL_SECONDS", 60, int, "with Redis: how often the worker runs the sweeps", _at_least(1)),
    Setting("EXPORT_PROCESSES", 0, int, "processes for large CSV exports; 0: one per core", _at_least(0)),
    Setting("SCAN_LIMIT_PER_CONSUMER", 30, int, "scans per consumer per minute", _at_least(0)),
    Setting("SCAN_LIMIT_PER_IP", 120, int, "scans per IP address per minute", _at_least(0)),
    Setting("REPEAT_SCAN_WARNING", 5, int, "scans of one code before a counterfeit warning", _at_least(1)),
    Setting("MINIAPP_APPID", None, str, "the WeChat mini app's AppID the landing page opens; unset: no button"),
    Setting("MINIAPP_PATH", "pages/scan/index", str, "the mini app page the landing page opens, given code=<token>"),
    Setting("MAX_BODY_BYTES", 1048576, int, "largest request body accepted (413 above)", _at_least(1024)),
    Setting("MAX_JSON_DEPTH", 32, int, "deepest nesting of arrays and objects in a JSON body", _at_least(4)),
    Setting(
        "SCAN_SYNCHRONOUS_COMMIT",
        "off",
        str,
        "PostgreSQL synchronous_commit of everyday first scans (docs/scanning.md, Durability)",
        _one_of(*SYNCHRONOUS_COMMIT_VALUES),
    ),
)

# Set only by tests and benchmarks (create_app's overrides), never from the environment:
#   RQ_IS_ASYNC (False: RQ runs a job at enqueue), SIMULATED_PAYOUT_FAILURES and
#   SIMULATED_PAYOUT_UNAVAILABLE (the simulated payout provider's switches: store ids or "*").
TEST_ONLY = {"RQ_IS_ASYNC": True, "SIMULATED_PAYOUT_FAILURES": None, "SIMULATED_PAYOUT_UNAVAILABLE": None}

BY_NAME = {setting.name: setting for setting in SETTINGS}


class SettingError(ValueError):
    """A configuration value that the app refuses to start with."""


def _parse(setting: Setting, raw: str):
    if setting.kind is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingError(f"{setting.name} must be a whole number, not {raw!r}") from None
    return raw


def load(config: dict, instance_path: str, overrides: dict | None = None, environ=None) -> None:
    """Fill `config` with every setting: the environment, then `overrides`, then the defaults."""
    environ = os.environ if environ is None else environ
    for setting in SETTINGS:
        raw = environ.get(setting.name)
        config[setting.name] = _parse(setting, raw) if raw not in (None, "") else setting.default
    for name, default in TEST_ONLY.items():
        config[name] = default
    config.update(overrides or {})
    # What was set rather than defaulted (the demo serves its URLs' origin unless PUBLIC_BASE_URL is set).
    config["EXPLICIT_SETTINGS"] = frozenset(
        {s.name for s in SETTINGS if environ.get(s.name) not in (None, "")} | set(overrides or ())
    )
    if not config.get("DATABASE_URL"):
        config["DATABASE_URL"] = "sqlite:///" + os.path.join(instance_path, "app.db")
    config["PUBLIC_BASE_URL"] = config["PUBLIC_BASE_URL"].rstrip("/")
    for setting in SETTINGS:
        value = config[setting.name]
        if setting.check is not None and value is not None:
            problem = setting.check(value)
            if problem:
                raise SettingError(f"{setting.name} {problem}" + ("" if setting.secret else f", not {value!r}"))
    missing = [s.name for s in SETTINGS if s.secret and not config.get(s.name)]
    if is_production(config):
        if missing:
            raise SettingError(f"APP_ENV=production but these secrets are not set: {', '.join(missing)}")
        for setting in SETTINGS:
            problem = setting.strength(config[setting.name]) if setting.strength else None
            if problem:
                raise SettingError(f"{setting.name} is too weak for APP_ENV=production: it {problem}")
    elif missing:
        _fill_development_secrets(config, instance_path, missing, write=not showing_help())


def is_production(config) -> bool:
    return config.get("APP_ENV") == "production"


def showing_help(argv: list[str] | None = None) -> bool:
    """The Flask CLI is loading the app only to print help (`flask --app app demo --help`)."""
    argv = sys.argv[1:] if argv is None else argv
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true" and "--help" in argv


def _fill_development_secrets(config: dict, instance_path: str, missing: list[str], write: bool = True) -> None:
    """In development, generate missing secrets once into instance/secrets.json (mode 0600);
    without `write` (help is all that runs), the generated ones stay in memory and nothing is written."""
    path = os.path.join(instance_path, "secrets.json")
    stored = {}
    if os.path.exists(path):
        with open(path) as fh:
            stored = json.load(fh)
    changed = False
    for name in missing:
        if name not in stored:
            stored[name] = (
                base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
                if name == "CODE_MASTER_KEY"
                else secrets.token_urlsafe(32)
            )
            changed = True
        config[name] = stored[name]
    if changed and write:
        os.makedirs(instance_path, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, indent=2)
        log.warning("generated development secrets into %s", path)
