"""The APNs provider token: an ES256 JWT signed with the ``.p8`` key, made with PyJWT.

The token (``iss`` = team id, ``iat``, header ``kid`` = key id) is reused for 40
minutes: Apple refuses tokens older than an hour and answers
``TooManyProviderTokenUpdates`` to a provider that mints them more often than every
20 minutes. When Apple finds one expired anyway, the transport calls
:meth:`ProviderToken.renew` and retries the send once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = ["TOKEN_LIFETIME", "ProviderToken", "read_key"]

TOKEN_LIFETIME: Final = 40 * 60


def read_key(value: str) -> ec.EllipticCurvePrivateKey:
    """The ``.p8`` key, from its PEM text or a path to it."""
    pem = value if "-----BEGIN" in value else Path(value).expanduser().read_text("ascii")
    key = load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("an APNs key is an EC P-256 private key (.p8)")
    return key


class ProviderToken:
    """The ES256 JWT that authenticates us to APNs, minted at most every 40 minutes."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        key_id: str,
        team_id: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._key_id = key_id
        self._team_id = team_id
        self._clock = clock
        self._token: str | None = None
        self._issued_at = 0.0

    def get(self) -> str:
        now = self._clock()
        if self._token is None or now - self._issued_at >= TOKEN_LIFETIME:
            self._issued_at = now
            self._token = jwt.encode(
                {"iss": self._team_id, "iat": int(now)},
                self._key,
                algorithm="ES256",
                headers={"kid": self._key_id},
            )
        return self._token

    def renew(self, refused: str) -> None:
        """Forget ``refused`` (Apple found it expired), unless another send already did."""
        if self._token == refused:
            self._token = None

    def __repr__(self) -> str:
        return f"<ProviderToken kid={self._key_id} iss={self._team_id}>"
