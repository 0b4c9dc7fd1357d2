"""Campaigns, draws, coupons, group-buy, referral."""


def init_app(app, api):
    pass
