"""Tenants and callers: brands, stores, consumers, the partner network and authentication."""


def init_app(app, api):
    import jobs
    from identity import jobs as identity_jobs
    from identity import models  # noqa: F401  (tables on Base.metadata)
    from identity.views import bp

    api.register_blueprint(bp)
    jobs.register_sweep("login_proofs", identity_jobs.prune_login_proofs)
