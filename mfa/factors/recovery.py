"""Recovery codes: 24 alphanumerics, shown once, stored as argon2id hashes.

24 characters from 62 give log2(62**24) ≈ 142.9 bits, over the 112 asked for.
Hashing and verifying are CPU-bound (tens of milliseconds and 64 MiB each, by
design): :meth:`RecoveryHasher.hash_async` and :meth:`~RecoveryHasher.verify_async`
run them in worker threads, never on the event loop, and at most one per core at
a time — more would only make every one of them slower and starve the loop's own
thread of CPU, so that healthy calls miss their backend deadlines.
"""

from __future__ import annotations

import os
import re
import secrets
import string

import anyio
import anyio.to_thread
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
    def __init__(self, profile: str = "rfc9106_low_memory", workers: int | None = None) -> None:
        self._hasher = PasswordHasher.from_parameters(_PROFILES[profile])
        self.workers = workers or os.cpu_count() or 1
        self._limiter: anyio.CapacityLimiter | None = None

    def _slots(self) -> anyio.CapacityLimiter:
        # Made on first use: a limiter belongs to the running event loop.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)
        return self._limiter

    async def hash_async(self, code: str) -> str:
        return await anyio.to_thread.run_sync(self.hash, code, limiter=self._slots())

    async def verify_async(self, stored_hash: str, code: str) -> bool:
        return await anyio.to_thread.run_sync(self.verify, stored_hash, code, limiter=self._slots())

    def hash(self, code: str) -> str:
        return self._hasher.hash(code)

    def verify(self, stored_hash: str, code: str) -> bool:
        """One argon2 call. Returns False rather than raising, for a wrong code or a
        corrupt hash alike; the caller decides what a refusal means."""
        try:
            return self._hasher.verify(stored_hash, code)
        except (VerificationError, InvalidHashError):
            return False
