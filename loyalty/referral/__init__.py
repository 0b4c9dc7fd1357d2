"""Referral (邀请 / 分销): codes and links, bindings, referral campaigns' rewards (never more than two levels)."""
