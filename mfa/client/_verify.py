"""Result signatures checked offline against the service's public JWKS."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt

from mfa.errors import InvalidToken
from mfa.results import VerifiedResult, check_result

# An unknown ``kid`` refreshes the cached JWKS (the service rotated its keys), but
# not more often than this: a stream of forged tokens must not become a stream of
# JWKS fetches.
JWKS_REFRESH_SECONDS = 5.0


def _jwk_for(token: str, jwks: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise InvalidToken("The signature is not a well-formed JWT.") from None
    for jwk in jwks.get("keys") or ():
        if isinstance(jwk, dict) and jwk.get("kid") == kid:
            return jwk
    return None


def verify_result(
    token: str,
    jwks: Mapping[str, Any],
    *,
    user_id: str,
    tenant_id: str,
    txid: str | None = None,
    leeway: float = 0,
    now: float | None = None,
) -> VerifiedResult:
    """Check a result signature (``TransactionState.token``) against the public JWKS.

    This is how a host in another process learns that MFA succeeded: the signature
    is ES256 over keys published at ``/.well-known/jwks.json``, so no secret is
    shared. It checks the signature with the key its ``kid`` names (ES256 only, so
    no algorithm confusion), then the claims with :func:`mfa.results.check_result`,
    as :meth:`mfa.MFAService.verify_result` does: a result signature (not a request
    or transaction token) of an accepted transaction, its expiry (with ``leeway``
    seconds of clock skew, against ``now`` or the current time), and that it names
    the user and tenant the host expects — required here, because a valid
    signature for someone else is the classic mix-up.

    Returns the :class:`~mfa.results.VerifiedResult` or raises
    :class:`~mfa.errors.InvalidToken` / :class:`~mfa.errors.TransactionExpired`;
    it never returns a falsy "not valid".
    """
    if not isinstance(token, str) or not token:
        raise InvalidToken("No signature given.")
    jwk = _jwk_for(token, jwks)
    if jwk is None:
        raise InvalidToken("The signature was made with a key the JWKS does not hold.")
    try:
        key = jwt.PyJWK(jwk, algorithm="ES256")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["ES256"],
            # exp and the rest of the claims are checked by check_result, with the
            # caller's clock and leeway.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
            },
        )
    except jwt.PyJWTError:
        raise InvalidToken() from None
    return check_result(
        claims,
        now=time.time() if now is None else now,
        user_id=user_id,
        tenant_id=tenant_id,
        txid=txid,
        leeway=leeway,
    )


class _JwksCache:
    """The JWKS a client verified with last, refreshed when a token names a new key."""

    def __init__(self) -> None:
        self.jwks: dict[str, Any] | None = None
        self.fetched_at = float("-inf")

    def needs_fetch(self, token: str) -> bool:
        if self.jwks is None:
            return True
        stale = time.monotonic() - self.fetched_at >= JWKS_REFRESH_SECONDS
        return stale and _jwk_for(token, self.jwks) is None

    def store(self, jwks: dict[str, Any]) -> dict[str, Any]:
        self.jwks, self.fetched_at = jwks, time.monotonic()
        return jwks
