"""The prize draw: a pure function of (campaign seed, code serial), so re-scanning cannot re-roll.

    u = first 8 bytes of HMAC-SHA256(seed, "draw" | serial) as an integer, divided by 2**64
    tier = the first i with u < p0 + ... + pi;  no tier ("no prize") when u is past them all

Campaigns publish sha256(seed) when they start and reveal the seed when they end, so a brand
(or a regulator) can recompute every draw and check the odds afterwards.
"""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, hmac

SCALE = 2**64


def uniform(seed: bytes, serial: int) -> int:
    """An integer in [0, 2**64), uniform and unpredictable without the seed."""
    h = hmac.HMAC(seed, hashes.SHA256())
    h.update(b"draw" + serial.to_bytes(8, "big"))
    return int.from_bytes(h.finalize()[:8], "big")


@lru_cache(maxsize=1024)
def thresholds(probabilities: tuple[float, ...]) -> tuple[int, ...]:
    """Cumulative tier bounds as integers on the 2**64 scale, computed exactly once per tier table."""
    bounds, total = [], Fraction(0)
    for p in probabilities:
        total += Fraction(p).limit_denominator(10**9)
        bounds.append(math.ceil(total * SCALE))
    return tuple(bounds)


def pick_tier(u: int, probabilities) -> int | None:
    """Index of the tier the draw lands in: the first whose cumulative bound exceeds u."""
    for index, bound in enumerate(thresholds(tuple(probabilities))):
        if u < bound:
            return index
    return None


def draw(seed: bytes, serial: int, probabilities: list[float]) -> int | None:
    return pick_tier(uniform(seed, serial), probabilities)


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()
