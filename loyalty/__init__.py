"""Campaigns, draws, coupons, group-buy, referral."""


def init_app(app, api):
    import jobs
    from loyalty import jobs as loyalty_jobs
    from loyalty import models  # noqa: F401  (tables on Base.metadata)
    from loyalty.order_coupons import connect
    from loyalty.views import bp

    connect()

    api.register_blueprint(bp)
    jobs.register_sweep("coupon_expiry", loyalty_jobs.expire_coupons)
    jobs.register_sweep("campaign_end", loyalty_jobs.end_campaigns)
