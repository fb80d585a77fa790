"""The in-process store's expiring entries: a dict whose entries live until a time.

Expiry follows the injected clock (as Redis keeps its own): entries are dropped
lazily when read, and swept now and then so that keys nobody reads again do not
pile up. :class:`~mfa.storage.memory.MemoryEphemeralStore` builds its atomic
decisions on these primitives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Entry", "ExpiringData", "Key"]

# Keys: (tenant_id, kind, *rest); tickets are global and use tenant None.
Key = tuple[str | None, ...]

_SWEEP_EVERY_SECONDS = 60.0


@dataclass(slots=True)
class Entry:
    value: Any
    expires_at: float | None  # epoch seconds; None: no TTL


class ExpiringData:
    """Entries by key, each with an optional expiry on ``clock``; the store's
    primitives read (``_get``, ``_ttl``) and write (``_set``) them."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._data: dict[Key, Entry] = {}
        self._next_sweep = 0.0

    def _get(self, key: Key) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            del self._data[key]
            return None
        return entry.value

    def _set(self, key: Key, value: Any, expires_at: float | None) -> None:
        self._sweep()
        if expires_at is not None and expires_at <= self._clock():
            self._data.pop(key, None)  # like PEXPIREAT in the past: gone at once
            return
        self._data[key] = Entry(value, expires_at)

    def _ttl(self, key: Key) -> float | None:
        entry = self._data.get(key)
        if entry is None or entry.expires_at is None:
            return None
        return entry.expires_at - self._clock()

    def _sweep(self) -> None:
        now = self._clock()
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_EVERY_SECONDS
        expired = [
            k for k, e in self._data.items() if e.expires_at is not None and e.expires_at <= now
        ]
        for key in expired:
            del self._data[key]
