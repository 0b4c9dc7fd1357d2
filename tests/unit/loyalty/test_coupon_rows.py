"""A new coupon's row, as the scan path inserts it (a multi-row INSERT of coupon_row dicts)."""

from types import SimpleNamespace

from loyalty.coupons import CODE_ALPHABET, coupon_row, new_coupon_code
from loyalty.models import Coupon


def test_a_coupon_row_names_every_column_so_no_database_default_is_left_to_chance():
    """On PostgreSQL the rows go in through json_to_recordset over every column of the table: a
    column that coupon_row left out would be NULL there, not its default. Adding a column to Coupon
    means deciding its value here."""
    row = coupon_row(
        consumer_id="cs_1",
        campaign=SimpleNamespace(id="ca_1", brand_id="br_1"),
        serial=7,
        tier=0,
        kind="brand_coupon",
        value_fen=500,
        budget_fen=500,
        min_spend_fen=0,
        valid_days=30,
        store_id=None,
        product_id=None,
    )
    assert set(row) == {column.name for column in Coupon.__table__.columns}
    assert row["status"] == "issued" and row["reimbursed_fen"] == 0 and row["expires_at"] > row["issued_at"]


def test_coupon_codes_are_twelve_characters_of_the_alphabet_and_all_of_it_is_used():
    codes = [new_coupon_code() for _ in range(2000)]
    assert all(len(code) == 12 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert set("".join(codes)) == set(CODE_ALPHABET)
    assert len(set(codes)) == len(codes)
