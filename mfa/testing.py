"""Test helpers shipped for users' own suites (and used by ours).

- :class:`FrozenClock`: a clock to inject into :class:`mfa.MFAService` and the
  stores, so tests move time instead of patching it.
- The in-memory delivery outboxes live in :mod:`transports.outbox`.
"""

from __future__ import annotations

import time


class FrozenClock:
    """A callable returning epoch seconds, moved only by :meth:`advance`/:meth:`set`."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, epoch: float) -> None:
        self.now = epoch
