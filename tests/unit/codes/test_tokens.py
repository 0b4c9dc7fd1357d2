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


def test_urls_and_bare_tokens_parse_the_same():
    token = tokens.short_token(SECRET, 3, 42)
    for form in (token, f"https://qr.example.com/c/{token}", f"https://qr.example.com/c/{token}/", f" {token} "):
        assert tokens.parse(form).serial == 42


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
        serial, sig, url = line.split(",", 2)
        assert url == tokens.gs1_uri("https://q.example", SECRET, 9, "09506000134352", "LOT1", int(serial))
        assert url.endswith(f"?s={sig}")


def test_tokens_do_not_reveal_the_mac_key_length_padding():
    # 18 bytes encode to exactly 24 characters: no '=' padding, no unused bits to alter silently.
    raw = base64.urlsafe_b64decode(tokens.short_token(os.urandom(32), 1, 1))
    assert len(raw) == 18
