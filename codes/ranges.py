"""Interval arithmetic on inclusive serial ranges (pure)."""

from __future__ import annotations

Interval = tuple[int, int]


def merge(intervals: list[Interval]) -> list[Interval]:
    out: list[list[int]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def size(intervals: list[Interval]) -> int:
    return sum(hi - lo + 1 for lo, hi in merge(intervals))


def clip(intervals: list[Interval], lo: int, hi: int) -> list[Interval]:
    return [(max(a, lo), min(b, hi)) for a, b in merge(intervals) if b >= lo and a <= hi]


def subtract(intervals: list[Interval], removed: list[Interval]) -> list[Interval]:
    result = merge(intervals)
    for rlo, rhi in merge(removed):
        nxt = []
        for lo, hi in result:
            if rhi < lo or rlo > hi:
                nxt.append((lo, hi))
                continue
            if lo < rlo:
                nxt.append((lo, rlo - 1))
            if hi > rhi:
                nxt.append((rhi + 1, hi))
        result = nxt
    return result
