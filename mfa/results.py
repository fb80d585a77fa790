"""Result signatures as a host reads them: one set of claim checks for every verifier.

The service (:meth:`mfa.MFAService.verify_result`, holding the private key) and the
client (:func:`mfa.client.verify_result`, holding only the public JWKS) check the
signature each with what it has, then hand the claims to :func:`check_result`, so
a forged or mismatched result is refused the same way by both. The claims checked
are exactly those :meth:`mfa.MFAService.sign_result` issues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mfa.errors import InvalidToken, TransactionExpired

__all__ = ["ISSUER", "VerifiedResult", "check_result"]

ISSUER = "mfa"
_STRINGS = ("sub", "tid", "txid", "auth0_guardian_method")


@dataclass(frozen=True, slots=True)
class VerifiedResult:
    """What a host learns from a valid result signature."""

    user_id: str
    tenant_id: str
    txid: str
    method: str
    amr: list[str]
    issued_at: int
    expires_at: int


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_result(
    claims: dict[str, Any],
    *,
    now: float,
    user_id: str | None = None,
    tenant_id: str | None = None,
    txid: str | None = None,
    leeway: float = 0,
    issuer: str = ISSUER,
) -> VerifiedResult:
    """The result the claims of a signature-checked token describe, or an exception.

    Refused with ``invalid_token``: another kind of token (``mfa_t`` not ``sig``), a
    foreign issuer, a result that does not say it was accepted, a claim missing or
    of the wrong type, or a user, tenant or transaction other than the expected
    ones (each checked when given). Refused with ``transaction_expired``: ``exp``
    at or before ``now`` (plus ``leeway`` seconds of clock skew). Expiry comes
    before the expected names, as in :class:`mfa.tokens.TokenCodec`.
    """
    if claims.get("mfa_t") != "sig":
        raise InvalidToken("This token is not a result signature.")
    if claims.get("iss") != issuer:
        raise InvalidToken("The signature was issued by someone else.")
    amr = claims.get("amr")
    malformed = (
        any(not isinstance(claims.get(name), str) for name in _STRINGS)
        or not (isinstance(amr, list) and all(isinstance(a, str) for a in amr))
        or not _number(claims.get("iat"))
        or not _number(claims.get("exp"))
    )
    if malformed:
        raise InvalidToken("The signature lacks a claim of a result.")
    # Only True counts: a result signature is issued for accepted transactions only,
    # so anything else is not one of ours.
    if claims.get("auth0_guardian_accepted") is not True:
        raise InvalidToken("The signature does not say the transaction was accepted.")
    if claims["exp"] + leeway <= now:
        raise TransactionExpired("The result signature has expired.")
    expected = {"sub": user_id, "tid": tenant_id, "txid": txid}
    for claim, want in expected.items():
        if want is not None and claims[claim] != want:
            raise InvalidToken(f"The signature is not for this {claim}.")
    return VerifiedResult(
        user_id=claims["sub"],
        tenant_id=claims["tid"],
        txid=claims["txid"],
        method=claims["auth0_guardian_method"],
        amr=list(claims["amr"]),
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
    )
