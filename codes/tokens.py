"""Signed code tokens: pure functions of (key, fields), no database, no Flask.

Short form (version 1), 24 URL-safe characters:
    base64url( version:1 | key_id:3 | serial:6 | mac:8 )      18 bytes, no padding
    mac = HMAC-SHA256(key, version | key_id | serial)[:8]      64 bits kept

GS1 Digital Link form:
    {base}/01/{gtin14}/10/{lot}/21/{serial}?s={sig}
    sig = base64url( key_id:3 | mac:9 )                        16 characters, 72-bit MAC
    mac = HMAC-SHA256(key, 0x02 | key_id | gtin14 "|" lot "|" serial)[:9]

Both encodings are canonical (18 and 12 bytes are whole base64 groups), so changing any
single character changes the decoded bytes and the MAC check fails. A code has one written form:
ASCII only, digits `[0-9]` (never `\\d`, `isdigit()` or `int()` of unchecked text, which take
full-width and Arabic-Indic digits), no leading zeros, no percent-encoding, no extra path or query.
A URL is ours only on one of the `Origins` (a prefix check); a bare token names no host.
"""

from __future__ import annotations

import base64
import binascii
import hmac as std_hmac
import re
from dataclasses import dataclass
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

SHORT_VERSION = 1
GS1_DOMAIN = 2
SHORT_LEN = 24
MAC_BYTES = 8
GS1_MAC_BYTES = 9
MAX_KEY_ID = 2**24 - 1
MAX_SERIAL = 2**48 - 1
GS1_RESOLVER = "https://id.gs1.org"  # GS1's global resolver: GS1 URIs may name it instead of us
# Patterns are used with fullmatch() only (`$` would let a trailing newline through).
LOT_RE = re.compile(r"[A-Za-z0-9._-]{1,20}")
DIGITS_RE = re.compile(r"[0-9]+")
SERIAL_RE = re.compile(r"0|[1-9][0-9]{0,19}")  # GS1 AI 21 as we print it: no leading zeros
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{24}")
_SIG_RE = re.compile(r"[A-Za-z0-9_-]{16}")
_SHORT_PATH = re.compile(r"/c/([A-Za-z0-9_-]{24})")
_GS1_PATH = re.compile(r"/01/([0-9]{14})/10/([A-Za-z0-9._-]{1,20})/21/(0|[1-9][0-9]{0,19})\?s=([A-Za-z0-9_-]{16})")
_WHITESPACE = " \t\r\n"  # a till's scanner may add a newline; anything else around a code is not ours


@dataclass(frozen=True)
class ParsedCode:
    form: str  # "short" | "gs1"
    key_id: int
    serial: int
    mac: bytes
    gtin: str | None = None
    lot: str | None = None


class Malformed(ValueError):
    """The string is not a code of either form (the verdict is `forged`)."""


def keyed(secret: bytes) -> crypto_hmac.HMAC:
    """A pre-keyed HMAC context; copy() it per message to skip the key schedule."""
    return crypto_hmac.HMAC(secret, hashes.SHA256())


def _mac(base: crypto_hmac.HMAC, message: bytes, size: int) -> bytes:
    h = base.copy()
    h.update(message)
    return h.finalize()[:size]


def _short_body(key_id: int, serial: int) -> bytes:
    return bytes([SHORT_VERSION]) + key_id.to_bytes(3, "big") + serial.to_bytes(6, "big")


def short_token(secret: bytes | crypto_hmac.HMAC, key_id: int, serial: int) -> str:
    base = keyed(secret) if isinstance(secret, bytes) else secret
    body = _short_body(key_id, serial)
    return base64.urlsafe_b64encode(body + _mac(base, body, MAC_BYTES)).decode()


def _gs1_message(key_id: int, gtin14: str, lot: str, serial: int) -> bytes:
    return bytes([GS1_DOMAIN]) + key_id.to_bytes(3, "big") + f"{gtin14}|{lot}|{serial}".encode()


def gs1_signature(secret: bytes | crypto_hmac.HMAC, key_id: int, gtin14: str, lot: str, serial: int) -> str:
    base = keyed(secret) if isinstance(secret, bytes) else secret
    mac = _mac(base, _gs1_message(key_id, gtin14, lot, serial), GS1_MAC_BYTES)
    return base64.urlsafe_b64encode(key_id.to_bytes(3, "big") + mac).decode()


def gs1_uri(base_url: str, secret, key_id: int, gtin14: str, lot: str, serial: int) -> str:
    sig = gs1_signature(secret, key_id, gtin14, lot, serial)
    return f"{base_url}/01/{gtin14}/10/{lot}/21/{serial}?s={sig}"


def short_url(base_url: str, token: str) -> str:
    return f"{base_url}/c/{token}"


def code_url(base_url: str, secret, key_id: int, serial: int, gs1: tuple[str, str] | None = None) -> str:
    """The printed URL of one code; `gs1` is (gtin14, lot) for GS1 Digital Link batches."""
    if gs1 is not None:
        return gs1_uri(base_url, secret, key_id, gs1[0], gs1[1], serial)
    return short_url(base_url, short_token(secret, key_id, serial))


def _b64(value: str, size: int) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise Malformed("not base64url") from None
    if len(raw) != size:
        raise Malformed("wrong length")
    return raw


@dataclass(frozen=True)
class Origins:
    """Where a code's URL may point: lower-case `scheme://host[:port][/path]` prefixes for the short
    form and for the GS1 form."""

    short: tuple[str, ...]
    gs1: tuple[str, ...]


@cache
def origins_for(base_url: str, resolvers: tuple[str, ...] = (GS1_RESOLVER,)) -> Origins:
    """Our origins for PUBLIC_BASE_URL (over http or https), and for GS1 URIs also the resolvers."""
    base = base_url.rstrip("/").lower()
    _, sep, rest = base.partition("://")
    ours = (f"https://{rest}", f"http://{rest}") if sep else (base,)
    return Origins(ours, ours + tuple(r.rstrip("/").lower() for r in resolvers))


def _path(code: str, prefixes: tuple[str, ...] | None) -> str | None:
    """What follows the origin of a URL, if the origin is one of `prefixes` (any origin when None)."""
    if prefixes is None:
        _, sep, rest = code.partition("://")
        slash = rest.find("/")
        return rest[slash:] if sep and slash >= 0 else None
    for prefix in prefixes:
        if code[: len(prefix)].lower() == prefix:
            return code[len(prefix) :]
    return None


def parse(code: str, origins: Origins | None = None) -> ParsedCode:
    """Parse a code in its one written form: a bare short token, `{origin}/c/{token}`, or
    `{origin}/01/{gtin14}/10/{lot}/21/{serial}?s={sig}`. With `origins` a URL elsewhere is Malformed
    (forged); without, any origin is taken (only to tell which code a string names, never to verify)."""
    if not isinstance(code, str):
        raise Malformed("not a string")
    if len(code) > 2048:
        raise Malformed("too long")
    code = code.strip(_WHITESPACE)
    if _TOKEN_RE.fullmatch(code):
        return parse_short(code)
    path = _path(code, origins.short if origins else None)
    match = _SHORT_PATH.fullmatch(path) if path is not None else None
    if match:
        return parse_short(match.group(1))
    path = _path(code, origins.gs1 if origins else None)
    match = _GS1_PATH.fullmatch(path) if path is not None else None
    if match:
        return parse_gs1_parts(*match.groups())
    if path is None and "://" in code:
        raise Malformed("not a URL of ours")
    raise Malformed("not a code in its canonical form")


def parse_short(token: str) -> ParsedCode:
    if not _TOKEN_RE.fullmatch(token):
        raise Malformed("not a 24-character token")
    raw = _b64(token, 18)
    if raw[0] != SHORT_VERSION:
        raise Malformed("unknown version")
    return ParsedCode("short", int.from_bytes(raw[1:4], "big"), int.from_bytes(raw[4:10], "big"), raw[10:])


def parse_gs1_parts(gtin14: str, lot: str, serial: str, sig: str) -> ParsedCode:
    if not (len(gtin14) == 14 and gtin_check_ok(gtin14)):
        raise Malformed("bad GTIN")
    if not LOT_RE.fullmatch(lot):
        raise Malformed("bad lot")
    if not SERIAL_RE.fullmatch(serial):
        raise Malformed("bad serial")
    if not _SIG_RE.fullmatch(sig or ""):
        raise Malformed("missing or malformed signature")
    raw = _b64(sig, 12)
    number = int(serial)  # ASCII digits only (SERIAL_RE)
    if number > MAX_SERIAL:
        raise Malformed("serial out of range")
    return ParsedCode("gs1", int.from_bytes(raw[:3], "big"), number, raw[3:], gtin=gtin14, lot=lot)


def mac_ok(secret: bytes, parsed: ParsedCode) -> bool:
    base = keyed(secret)
    if parsed.form == "short":
        expected = _mac(base, _short_body(parsed.key_id, parsed.serial), MAC_BYTES)
    else:
        expected = _mac(base, _gs1_message(parsed.key_id, parsed.gtin, parsed.lot, parsed.serial), GS1_MAC_BYTES)
    return std_hmac.compare_digest(expected, parsed.mac)


# --- GTIN ------------------------------------------------------------------------------------


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the ASCII digits before it (weights 3,1,3,... from the right)."""
    if not DIGITS_RE.fullmatch(body):
        raise ValueError("not ASCII digits")
    total = sum((ord(d) - 48) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_check_ok(gtin: str) -> bool:
    return (
        len(gtin) >= 2 and DIGITS_RE.fullmatch(gtin) is not None and gtin_check_digit(gtin[:-1]) == ord(gtin[-1]) - 48
    )


def normalize_gtin(gtin: str) -> str:
    """GTIN-8/12/13/14 in ASCII digits with a valid check digit, returned as GTIN-14; ValueError otherwise."""
    if not DIGITS_RE.fullmatch(gtin) or len(gtin) not in (8, 12, 13, 14):
        raise ValueError("A GTIN has 8, 12, 13 or 14 digits 0-9.")
    if not gtin_check_ok(gtin):
        raise ValueError(f"Check digit should be {gtin_check_digit(gtin[:-1])}.")
    return gtin.zfill(14)


# --- Bulk export: one chunk of CSV rows, used in-process or in a worker process ---------------


def csv_chunk(
    secret: bytes, key_id: int, base_url: str, first: int, last: int, gs1: tuple[str, str] | None = None
) -> bytes:
    """CSV rows `serial,token,url` for serials first..last inclusive; `token` is what the trace and
    QR endpoints take: the short token, or for a GS1 code (which has none) its whole URI.

    Short tokens are 18 bytes each, a whole number of base64 groups, so a run of tokens is
    encoded with one b64encode call and sliced every 24 characters.
    """
    base = keyed(secret)
    serials = range(first, last + 1)
    if gs1 is None:
        header = bytes([SHORT_VERSION]) + key_id.to_bytes(3, "big")
        raw = bytearray()
        for serial in serials:
            body = header + serial.to_bytes(6, "big")
            h = base.copy()
            h.update(body)
            raw += body
            raw += h.finalize()[:MAC_BYTES]
        encoded = base64.urlsafe_b64encode(raw)
        prefix = f"{base_url}/c/".encode()
        return b"".join(
            b"%d,%s,%s%s\n" % (serial, encoded[i : i + 24], prefix, encoded[i : i + 24])
            for serial, i in zip(serials, range(0, len(encoded), 24))
        )
    gtin14, lot = gs1
    kid = key_id.to_bytes(3, "big")
    head = bytes([GS1_DOMAIN]) + kid + f"{gtin14}|{lot}|".encode()
    raw = bytearray()
    for serial in serials:
        h = base.copy()
        h.update(head + str(serial).encode())
        raw += kid
        raw += h.finalize()[:GS1_MAC_BYTES]
    encoded = base64.urlsafe_b64encode(raw)
    prefix = f"{base_url}/01/{gtin14}/10/{lot}/21/".encode()
    # A GS1 code has no short token: its `token` is the whole URI, what trace and qr take.
    uris = [
        b"%s%d?s=%s" % (prefix, serial, encoded[i : i + 16]) for serial, i in zip(serials, range(0, len(encoded), 16))
    ]
    return b"".join(b"%d,%s,%s\n" % (serial, uri, uri) for serial, uri in zip(serials, uris))
