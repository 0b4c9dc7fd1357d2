"""The store page's statement labels: one for every kind the ledger writes, none for kinds nothing writes."""

from storefront.ledger.models import LedgerKind
from storefront.ledger.pages import KIND_LABELS, yuan


def test_every_ledger_kind_has_a_statement_label_and_no_label_names_an_unwritten_kind():
    assert set(KIND_LABELS) == set(LedgerKind)
    assert all(label and label[0].isupper() for label in KIND_LABELS.values())


def test_yuan_shows_fen_as_yuan_with_a_sign_when_asked():
    assert (yuan(0), yuan(123456), yuan(-5), yuan(5, signed=True)) == ("¥0.00", "¥1,234.56", "−¥0.05", "+¥0.05")
