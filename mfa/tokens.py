"""The token codec: Authorization headers in, JWTs in and out.

Three kinds of JWT, told apart by the ``mfa_t`` claim so one can never stand in for
another:

=============  =====  ==========================================================
kind           alg    what
=============  =====  ==========================================================
``request``    HS256  issued by the backend API; opens one start-flow
``tx``         HS256  the transaction token browsers send after start-flow
``sig``        ES256  the result signature a host verifies against the JWKS
=============  =====  ==========================================================

Every failure maps to a contract error here, once: a passed ``exp`` is
``transaction_expired``; anything else wrong is ``invalid_token``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)

from mfa.errors import InvalidBearerFormat, InvalidToken, TransactionExpired
from mfa.keys import SigningKey, SigningKeys

TokenKind = Literal["request", "tx", "sig"]
Clock = Callable[[], float]

_TICKET = re.compile(r'^Ticket\s+id="([^"]{1,512})"$')
_BEARER = re.compile(r"^Bearer\s+(\S{1,8192})$")


@dataclass(frozen=True, slots=True)
class Credential:
    kind: Literal["bearer", "ticket"]
    value: str


def parse_authorization(header: str | None) -> Credential:
    """``Bearer <x>`` or ``Ticket id="<x>"``; anything else is ``invalid_bearer_format``."""
    if not header:
        raise InvalidBearerFormat("The Authorization header is missing.")
    header = header.strip()
    m = _BEARER.match(header)
    if m:
        return Credential("bearer", m.group(1))
    m = _TICKET.match(header)
    if m:
        return Credential("ticket", m.group(1))
    raise InvalidBearerFormat()


class TokenCodec:
    """Issues and checks the three kinds of JWT.

    JWS compact serialization is done here directly (a few lines over
    ``cryptography`` and :mod:`hmac`): every verify-otp decodes a transaction token
    and every success signs a result, and going through PyJWT's generic machinery
    costs several times more. What is produced is plain RFC 7515/7518 — hosts and
    the tests verify it with PyJWT. Decoding verifies the signature over the raw
    segments before it parses any JSON.
    """

    def __init__(self, keys: SigningKeys, clock: Clock = time.time, issuer: str = "mfa") -> None:
        self.keys = keys
        self.clock = clock
        self.issuer = issuer

    def issue(self, kind: TokenKind, claims: dict[str, Any], ttl_seconds: int) -> str:
        now = int(self.clock())
        payload = {
            **claims,
            "mfa_t": kind,
            "iss": self.issuer,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        key = self.keys.newest
        # Header segments are made once per key (mfa.keys): a result signature is
        # signed on every accepted login, so the per-call work is the payload only.
        header = key.es256_header if kind == "sig" else key.hs256_header
        signing_input = f"{header}.{_b64_json(payload)}".encode("ascii")
        signature = key.sign_es256(signing_input) if kind == "sig" else key.hs256(signing_input)
        return f"{signing_input.decode('ascii')}.{_b64(signature)}"

    def decode(self, token: str, kind: TokenKind) -> dict[str, Any]:
        claims = self._decode_sig(token) if kind == "sig" else self._decode_hs256(token)
        if claims.get("mfa_t") != kind:
            raise InvalidToken("The token is of the wrong kind for this call.")
        if claims.get("iss") != self.issuer or "iat" not in claims:
            raise InvalidToken()
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            raise InvalidToken()
        # Expiry is checked after the signature, so a forged token never learns
        # more than invalid_token, and with our clock, so tests need no patching.
        if exp <= self.clock():
            raise TransactionExpired()
        return claims

    def _decode_hs256(self, token: str) -> dict[str, Any]:
        signing_input, signature = _split(token)
        # The signature is checked over the raw segments before any JSON is parsed:
        # whoever cannot sign cannot make us parse anything (a header nested a
        # thousand deep once raised RecursionError). With a handful of keys, trying
        # each costs less than trusting an unverified "kid".
        for key in self.keys.keys:
            expected = key.hs256(signing_input)
            if hmac.compare_digest(expected, signature):
                return _verified_claims(signing_input, key, "HS256")
        raise InvalidToken()

    def _decode_sig(self, token: str) -> dict[str, Any]:
        signing_input, signature = _split(token)
        if len(signature) != 64:
            raise InvalidToken()
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        der = encode_dss_signature(r, s)
        for key in self.keys.keys:
            try:
                key.private.public_key().verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            return _verified_claims(signing_input, key, "ES256")
        raise InvalidToken()


# A JWT larger than this is no token of ours (the Authorization header allows 8 KiB).
MAX_TOKEN_CHARS = 8192


def _split(token: str) -> tuple[bytes, bytes]:
    """The signing input and the decoded signature of a compact JWS; nothing parsed."""
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise InvalidToken("The token is not a well-formed JWT.")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("The token is not a well-formed JWT.")
    try:
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error):
        raise InvalidToken("The token is not a well-formed JWT.") from None
    return f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _verified_claims(signing_input: bytes, key: SigningKey, alg: str) -> dict[str, Any]:
    """Header and claims of a token whose signature has been verified with ``key``.

    The header segment this codec writes for that key and ``alg`` (the usual case)
    is known good without parsing it.
    """
    ours = key.es256_header if alg == "ES256" else key.hs256_header
    head_b64, body_b64 = signing_input.decode("ascii").split(".")
    try:
        header = None if head_b64 == ours else json.loads(_unb64(head_b64))
        claims = json.loads(_unb64(body_b64))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        # Only we sign, so this is a key leak or a bug; still a refusal, never a 500.
        raise InvalidToken("The token is not a well-formed JWT.") from None
    if header is not None and (
        not isinstance(header, dict) or header.get("alg") != alg or header.get("kid") != key.kid
    ):
        raise InvalidToken()
    if not isinstance(claims, dict):
        raise InvalidToken()
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_json(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def _unb64(text: str) -> bytes:
    # Strict: characters outside the base64url alphabet are an error, not skipped.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
