"""Stores' money: ledger, orders, payments, splits, rebates, payouts, pages."""


def init_app(app, api):
    pass
