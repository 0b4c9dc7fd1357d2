"""Language and local conventions: which language a request gets, money as ¥, times in Asia/Shanghai.

Pages speak Simplified Chinese unless the browser asks for English; API error messages follow
Accept-Language too, but stay English when a client sends none (clients written before the
translation keep the messages they know). `?lang=en` or `?lang=zh` overrides the header.
Catalogs: translations/<locale>/LC_MESSAGES/messages.po (English msgids), compiled .mo beside them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import request
from flask_babel import Babel, get_locale

LOCALES = ("zh", "en")
PAGE_DEFAULT, API_DEFAULT = "zh", "en"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TRANSLATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translations")


def choose(lang: str | None, accept_language, api: bool) -> str:
    """`?lang=` if it names one of ours, else the best of Accept-Language, else the default (zh for
    pages, en for API clients)."""
    if lang:
        primary = lang.strip().lower().replace("_", "-").split("-")[0]
        if primary in LOCALES:
            return primary
    default = API_DEFAULT if api else PAGE_DEFAULT
    if accept_language is None or not accept_language:
        return default
    return accept_language.best_match(LOCALES, default=default)


def select_locale() -> str:
    return choose(request.args.get("lang"), request.accept_languages, request.path.startswith("/api/"))


def yuan(fen: int | None, signed: bool = False) -> str:
    """1250 → "¥12.50", -1250 → "−¥12.50" (a minus sign), with signed=True 1250 → "+¥12.50"."""
    fen = int(fen or 0)
    sign = "−" if fen < 0 else ("+" if signed and fen > 0 else "")
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def shanghai(at: datetime | None) -> datetime | None:
    """A stored moment (naive UTC, or aware) as Beijing time."""
    if at is None:
        return None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(SHANGHAI)


def shanghai_minute(at: datetime | None) -> str:
    """A stored moment to the minute in Asia/Shanghai: "2026-12-01 16:30"."""
    local = shanghai(at)
    return "" if local is None else local.strftime("%Y-%m-%d %H:%M")


def shanghai_date(at: datetime | None) -> str:
    local = shanghai(at)
    return "" if local is None else local.strftime("%Y-%m-%d")


def init_app(app) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", PAGE_DEFAULT)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS)
    Babel(app, locale_selector=select_locale)
    app.add_template_filter(yuan, "yuan")
    app.add_template_filter(shanghai_minute, "shanghai_minute")
    app.add_template_filter(shanghai_date, "shanghai_date")
    app.context_processor(lambda: {"html_lang": "zh-CN" if str(get_locale()) == "zh" else "en"})
