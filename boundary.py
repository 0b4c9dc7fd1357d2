"""The input boundary: what every request must be before any view, schema or service reads it.

Checked once per request, before anything parses the body:
- the body is at most MAX_BODY_BYTES (413, `body`): checked on the declared length, and a chunked
  body is read no further than that (Flask's MAX_CONTENT_LENGTH), so one that reaches it is refused;
- a JSON body nests at most MAX_JSON_DEPTH arrays and objects (400, `body`), counted on the raw
  bytes, so that no parser ever recurses deeper than that;
- path and query parameters hold no control characters, and query values no digits of another
  script (422 naming the parameter); header values hold no control characters (400 naming the
  header): ids and filters go to the database, which refuses a NUL.
Strings inside a body are the schemas' job (schemas.Text), field by field.
"""

from __future__ import annotations

import json
import re

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from errors import DomainError, PayloadTooLarge, ValidationFailed
from schemas import CONTROL, NO_CONTROL

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# A JSON string (skipped whole, escapes included) or one bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPENERS = (ord("["), ord("{"))
# Header values are Latin-1 on the wire: C0 controls but tab, and DEL.
_HEADER_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
# A decimal digit of another script (full-width, Arabic-Indic, ...): int() and float() read it as
# ASCII's, so "?limit=\uff15" would pass as 5. Numbers in a query are written in 0-9.
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
NOT_ASCII_DIGITS = "Digits must be ASCII 0-9."


def nesting_exceeds(body: bytes, limit: int) -> bool:
    """Whether a JSON document nests more than `limit` arrays/objects, without parsing it."""
    if body.count(b"[") + body.count(b"{") <= limit:  # the everyday body: nothing to walk
        return False
    encoding = json.detect_encoding(body)
    if encoding not in ("utf-8", "utf-8-sig"):
        body = body.decode(encoding, "replace").encode()
    depth = 0
    for token in _TOKENS.finditer(body):
        first = token.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif first != ord('"'):
            depth -= 1
    return False


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(fields={"body": [f"At most {limit:,} bytes."]})


def check_request() -> None:
    """before_request, first of all: size and depth of the body, then parameters and headers."""
    config = current_app.config
    req = request._get_current_object()  # once: this runs before every request, POST /scans included
    limit = config["MAX_BODY_BYTES"]
    declared = req.content_length  # None for a chunked body
    if declared is not None and declared > limit:
        raise _too_large(limit)
    if req.mimetype not in FORM_TYPES:
        try:
            body = req.get_data(cache=True)
        except RequestEntityTooLarge:
            raise _too_large(limit) from None
        if declared is None and len(body) >= limit:  # werkzeug stops reading a chunked body at the limit
            raise _too_large(limit)
        depth = config["MAX_JSON_DEPTH"]
        if body and nesting_exceeds(body, depth):
            raise DomainError(
                "The body nests too deeply.", fields={"body": [f"Arrays and objects nest at most {depth} deep."]}
            )
    for name, value in (req.view_args or {}).items():
        if isinstance(value, str) and CONTROL.search(value):
            raise ValidationFailed({name: [NO_CONTROL]})
    for name, value in req.args.items(multi=True):
        if CONTROL.search(name) or CONTROL.search(value):
            raise ValidationFailed({name: [NO_CONTROL]})
        if _OTHER_DIGIT.search(value):
            raise ValidationFailed({name: [NOT_ASCII_DIGITS]})
    # All header values at once (tab, the separator, is allowed); name the culprit only on a hit.
    wire = "\t".join([value for key, value in req.environ.items() if key.startswith("HTTP_")])
    if _HEADER_CONTROL.search(wire):
        for name, value in req.headers.items():
            if _HEADER_CONTROL.search(value):
                raise DomainError("A header holds control characters.", fields={name: [NO_CONTROL]})


def init_app(app) -> None:
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BODY_BYTES"]
    app.before_request_funcs.setdefault(None, []).insert(0, check_request)
