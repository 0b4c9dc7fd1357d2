import pytest
from hypothesis import given
from hypothesis import strategies as st

from storefront.splits import Rule, largest_remainder, percent_to_bp, split_order

rules = st.tuples(*[st.integers(0, 4000)] * 4).filter(lambda t: sum(t) <= 10_000).map(lambda t: Rule(*t))


@given(
    st.integers(0, 10**9),
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 10_000), min_size=1).filter(
        lambda w: sum(w.values()) > 0
    ),
)
def test_largest_remainder_sums_exactly_and_is_within_one_fen_of_exact(total, weights):
    shares = largest_remainder(total, weights)
    assert sum(shares.values()) == total
    weight_sum = sum(weights.values())
    for name, share in shares.items():
        exact = total * weights[name] / weight_sum
        assert exact - 1 < share < exact + 1


@given(
    st.integers(0, 10**8),
    st.lists(st.tuples(st.integers(0, 10**6), rules), min_size=1, max_size=6),
    st.booleans(),
    st.booleans(),
)
def test_an_order_split_always_sums_to_what_was_paid(amount, lines, has_ref, has_ref2):
    totals = split_order(amount, lines, has_ref, has_ref2 and has_ref)
    assert sum(totals.values()) == amount
    assert all(v >= 0 for v in totals.values())
    if not has_ref:
        assert totals["referrer"] == totals["referrer2"] == 0


def test_a_simple_split_matches_hand_arithmetic():
    totals = split_order(10_001, [(10_001, Rule(1000, 500, 300, 100))], True, True)
    assert totals == {"store": 1000, "platform": 500, "referrer": 300, "referrer2": 100, "brand": 8101}


def test_rates_over_one_hundred_percent_are_refused():
    with pytest.raises(ValueError):
        Rule(6000, 3000, 1000, 1)


@pytest.mark.parametrize("value,bp", [(7.5, 750), (10, 1000), (0.01, 1), (0, 0)])
def test_percentages_become_basis_points(value, bp):
    assert percent_to_bp(value) == bp


def test_percentages_with_three_decimals_are_refused():
    with pytest.raises(ValueError):
        percent_to_bp(1.234)
