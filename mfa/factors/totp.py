"""TOTP per RFC 6238 (SHA-1, 6 digits, 30 s) on pyotp, with the time step exposed.

pyotp answers "valid or not"; replay protection needs to know *which* time step
matched, so :func:`matching_step` returns it and the ephemeral store keeps the last
accepted step per enrollment (accepting only greater ones, atomically).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import quote, urlencode

import pyotp
import segno

DIGITS = 6
PERIOD = 30
_MODULUS = 10**DIGITS


def new_secret() -> str:
    """A 160-bit seed (RFC 4226's recommended length), base32 without padding."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def matching_step(secret: str, code: str, now: float, window: int = 1) -> int | None:
    """The time step (``floor(now / 30) + offset``) whose code equals ``code``, within
    ``±window`` steps, or None. Compares in constant time; checks every step so the
    timing does not tell which one matched.

    The seed is decoded and keyed into HMAC-SHA1 once, and each step's code is
    computed from a copy of that (RFC 4226 §5.3): pyotp decodes the base32 seed
    again for every step, and a one-shot HMAC looks up its algorithm in OpenSSL on
    every call; together a tenth of the TOTP check on the verify-otp hot path.
    ``code_at`` stays on pyotp, so the tests compare the two implementations.
    """
    keyed = hmac.new(_seed_bytes(secret), digestmod=hashlib.sha1)
    given = code.encode()
    step = int(now) // PERIOD
    found: int | None = None
    for offset in range(-window, window + 1):
        candidate = _hotp(keyed, step + offset)
        if hmac.compare_digest(candidate, given) and found is None:
            found = step + offset
    return found


def _seed_bytes(secret: str) -> bytes:
    """pyotp's decoding (OTP.byte_secret): padding added, any case accepted.

    The seeds mfa makes (32 characters, 160 bits) take a short way: read as one
    base-32 number after mapping RFC 4648's alphabet onto the digits ``int`` knows,
    where :func:`base64.b32decode` walks the text in Python.
    """
    upper = secret.upper()
    if len(upper) % 8 == 0 and _BASE32.fullmatch(upper):
        return int(upper.translate(_TO_INT_DIGITS), 32).to_bytes(len(upper) * 5 // 8, "big")
    return base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)


_BASE32 = re.compile(r"[A-Z2-7]+")
_TO_INT_DIGITS = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv"
)


def _hotp(keyed: hmac.HMAC, counter: int) -> bytes:
    """The ``DIGITS``-digit HOTP value of ``counter``, as ASCII bytes (``keyed``: the
    seed's HMAC-SHA1, not yet fed)."""
    mac_of = keyed.copy()
    mac_of.update(counter.to_bytes(8, "big"))
    mac = mac_of.digest()
    offset = mac[-1] & 0x0F
    value = (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % _MODULUS
    return b"%0*d" % (DIGITS, value)


def code_at(secret: str, now: float) -> str:
    return str(pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).at(int(now)))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """``otpauth://totp/issuer:account?secret=…&issuer=…`` as authenticator apps read it."""
    label = quote(issuer, safe="") + ":" + quote(account, safe="")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def qr_svg(uri: str) -> str:
    """The provisioning URI as an SVG QR code (no raster library needed)."""
    qr = segno.make(uri, error="m")
    return str(qr.svg_inline(scale=4))
