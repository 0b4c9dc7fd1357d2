import base64
import os
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codes import tokens

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))
ALPHABET = string.ascii_letters + string.digits + "-_"


def test_short_token_is_24_url_safe_characters_and_round_trips():
    token = tokens.short_token(SECRET, 7, 123456789)
    assert len(token) == 24 and set(token) <= set(ALPHABET)
    parsed = tokens.parse(token)
    assert (parsed.form, parsed.key_id, parsed.serial) == ("short", 7, 123456789)
    assert tokens.mac_ok(SECRET, parsed)


def test_token_signed_with_another_key_does_not_verify():
    assert not tokens.mac_ok(OTHER, tokens.parse(tokens.short_token(SECRET, 7, 1)))


OURS = tokens.origins_for("https://qr.example.com")


def test_urls_and_bare_tokens_parse_the_same():
    token = tokens.short_token(SECRET, 3, 42)
    for form in (token, f"https://qr.example.com/c/{token}", f"http://QR.example.com/c/{token}", f" {token}\r\n"):
        assert tokens.parse(form, OURS).serial == 42


@pytest.mark.parametrize(
    "form",
    [
        "https://evil.example/c/{t}",
        "https://qr.example.com.evil.example/c/{t}",
        "https://qr.example.com@evil.example/c/{t}",
        "https://qr.example.com:8443/c/{t}",
        "https://id.gs1.org/c/{t}",  # the GS1 resolver serves GS1 paths only
        "evil.example/c/{t}",
        "//evil.example/c/{t}",
        "https://qr.example.com/c/{t}/",
        "https://qr.example.com/x/{t}",
        "https://qr.example.com/c/{t}?x=1",
        "https://qr.example.com/c/%41{t}",
        "\u3000{t}",
        "{t}\n\u00a0",
    ],
)
def test_a_short_code_in_any_but_its_one_form_on_our_host_is_malformed(form):
    token = tokens.short_token(SECRET, 3, 42)
    with pytest.raises(tokens.Malformed):
        tokens.parse(form.format(t=token), OURS)


def test_without_origins_any_host_names_the_same_code_for_grouping_only():
    token = tokens.short_token(SECRET, 3, 42)
    assert tokens.parse(f"https://evil.example/c/{token}").serial == 42


def _gs1(serial=1001, base="https://qr.example.com"):
    return tokens.gs1_uri(base, SECRET, 5, "09506000134352", "L2026A", serial)


def test_gs1_uris_on_our_host_or_the_gs1_resolver_parse():
    assert tokens.parse(_gs1(), OURS).serial == 1001
    assert tokens.parse(_gs1(base="https://id.gs1.org"), OURS).serial == 1001
    with pytest.raises(tokens.Malformed):
        tokens.parse(_gs1(base="https://evil.example"), OURS)


@pytest.mark.parametrize(
    "change",
    [
        ("/21/1001?", "/21/1\uff10\uff101?"),  # full-width zeros
        ("/21/1001?", "/21/\u0661\u0660\u0660\u0661?"),  # Arabic-Indic 1001
        ("/21/1001?", "/21/\u06601001?"),  # a leading Arabic-Indic zero
        ("/21/1001?", "/21/01001?"),  # a leading ASCII zero
        ("/21/1001?", "/21/1_001?"),  # int() takes underscores
        ("/21/1001?", "/21/ 1001?"),
        ("/21/1001?", "/21/%31001?"),  # percent-encoded
        ("/01/09506000134352/", "/01/\uff10\uff19506000134352/"),  # full-width GTIN digits
        ("/01/09506000134352/", "/01/\u0660\u06699506000134352/"),
        ("?s=", "/?s="),
        ("?s=", "?x=1&s="),
    ],
)
def test_a_gs1_uri_with_non_ascii_or_non_canonical_digits_is_malformed(change):
    mutated = _gs1().replace(*change)
    assert mutated != _gs1()
    with pytest.raises(tokens.Malformed):
        tokens.parse(mutated, OURS)


@pytest.mark.parametrize(
    "gtin",
    [
        "\uff19\uff15\uff10\uff16\uff10\uff10\uff10\uff11\uff13\uff14\uff13\uff15\uff12",
        "\u0669506000134352",
        "9506000134352\n",
    ],
)
def test_a_gtin_written_with_other_digits_is_refused(gtin):
    with pytest.raises(ValueError):
        tokens.normalize_gtin(gtin)
    assert not tokens.gtin_check_ok(gtin)


@settings(max_examples=400)
@given(
    key_id=st.integers(1, tokens.MAX_KEY_ID),
    serial=st.integers(0, tokens.MAX_SERIAL),
    position=st.integers(0, 23),
    replacement=st.sampled_from(ALPHABET),
)
def test_any_single_character_change_of_a_valid_token_is_detected(key_id, serial, position, replacement):
    token = tokens.short_token(SECRET, key_id, serial)
    if token[position] == replacement:
        return
    mutated = token[:position] + replacement + token[position + 1 :]
    try:
        parsed = tokens.parse(mutated)
    except tokens.Malformed:
        return
    assert not tokens.mac_ok(SECRET, parsed)


@settings(max_examples=400)
@given(st.text(alphabet=ALPHABET, min_size=24, max_size=24))
def test_random_tokens_never_verify(candidate):
    try:
        parsed = tokens.parse(candidate)
    except tokens.Malformed:
        return
    assert not tokens.mac_ok(SECRET, parsed)


@settings(max_examples=200)
@given(st.text(max_size=80))
def test_arbitrary_strings_either_fail_to_parse_or_fail_the_mac(candidate):
    try:
        parsed = tokens.parse(candidate)
    except tokens.Malformed:
        return
    assert not tokens.mac_ok(SECRET, parsed)


def test_gs1_uri_carries_gtin_lot_serial_and_a_72_bit_mac():
    uri = tokens.gs1_uri("https://qr.example.com", SECRET, 5, "09506000134352", "L2026A", 1001)
    assert uri.startswith("https://qr.example.com/01/09506000134352/10/L2026A/21/1001?s=")
    parsed = tokens.parse(uri)
    assert (parsed.form, parsed.key_id, parsed.serial, parsed.gtin, parsed.lot) == (
        "gs1",
        5,
        1001,
        "09506000134352",
        "L2026A",
    )
    assert len(parsed.mac) == 9 and tokens.mac_ok(SECRET, parsed)


@pytest.mark.parametrize(
    "change",
    [
        ("/10/L2026A/", "/10/L2026B/"),  # another lot
        ("/21/1001?", "/21/1002?"),  # another serial
        ("09506000134352", "09506000134369"),  # another valid GTIN
    ],
)
def test_gs1_uri_with_any_field_changed_does_not_verify(change):
    uri = tokens.gs1_uri("https://qr.example.com", SECRET, 5, "09506000134352", "L2026A", 1001)
    mutated = uri.replace(*change)
    try:
        assert not tokens.mac_ok(SECRET, tokens.parse(mutated))
    except tokens.Malformed:
        pass


@settings(max_examples=200)
@given(position=st.integers(0, 15), replacement=st.sampled_from(ALPHABET))
def test_gs1_signature_single_character_change_is_detected(position, replacement):
    uri = tokens.gs1_uri("https://qr.example.com", SECRET, 5, "09506000134352", "L2026A", 77)
    head, sig = uri.split("?s=")
    if sig[position] == replacement:
        return
    mutated = f"{head}?s={sig[:position]}{replacement}{sig[position + 1 :]}"
    try:
        parsed = tokens.parse(mutated)
    except tokens.Malformed:
        return
    assert not tokens.mac_ok(SECRET, parsed)


@pytest.mark.parametrize(
    "gtin,ok",
    [
        ("9506000134352", True),
        ("9506000134353", False),
        ("96385074", True),
        ("036000291452", True),
        ("00012345600012", True),
        ("12345", False),
        ("abc", False),
    ],
)
def test_gtin_check_digit_validation(gtin, ok):
    if ok:
        assert len(tokens.normalize_gtin(gtin)) == 14
    else:
        with pytest.raises(ValueError):
            tokens.normalize_gtin(gtin)


def test_csv_chunk_rows_match_single_token_signing():
    chunk = tokens.csv_chunk(SECRET, 9, "https://q.example", 100, 140).decode().splitlines()
    assert len(chunk) == 41
    for line in chunk:
        serial, token, url = line.split(",")
        assert token == tokens.short_token(SECRET, 9, int(serial)) and url == f"https://q.example/c/{token}"


def test_csv_chunk_gs1_rows_match_single_uri_signing():
    chunk = tokens.csv_chunk(SECRET, 9, "https://q.example", 5, 9, gs1=("09506000134352", "LOT1")).decode().splitlines()
    for line in chunk:
        serial, token, url = line.split(",", 2)
        assert url == tokens.gs1_uri("https://q.example", SECRET, 9, "09506000134352", "LOT1", int(serial))
        assert token == url  # a GS1 code has no short token: the column holds what trace and qr take


def test_tokens_do_not_reveal_the_mac_key_length_padding():
    # 18 bytes encode to exactly 24 characters: no '=' padding, no unused bits to alter silently.
    raw = base64.urlsafe_b64decode(tokens.short_token(os.urandom(32), 1, 1))
    assert len(raw) == 18
