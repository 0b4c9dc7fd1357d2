"""Campaigns, draws, coupons, group-buy, referral."""


def init_app(app, api):
    import jobs
    from loyalty import jobs as loyalty_jobs
    from loyalty import models  # noqa: F401  (tables on Base.metadata)
    from loyalty.groupbuy import groups
    from loyalty.groupbuy import jobs as groupbuy_jobs
    from loyalty.groupbuy import models as groupbuy_models  # noqa: F401
    from loyalty.groupbuy.views import bp as groupbuy_bp
    from loyalty.groupbuy.views import page_bp as group_page_bp
    from loyalty.order_coupons import connect
    from loyalty.referral import bindings as referral_bindings
    from loyalty.referral import jobs as referral_jobs
    from loyalty.referral import models as referral_models  # noqa: F401
    from loyalty.referral import rewards as referral_rewards
    from loyalty.referral import triggers as referral_triggers
    from loyalty.referral.views import bp as referral_bp
    from loyalty.referral.views import page_bp as referral_page_bp
    from loyalty.views import bp
    from storefront import signals

    connect()
    signals.order_released.connect(groups.seat_released)
    signals.group_order_paid.connect(groups.seat_paid)
    signals.referrers_for_order.connect(referral_bindings.referrers_for_order)
    signals.order_paid.connect(referral_triggers.on_order_paid)
    signals.order_released.connect(referral_rewards.reverse_for_refund)

    api.register_blueprint(bp)
    api.register_blueprint(groupbuy_bp)
    app.register_blueprint(group_page_bp)
    api.register_blueprint(referral_bp)
    app.register_blueprint(referral_page_bp)
    jobs.register_sweep("group_buy", groupbuy_jobs.sweep)
    jobs.register_sweep("coupon_expiry", loyalty_jobs.expire_coupons)
    jobs.register_sweep("campaign_end", loyalty_jobs.end_campaigns)
    jobs.register_sweep("referral_rewards", referral_jobs.sweep)
