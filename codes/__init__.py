"""One item, one code: signing keys, tokens, batches, labels, verification, aggregation, trace."""


def init_app(app, api):
    from codes import models  # noqa: F401  (tables on Base.metadata)
    from codes.cli import codes_group
    from codes.pages import bp as landing_bp
    from codes.views import bp

    api.register_blueprint(bp)
    app.register_blueprint(landing_bp)
    app.cli.add_command(codes_group)
