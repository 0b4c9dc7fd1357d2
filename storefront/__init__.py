"""Stores' money: ledger, orders, payments, splits, rebates, payouts, pages."""
from storefront import models  # noqa: F401  (tables on Base.metadata, also for Alembic's env.py)


def init_app(app, api):
    import jobs
    from storefront import jobs as money_jobs
    from storefront import commerce_jobs, rebates
    from storefront.cli import ledger_group, payments_group
    from storefront.order_views import bp as commerce_bp
    from storefront.pages import bp as page_bp
    from storefront.views import bp

    api.register_blueprint(bp)
    api.register_blueprint(commerce_bp)
    app.register_blueprint(page_bp)
    app.cli.add_command(ledger_group)
    app.cli.add_command(payments_group)
    app.extensions.setdefault("on_bound_claim", []).append(rebates.on_first_scan)
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"   # the store page's sign-in cookie
    jobs.register_sweep("ledger_expiry", money_jobs.expire_pending_transfers)
    jobs.register_sweep("settlement", commerce_jobs.settle)
    jobs.register_sweep("order_expiry", commerce_jobs.expire_orders)
    jobs.register_sweep("daily_rebates", commerce_jobs.daily_rebates)
    jobs.register_sweep("payouts", money_jobs.run_payouts)
