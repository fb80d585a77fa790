"""Device keys: the JWK forms the SDKs send, and the sizes we refuse."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mfa.errors import InvalidBody, InvalidToken
from mfa.factors import device_keys
from mfa.testing_phone import Phone

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_of(key: rsa.RSAPrivateKey, pad: int) -> dict[str, str]:
    n = key.public_key().public_numbers().n
    return {"kty": "RSA", "n": b64(b"\x00" * pad + n.to_bytes(256, "big")), "e": "AQAB"}


@pytest.mark.parametrize("pad", [0, 1])
def test_modulus_with_or_without_a_leading_zero(pad: int) -> None:
    key = device_keys.public_key(jwk_of(KEY, pad))
    assert key.public_numbers() == KEY.public_key().public_numbers()


def test_short_and_malformed_keys_are_refused() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    n = short.public_numbers().n
    with pytest.raises(InvalidBody, match="2048"):
        device_keys.public_key({"kty": "RSA", "n": b64(n.to_bytes(128, "big")), "e": "AQAB"})
    for bad in (
        {"kty": "EC", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "n": "***", "e": "AQAB"},
        {"kty": "RSA", "e": "AQAB"},
        {**jwk_of(KEY, 1), "e": "Ag"},  # even exponent
        {**jwk_of(KEY, 1), "alg": "RS512"},
    ):
        with pytest.raises(InvalidBody):
            device_keys.public_key(bad)


def test_verify_checks_every_claim() -> None:
    phone = Phone("http://h", key=KEY, clock=lambda: 1000.0)
    payload = {"c": "chal", "txtkn": "t", "sh": "http://h"}
    aud = ("http://h/appliance-mfa/api/resolve-transaction",)
    jwk = phone.public_jwk()
    token = phone.answer(payload, accept=True)
    kw = {"issuer": phone.identifier, "audiences": aud, "max_lifetime": 300.0}
    claims = device_keys.verify(token, jwk, now=1000.0, subject="chal", **kw)  # type: ignore[arg-type]
    assert claims["auth0_guardian_accepted"] is True
    for now, subject in ((1031.0, "chal"), (1000.0, "other")):
        with pytest.raises(InvalidToken):
            device_keys.verify(token, jwk, now=now, subject=subject, **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        device_keys.verify(token, jwk, now=1000.0, subject="chal", **{**kw, "issuer": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        device_keys.verify(token[:-4] + "AAAA", jwk, now=1000.0, subject="chal", **kw)  # type: ignore[arg-type]
