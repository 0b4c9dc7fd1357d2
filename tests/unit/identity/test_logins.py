"""The login proof's check, a pure function of the secret, the proof and the clock."""

import pytest

from identity.logins import FUTURE_SKEW_SECONDS, MAX_AGE_SECONDS, ProofRefused, check_proof, proof_signature

NOW = 1_800_000_000
SECRET = "miniapp-secret"


def test_a_fresh_proof_gives_its_signature_in_lowercase():
    signature = proof_signature(SECRET, "wx1", NOW)
    assert check_proof(SECRET, "wx1", NOW, signature.upper(), NOW) == signature


@pytest.mark.parametrize(
    "ts,accepted",
    [
        (NOW - MAX_AGE_SECONDS, True),
        (NOW - MAX_AGE_SECONDS - 1, False),
        (NOW + FUTURE_SKEW_SECONDS, True),
        (NOW + FUTURE_SKEW_SECONDS + 1, False),
    ],
)
def test_the_window_is_max_age_behind_and_the_skew_ahead(ts, accepted):
    signature = proof_signature(SECRET, "wx1", ts)
    if accepted:
        assert check_proof(SECRET, "wx1", ts, signature, NOW)
    else:
        with pytest.raises(ProofRefused):
            check_proof(SECRET, "wx1", ts, signature, NOW)


@pytest.mark.parametrize("signature", ["é" * 64, "\ud800" * 64, "", "0" * 64, "用户"])
def test_any_text_as_a_signature_is_a_refusal_never_a_type_error(signature):
    with pytest.raises(ProofRefused):
        check_proof(SECRET, "wx1", NOW, signature, NOW)


def test_the_signature_covers_the_openid_and_the_time():
    signature = proof_signature(SECRET, "wx1", NOW)
    for openid, ts in (("wx2", NOW), ("wx1", NOW - 1), ("wx1.", NOW)):
        with pytest.raises(ProofRefused):
            check_proof(SECRET, openid, ts, signature, NOW)
