"""Recovery codes: 24 alphanumerics, shown once, stored as argon2id hashes.

24 characters from 62 give log2(62**24) ≈ 142.9 bits, over the 112 asked for.
Hashing and verifying are CPU-bound (tens of milliseconds by design): callers run
them in a worker thread (:func:`anyio.to_thread.run_sync`), never on the event loop.
"""

from __future__ import annotations

import re
import secrets
import string

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits
LENGTH = 24
FORMAT = re.compile(r"[0-9A-Za-z]{24}")

_PROFILES = {
    "rfc9106_low_memory": profiles.RFC_9106_LOW_MEMORY,
    "cheapest": profiles.CHEAPEST,  # tests only
}


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def well_formed(code: str) -> bool:
    # fullmatch: with match and "$", "<24 characters>\n" passed (and cost an attempt).
    return FORMAT.fullmatch(code) is not None


class RecoveryHasher:
    def __init__(self, profile: str = "rfc9106_low_memory") -> None:
        self._hasher = PasswordHasher.from_parameters(_PROFILES[profile])

    def hash(self, code: str) -> str:
        return self._hasher.hash(code)

    def verify(self, stored_hash: str, code: str) -> bool:
        """One argon2 call. Returns False rather than raising, for a wrong code or a
        corrupt hash alike; the caller decides what a refusal means."""
        try:
            return self._hasher.verify(stored_hash, code)
        except (VerificationError, InvalidHashError):
            return False
