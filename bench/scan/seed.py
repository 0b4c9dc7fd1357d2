"""bench.scan's data, made through the HTTP API: a funded brand, an activated batch, a live campaign and
its consumers; Codes hands the seeded (token, code) pairs out to the load phases."""

from __future__ import annotations

from dataclasses import dataclass

from bench.scan.config import TIERS, Settings, app_config


@dataclass
class Seed:
    brand_id: str
    campaign_id: str
    batch_id: str
    pairs: list[tuple[str, str]]  # (consumer token, code url), every code distinct
    consumers: int


def seed(url: str, settings: Settings) -> Seed:
    from app import create_app
    from tests.factories import Api, deposit, scan_campaign

    app = create_app({"TESTING": True, **app_config(url, settings)})
    api = Api(app, app.test_client())
    brand = api.brand("Bench dairy")
    budget = settings.codes * 500  # enough for every code to win the 500-fen coupon
    deposit(api, brand, budget)
    batch = api.batch(brand, quantity=settings.codes)
    codes = api.codes(brand, batch)
    campaign = scan_campaign(api, brand, [batch["product"]["id"]], tiers=TIERS, budget_fen=budget)
    tokens = [api.consumer(f"bench-openid-{i}").key for i in range(settings.consumers)]
    pairs = [(tokens[i % len(tokens)], row["url"]) for i, row in enumerate(codes)]
    from db import dispose

    dispose(app)
    return Seed(brand.id, campaign["id"], batch["id"], pairs, len(tokens))


class Codes:
    """Hands out disjoint slices of the seeded (token, code) pairs to successive load phases."""

    def __init__(self, pairs):
        self.pairs, self.at = pairs, 0

    def take(self, n: int | None = None):
        n = len(self.pairs) - self.at if n is None else n
        chunk = self.pairs[self.at : self.at + n]
        self.at += len(chunk)
        return chunk
