"""Device keys: the phone's RS256 public JWK, and the JWTs the phone signs with it.

A Guardian phone enrolls an RSA public key (guardian-wire §3.1) and later signs
two kinds of JWT with the private half: the answer to a push challenge (§3.2)
and its own credential for device-account calls (§3.3). Both are checked here,
once: signature, issuer, audience, subject and expiry against our clock. Any
failure is ``invalid_token`` — a forged answer learns nothing more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Collection
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers

from mfa.errors import InvalidBody, InvalidToken

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 8192  # bounds the cost of a verification an attacker can make us do


def _unb64url(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def public_key(jwk: dict[str, Any]) -> RSAPublicKey:
    """The RSA key of an enrolled JWK, or ``invalid_body`` saying what is wrong.

    ``n`` is read as a big-endian unsigned integer, so the leading zero byte that
    Android (``BigInteger.toByteArray``) and iOS (ASN.1 INTEGER) put in front of a
    modulus with its top bit set is harmless. Keys under 2048 bits are refused.
    """
    if jwk.get("kty") != "RSA":
        raise InvalidBody("public_key must be an RSA JWK (kty RSA).")
    if jwk.get("alg", "RS256") != "RS256":
        raise InvalidBody("public_key must be for RS256.")
    try:
        n = int.from_bytes(_unb64url(str(jwk["n"])), "big")
        e = int.from_bytes(_unb64url(str(jwk["e"])), "big")
    except (KeyError, ValueError, binascii.Error):
        raise InvalidBody("public_key needs base64url n and e.") from None
    bits = n.bit_length()
    if bits < MIN_RSA_BITS or bits > MAX_RSA_BITS:
        raise InvalidBody(f"public_key must be {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {bits}.")
    if e < 3 or e % 2 == 0 or e.bit_length() > 64:
        raise InvalidBody("public_key has an invalid exponent.")
    try:
        return RSAPublicNumbers(e, n).public_key()
    except ValueError:
        raise InvalidBody("public_key is not a valid RSA key.") from None


def stored_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """The JWK as we keep it: only the fields that define the key."""
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "n": jwk["n"], "e": jwk["e"]}


def verify(
    token: str,
    jwk: dict[str, Any],
    *,
    issuer: str,
    audiences: Collection[str],
    now: float,
    max_lifetime: float,
    subject: str | None = None,
) -> dict[str, Any]:
    """The claims of a device-signed RS256 JWT, or ``invalid_token``.

    ``exp`` must lie in ``(now, now + max_lifetime]``: a token that never expires
    (or not for days) would be a password stolen once and replayed forever.
    """
    try:
        key = public_key(jwk)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            # Time is ours to judge (the injected clock); audience too, since it may
            # come with or without /appliance-mfa.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except (jwt.PyJWTError, InvalidBody):
        raise InvalidToken("The device signature does not verify.") from None
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise InvalidToken("The device token has no expiry.")
    if not now < exp <= now + max_lifetime:
        raise InvalidToken("The device token is expired or lives too long.")
    if claims.get("iss") != issuer:
        raise InvalidToken("The device token was issued by another device.")
    if claims.get("aud") not in audiences:
        raise InvalidToken("The device token is for another endpoint.")
    if subject is not None and not hmac.compare_digest(str(claims.get("sub")), subject):
        raise InvalidToken("The device token answers another challenge.")
    return claims


# ----------------------------------------------------------------- device tokens


def new_device_token() -> str:
    """The opaque credential a phone gets at enrollment (legacy device-account auth)."""
    return secrets.token_urlsafe(32)


def device_token_hash(token: str) -> bytes:
    # 256 random bits: a plain hash suffices, no KDF.
    return hashlib.sha256(token.encode()).digest()


def device_token_matches(token: str, stored: bytes | None) -> bool:
    return stored is not None and hmac.compare_digest(device_token_hash(token), stored)
