"""Application factory: settings, then each part's init_app, then the CLI groups."""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask_smorest import Api

import errors
import settings


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the work for the API's requests, which carry no cookie:
    the stock interface builds its signing serializer (a key derivation) before looking for one."""

    def open_session(self, app, request):
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


class DocumentedApi(Api):
    """flask-smorest's Api documenting the errors we answer, `{"error": {code, message, fields}}`,
    instead of its own error shape (which no endpoint of ours returns)."""

    ERROR_SCHEMA = errors.Error

    def _register_responses(self):
        super()._register_responses()
        errors.register_responses(self.spec, self.DEFAULT_ERROR_RESPONSE_NAME)


API_CONFIG = {
    "API_TITLE": "QR trace: one item, one code",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": "/api/docs/static/",  # swagger_ui_bundle's files, served by security.py
    "OPENAPI_REDOC_PATH": None,
}


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.session_interface = CookieSessions()
    app.config.update(API_CONFIG)
    settings.load(app.config, app.instance_path, config)
    app.json.sort_keys = False

    import boundary
    import db
    import demo
    import jobs
    import locale_format
    import ops
    import security

    security.init_app(app)
    locale_format.init_app(app)
    db.init_app(app)
    jobs.init_app(app)
    api = DocumentedApi(
        app,
        spec_kwargs={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    )
    errors.init_app(app)  # after Api so that our handlers replace flask-smorest's

    import codes
    import identity
    import insight
    import loyalty
    import storefront

    for part in (identity, codes, storefront, loyalty, insight):
        part.init_app(app, api)

    ops.init_app(app)
    demo.init_app(app)
    boundary.init_app(app)  # last: its check goes before every other request hook
    return app
