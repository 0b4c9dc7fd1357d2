"""What stores and orders do with money: the ledger (storefront.ledger: accounts, transfers,
settlement, payouts, balances, the store page) and commerce (orders, payments, splits, receipts,
rebates). `init_app` wires both: blueprints, CLI groups, sweeps and signal receivers."""

from storefront import models  # noqa: F401  (tables on Base.metadata, also for Alembic's env.py)
from storefront.ledger import models as ledger_models  # noqa: F401
from storefront.payments import models as payment_models  # noqa: F401


def init_app(app, api):
    import jobs
    from codes.signals import bound_code_claimed
    from storefront import jobs as commerce_jobs
    from storefront import rebates
    from storefront.cli import payments_group
    from storefront.ledger import jobs as ledger_jobs
    from storefront.ledger.cli import ledger_group
    from storefront.ledger.pages import bp as page_bp
    from storefront.ledger.views import bp as ledger_bp
    from storefront.payments import jobs as payment_jobs
    from storefront.views import bp as commerce_bp

    api.register_blueprint(ledger_bp)
    api.register_blueprint(commerce_bp)
    app.register_blueprint(page_bp)
    app.cli.add_command(ledger_group)
    app.cli.add_command(payments_group)
    bound_code_claimed.connect(rebates.on_first_scan)  # T+0 commission on a bound item's first scan
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"  # the store page's sign-in cookie
    jobs.register_sweep("ledger_expiry", ledger_jobs.expire_pending_transfers)
    jobs.register_sweep("settlement", ledger_jobs.settle)
    jobs.register_sweep("order_expiry", commerce_jobs.expire_orders)
    jobs.register_sweep("refunds", payment_jobs.sweep)
    jobs.register_sweep("daily_rebates", commerce_jobs.daily_rebates)
    jobs.register_sweep("payouts", ledger_jobs.run_payouts)
