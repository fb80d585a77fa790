"""Factor primitives: TOTP against RFC 6238's vectors, recovery codes, phone numbers."""

from __future__ import annotations

import base64
import math

import pytest

from mfa.errors import InvalidPhoneNumber
from mfa.factors import phone, recovery, totp

# RFC 6238 Appendix B, SHA-1: the seed is ASCII "12345678901234567890"; the RFC
# prints 8 digits, we use the last 6 (the same truncation, mod 10^6).
RFC_SEED = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("t", "code8"), RFC_VECTORS)
def test_rfc6238_vectors(t: int, code8: str) -> None:
    assert totp.code_at(RFC_SEED, t) == code8[-6:]
    assert totp.matching_step(RFC_SEED, code8[-6:], t, window=0) == t // 30


def test_window_and_step() -> None:
    now = 1_700_000_000
    secret = totp.new_secret()
    for offset in (-1, 0, 1):
        code = totp.code_at(secret, now + 30 * offset)
        assert totp.matching_step(secret, code, now, window=1) == now // 30 + offset
    assert totp.matching_step(secret, totp.code_at(secret, now + 60), now, window=1) is None


def test_secret_is_160_bits_base32() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    assert secret == secret.upper() and "=" not in secret


def test_provisioning_uri_and_qr() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "bob@example.com", "Acme Inc")
    assert uri.startswith("otpauth://totp/Acme%20Inc:bob%40example.com?secret=JBSWY3DPEHPK3PXP")
    assert "issuer=Acme+Inc" in uri and "period=30" in uri and "digits=6" in uri
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")


def test_recovery_codes() -> None:
    codes = {recovery.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(recovery.well_formed(c) for c in codes)
    assert math.log2(len(recovery.ALPHABET)) * recovery.LENGTH >= 112
    hasher = recovery.RecoveryHasher("cheapest")
    digest = hasher.hash("A" * 24)
    assert digest.startswith("$argon2id$")
    assert hasher.verify(digest, "A" * 24)
    assert not hasher.verify(digest, "B" * 24)
    assert not hasher.verify("not a hash", "A" * 24)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("+447911123456", "+447911123456"), (" +1 415 555 2671 ", "+14155552671")],
)
def test_phone_normalize(raw: str, e164: str) -> None:
    assert phone.normalize(raw) == e164


@pytest.mark.parametrize("raw", ["07911123456", "+44", "+442079460000", "+999123", "abc"])
def test_phone_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        phone.normalize(raw)


def test_phone_mask() -> None:
    assert phone.mask("+447911123456") == "XXXXXXXXXX56"


def test_matching_step_agrees_with_pyotp() -> None:
    # matching_step computes codes itself; pyotp is the reference, on seeds of every
    # length mod 8 (padding) and in lower case, at steps on either side of each check.
    import random

    import pyotp

    rng = random.Random(6238)
    for n in range(200):
        secret = base64.b32encode(rng.randbytes(14 + n % 11)).decode().rstrip("=")
        if n % 3 == 0:
            secret = secret.lower()
        now = rng.randrange(0, 2**33)
        for offset in (-2, -1, 0, 1, 2):
            code = pyotp.TOTP(secret).at(now + 30 * offset)
            expected = now // 30 + offset if abs(offset) <= 1 else None
            if expected is None and pyotp.TOTP(secret).verify(code, for_time=now, valid_window=1):
                continue  # a 6-digit collision with a step inside the window
            assert totp.matching_step(secret, code, now, window=1) == expected
