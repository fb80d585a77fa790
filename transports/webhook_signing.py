"""The webhook transports' signature: ``X-MFA-Signature: t=<unix seconds>,v1=<hex>``.

``v1`` is HMAC-SHA256 with the shared secret over ``"<t>.<raw body>"``: the timestamp
is signed with the body, so a captured request cannot be replayed later. mfa signs
with :func:`sign`; a receiver checks with :func:`verify_signature` on the raw bytes,
before parsing (the contract is in :mod:`transports.webhook`, which exports both).
Only the standard library: a receiver can copy or import this module alone.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "sign", "verify_signature"]

SIGNATURE_HEADER: Final = "X-MFA-Signature"
DEFAULT_TOLERANCE: Final = 300


def _mac(secret: str | bytes, timestamp: str, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes | str, timestamp: int | None = None) -> str:
    """The ``X-MFA-Signature`` value for ``body`` at ``timestamp`` (default: now)."""
    raw = body.encode() if isinstance(body, str) else body
    t = str(int(time.time()) if timestamp is None else timestamp)
    return f"t={t},v1={_mac(secret, t, raw)}"


def verify_signature(
    secret: str | bytes,
    header: str,
    body: bytes | str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (an ``X-MFA-Signature`` value) signs ``body`` with ``secret``.

    ``body`` must be the raw request body, exactly as received. False as well when
    the signed timestamp is more than ``tolerance`` seconds away from ``now``
    (default: the current time), which defeats replays of captured requests.
    Several ``v1=`` entries are allowed; one matching is enough.
    """
    timestamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = value
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not timestamp.isdigit() or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = _mac(secret, timestamp, raw).encode()
    # Bytes, so that a non-ASCII candidate compares False instead of raising.
    return any(hmac.compare_digest(expected, c.encode()) for c in candidates)
