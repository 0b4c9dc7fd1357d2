"""Tenants and callers: brands, stores, consumers, the partner network and authentication."""


def init_app(app, api):
    from identity import models  # noqa: F401  (tables on Base.metadata)
    from identity.views import bp

    api.register_blueprint(bp)
