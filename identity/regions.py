"""Administrative region codes (GB/T 2260, six digits) and distances.

A code ending in 0000 names a province, one ending in 00 a city; an assigned region covers
every code beneath it, so a batch for "310000" (Shanghai) may be sold in "310115" (Pudong).
"""

from __future__ import annotations

import math
import re

REGION_RE = re.compile(r"[1-9][0-9]{5}")  # ASCII digits only: \d would take "3１０１１５"


def is_region_code(value: str) -> bool:
    """Six ASCII digits, the first not 0, and nothing else (fullmatch: no trailing newline)."""
    return isinstance(value, str) and REGION_RE.fullmatch(value) is not None


def covers(assigned: str, actual: str) -> bool:
    if assigned == actual:
        return True
    if assigned.endswith("0000"):
        return actual[:2] == assigned[:2]
    if assigned.endswith("00"):
        return actual[:4] == assigned[:4]
    return False


def covered_by_any(assigned: list[str] | None, actual: str | None) -> bool:
    """No assignment means 'anywhere'; an unknown actual region cannot be judged outside."""
    if not assigned or not actual:
        return True
    return any(covers(a, actual) for a in assigned)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(min(1.0, a)))
