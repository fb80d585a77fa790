"""Rules shared by every ephemeral store, so that memory and Redis cannot disagree."""

from __future__ import annotations

from typing import Any

# A TOTP replay mark must outlive the window in which its code is accepted (±1 step
# of 30 s), even when the lockout window is configured shorter.
REPLAY_MARK_MIN_SECONDS = 180

# What update_transaction and record_attempt(on_success=…) may change.
TX_MUTABLE_FIELDS = frozenset({"state", "enrollment", "token", "data"})


def replay_mark_seconds(lockout_seconds: int) -> int:
    return max(lockout_seconds, REPLAY_MARK_MIN_SECONDS)


def check_attempt_args(
    replay_key: str | None, replay_step: int | None, on_success: dict[str, Any] | None
) -> None:
    """Refuse calls that could not mean anything (a programming error, not a user's)."""
    if (replay_key is None) != (replay_step is None):
        raise ValueError("replay_key and replay_step go together")
    unknown = set(on_success or ()) - TX_MUTABLE_FIELDS
    if unknown:
        raise ValueError(
            f"on_success may only set {sorted(TX_MUTABLE_FIELDS)}, not {sorted(unknown)}"
        )
