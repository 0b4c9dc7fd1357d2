from hypothesis import given
from hypothesis import strategies as st

from codes import ranges

interval = st.tuples(st.integers(0, 60), st.integers(0, 20)).map(lambda t: (t[0], t[0] + t[1]))


def as_set(intervals):
    return {s for lo, hi in intervals for s in range(lo, hi + 1)}


@given(st.lists(interval, max_size=8), st.lists(interval, max_size=8))
def test_range_arithmetic_agrees_with_sets(kept, removed):
    assert as_set(ranges.merge(kept)) == as_set(kept)
    assert ranges.size(kept) == len(as_set(kept))
    assert as_set(ranges.subtract(kept, removed)) == as_set(kept) - as_set(removed)
    assert as_set(ranges.clip(kept, 10, 40)) == {s for s in as_set(kept) if 10 <= s <= 40}
