"""Brand insight: rollups kept by jobs, brand statistics, diversion detection and the brand
dashboard page. The top layer: it reads every package below and none imports it."""

from insight import models  # noqa: F401  (tables on Base.metadata, also for Alembic's env.py)


def init_app(app, api):
    import jobs
    from insight import jobs as insight_jobs
    from insight.pages import bp as page
    from insight.views import bp

    api.register_blueprint(bp)
    app.register_blueprint(page)
    jobs.register_sweep("rollups", insight_jobs.roll_up)
    jobs.register_sweep("diversion_detection", insight_jobs.detect_diversion)
