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

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from mfa.errors import InvalidBearerFormat, InvalidToken, TransactionExpired
from mfa.keys import SigningKeys

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
        if kind == "sig":
            return jwt.encode(payload, key.private, algorithm="ES256", headers={"kid": key.kid})
        return jwt.encode(payload, key.hmac_secret, algorithm="HS256", headers={"kid": key.kid})

    def decode(self, token: str, kind: TokenKind) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The token is not a well-formed JWT.") from None
        key = self.keys.by_kid.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("The token was signed with an unknown key.")
        alg = "ES256" if kind == "sig" else "HS256"
        verify_key: Any = key.private.public_key() if kind == "sig" else key.hmac_secret
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                verify_key,
                algorithms=[alg],
                issuer=self.issuer,
                # exp is checked below against our clock; iat/nbf are not ours to judge.
                options={
                    "require": ["exp", "iat", "mfa_t"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            raise InvalidToken() from None
        if claims.get("mfa_t") != kind:
            raise InvalidToken("The token is of the wrong kind for this call.")
        exp = claims["exp"]
        if not isinstance(exp, int | float):
            raise InvalidToken()
        # Expiry is checked after the signature, so a forged token never learns
        # more than invalid_token, and with our clock, so tests need no patching.
        if exp <= self.clock():
            raise TransactionExpired()
        return claims
