"""Profit-split arithmetic (pure): integer fen, every split sums exactly to its total.

Rates are basis points (1% = 100 bp). Largest-remainder rounding: each receiver gets the floor
of its exact share, and the fen left over go one each to the largest fractional parts (ties by
receiver order), so no fen is created or lost and no receiver is off by more than one fen.
"""

from __future__ import annotations

from dataclasses import dataclass

RECEIVERS = ("store", "platform", "referrer", "referrer2", "brand")


def largest_remainder(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Divide `total` in proportion to non-negative integer `weights` (insertion order breaks ties)."""
    if total < 0:
        raise ValueError("total must not be negative")
    weight_sum = sum(weights.values())
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must not be negative")
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    shares = {name: total * w // weight_sum for name, w in weights.items()}
    left = total - sum(shares.values())
    order = sorted(weights, key=lambda name: -(total * weights[name] % weight_sum))
    for name in order[:left]:
        shares[name] += 1
    return shares


@dataclass(frozen=True)
class Rule:
    store_bp: int
    platform_bp: int
    referrer_bp: int
    referrer2_bp: int

    def __post_init__(self):
        parts = (self.store_bp, self.platform_bp, self.referrer_bp, self.referrer2_bp)
        if any(p < 0 for p in parts) or sum(parts) > 10_000:
            raise ValueError("rates must be non-negative and sum to at most 100%")

    @property
    def brand_bp(self) -> int:
        return 10_000 - self.store_bp - self.platform_bp - self.referrer_bp - self.referrer2_bp

    def weights(self) -> dict[str, int]:
        return {
            "store": self.store_bp,
            "platform": self.platform_bp,
            "referrer": self.referrer_bp,
            "referrer2": self.referrer2_bp,
            "brand": self.brand_bp,
        }


DEFAULT_RULE = Rule(0, 0, 0, 0)  # no rule: the brand keeps everything


def split_order(
    amount_fen: int, lines: list[tuple[int, Rule]], has_referrer: bool = False, has_referrer2: bool = False
) -> dict[str, int]:
    """Split what the consumer paid across receivers.

    `lines` are (gross line amount, rule). The paid amount (after any coupon) is first allocated
    to lines in proportion to their gross amounts, then each line is split by its own rule; a
    referrer share with no referrer to receive it stays with the brand.
    """
    totals = dict.fromkeys(RECEIVERS, 0)
    if amount_fen == 0 or not lines:
        return totals
    gross = {str(i): g for i, (g, _) in enumerate(lines)}
    if sum(gross.values()) == 0:
        gross = {k: 1 for k in gross}
    per_line = largest_remainder(amount_fen, gross)
    for i, (_, rule) in enumerate(lines):
        for name, share in largest_remainder(per_line[str(i)], rule.weights()).items():
            totals[name] += share
    if not has_referrer:
        totals["brand"] += totals["referrer"] + totals["referrer2"]
        totals["referrer"] = totals["referrer2"] = 0
    elif not has_referrer2:
        totals["brand"] += totals["referrer2"]
        totals["referrer2"] = 0
    return totals


def percent_to_bp(value) -> int:
    """7.5 -> 750; at most two decimals."""
    bp = round(float(value) * 100)
    if abs(bp - float(value) * 100) > 1e-6:
        raise ValueError("at most two decimals")
    return bp
