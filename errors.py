"""One error family, one JSON shape: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import logging
from http import HTTPStatus

import werkzeug.exceptions
from flask import has_request_context, jsonify, request
from flask_babel import gettext
from marshmallow import Schema
from marshmallow import fields as ma
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, fields: dict | None = None, headers: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields or {}
        self.headers = headers or {}


class ValidationFailed(DomainError):
    status, code, message = 422, "validation_error", "Some fields are invalid."

    def __init__(self, fields: dict, message: str | None = None):
        super().__init__(message or self.message, fields=fields)


def invalid(field: str, reason: str) -> ValidationFailed:
    return ValidationFailed({field: [reason]})


class Unauthorized(DomainError):
    status, code, message = 401, "unauthorized", "Missing or invalid credentials."


class Forbidden(DomainError):
    status, code, message = 403, "forbidden", "This resource is not yours."


class NotFound(DomainError):
    status, code, message = 404, "not_found", "No such resource."


class Conflict(DomainError):
    status, code, message = 409, "conflict", "The resource is in a conflicting state."


class InsufficientFunds(Conflict):
    code, message = "insufficient_funds", "Not enough balance for this amount."


class IdempotencyConflict(Conflict):
    code, message = "idempotency_conflict", "This key was already used with different content."


class PayloadTooLarge(DomainError):
    status, code, message = 413, "too_large", "The request body is too large."


class Throttled(DomainError):
    status, code, message = 429, "throttled", "Too many requests; slow down."

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})


class ServiceUnavailable(DomainError):
    """A dependency (the database, Redis) is down or not answering: try again after Retry-After."""

    status, code, message = 503, "service_unavailable", "A service we depend on is unavailable; try again shortly."

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})


def translated(message: str) -> str:
    """The message in the request's language (locale_format: Accept-Language, English for API clients
    that send none) when the catalogs have it; messages with values written in stay English."""
    return gettext(message) if message and has_request_context() else message


def error_response(status: int, code: str, message: str, fields: dict | None = None, headers: dict | None = None):
    message = translated(message)
    response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
    response.status_code = status
    response.vary.add("Accept-Language")  # the message is in the language asked for
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "throttled",
    503: "service_unavailable",
}


def _flatten_webargs(messages) -> dict:
    """webargs nests messages by location ({"json": {"quantity": [...]}}): clients want the field."""
    fields: dict = {}
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    for location, by_field in messages.items():
        if isinstance(by_field, dict):
            for name, msgs in by_field.items():
                fields[name] = msgs
        else:
            fields[location] = by_field
    return fields


def handle_http_exception(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    status = exc.code or 500
    fields = _flatten_webargs(data["messages"]) if "messages" in data else {}
    if fields.get("json") == ["Invalid JSON body."]:
        return error_response(400, "bad_request", "The body is not valid JSON.", {"body": ["Invalid JSON body."]})
    code = _HTTP_CODES.get(status, "error")
    message = "Some fields are invalid." if status == 422 else (exc.description or exc.name)
    return error_response(status, code, message, fields, dict(data.get("headers") or {}))


def handle_domain_error(exc: DomainError):
    return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)


def handle_unexpected(exc: Exception):
    log.exception("unhandled error")
    return error_response(500, "internal_error", "Something went wrong on our side.")


# --- the error shape in the OpenAPI document ---------------------------------------------------------
class ErrorDetail(Schema):
    code = ma.String(
        required=True, metadata={"description": "Stable English code to branch on.", "example": "validation_error"}
    )
    message = ma.String(
        required=True, metadata={"description": "For people; may be translated.", "example": "Some fields are invalid."}
    )
    fields = ma.Dict(
        keys=ma.String(),
        required=True,
        metadata={  # additionalProperties: values are lists of reasons, or nested objects of this shape
            "description": "Per-field reasons; empty when no field is at fault. A nested object's or a list's "
            "reasons are an object of this same shape, keyed by field name or item index: "
            '{"items": {"0": {"quantity": ["..."]}}}.',
            "additionalProperties": {
                "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "object"}],
            },
            "example": {"quantity": ["Must be greater than or equal to 1."]},
        },
    )


class Error(Schema):
    """Every error answer: `{"error": {"code", "message", "fields"}}`."""

    error = ma.Nested(ErrorDetail, required=True)


def _example(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}

# status: (description, example) of the response an operation documents with `fails(status)`.
RESPONSES = {
    400: (
        "The body is not valid JSON.",
        _example("bad_request", "The body is not valid JSON.", {"body": ["Invalid JSON body."]}),
    ),
    401: ("No credentials, or bad or expired ones.", _example(Unauthorized.code, Unauthorized.message)),
    403: ("Credentials of another role, or another tenant's resource.", _example(Forbidden.code, Forbidden.message)),
    404: ("No such resource.", _example(NotFound.code, NotFound.message)),
    409: ("The resource's state refuses this request.", _example(Conflict.code, Conflict.message)),
    413: ("The body is over the size cap.", _example(PayloadTooLarge.code, PayloadTooLarge.message)),
    422: (
        "Some fields are invalid; `fields` names them.",
        _example("validation_error", ValidationFailed.message, {"quantity": ["Must be greater than or equal to 1."]}),
    ),
    429: ("Too many requests; wait `Retry-After` seconds.", _example(Throttled.code, Throttled.message)),
}


def _name(status: int) -> str:
    """flask-smorest's name for a status's response component (422 is the one its arguments use)."""
    return HTTPStatus(status).name


def register_responses(spec, default_name: str) -> None:
    """Replace flask-smorest's error response components (lazily registered, so only the referenced
    ones appear) with ours: our shape, our descriptions and an example each."""
    for status, (description, example) in RESPONSES.items():
        response = {"description": description, "content": {"application/json": {"schema": Error, "example": example}}}
        if status == 429:
            response["headers"] = _RETRY_AFTER
        spec.components.response(_name(status), response, lazy=True)
    default = {
        "description": "Any other error: 400 body not JSON, 413 body over the size cap, 500, 503 with Retry-After.",
        "content": {"application/json": {"schema": Error}},
    }
    spec.components.response(default_name, default, lazy=True)


def fails(*statuses: int):
    """Document the error statuses an operation can answer, each with the error shape above. Like
    flask-smorest's alt_response(status, response=name), without wrapping the view in another call."""

    def decorate(func):
        responses = func.__dict__.setdefault("_apidoc", {}).setdefault("response", {}).setdefault("responses", {})
        for status in statuses:
            responses.setdefault(status, []).append(_name(status))
        return func

    return decorate


def handle_unrouted(exc: HTTPException):
    """An /api/ path with no endpoint (404) or whose endpoint does not take the method (405): a short
    JSON error in our shape, 405 with its `Allow` header, instead of Werkzeug's sentence for a browser."""
    if request.routing_exception is not exc or not request.path.startswith("/api/"):
        return handle_http_exception(exc)
    if exc.code == 405:
        allowed = [m for m in getattr(exc, "valid_methods", None) or [] if m not in ("HEAD", "OPTIONS")]
        listed = ", ".join(sorted(allowed))
        fields = {"method": [f"{request.method} is not allowed here; allowed: {listed}."]}
        headers = {"Allow": ", ".join(sorted(exc.valid_methods or []))}
        return error_response(405, "method_not_allowed", "This endpoint does not take this method.", fields, headers)
    return error_response(404, "not_found", "No such endpoint.", {})


def init_app(app) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(werkzeug.exceptions.NotFound, handle_unrouted)
    app.register_error_handler(werkzeug.exceptions.MethodNotAllowed, handle_unrouted)
    app.register_error_handler(Exception, handle_unexpected)
