"""Development transports: print the code instead of sending it. Never use them in production.

They are the embedded default (``MFA_SMS_TRANSPORT=console`` and
``MFA_PUSH_TRANSPORT=console``, or nothing set), so that ``mfa serve`` works on a
laptop with no provider account: each SMS shows up as one line with the masked
number and, on purpose, the code, so the developer can type it in.

The line is logged at INFO on ``mfa.transports.console``. When logging would not
show it (INFO not enabled for that logger, or no handler at all, as with logging
never configured), it is written to stderr instead, so the code is never silently
lost. Push challenges are shown by device token (masked)
and payload keys; the transaction token in the payload is not printed.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from mfa.delivery import PushMessage, SmsMessage
from mfa.settings import Settings

__all__ = ["ConsolePushTransport", "ConsoleSmsTransport", "mask"]

logger = logging.getLogger("mfa.transports.console")


def mask(value: str, *, head: int = 3, tail: int = 2) -> str:
    """``+14155550123`` -> ``+14*******23``: enough to tell numbers apart, not to dial."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


class _ConsoleTransport:
    def __init__(self, *, stream: TextIO | None = None) -> None:
        """``stream`` replaces stderr as the fallback when logging is not configured."""
        self._stream = stream

    def _emit(self, line: str) -> None:
        if logger.isEnabledFor(logging.INFO) and logger.hasHandlers():
            logger.info("%s", line)
        else:
            stream = self._stream or sys.stderr
            print(line, file=stream, flush=True)

    async def aclose(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class ConsoleSmsTransport(_ConsoleTransport):
    """Shows each SMS code on the console (development only)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleSmsTransport:
        return cls()

    async def send(self, message: SmsMessage) -> None:
        self._emit(
            f"[mfa console sms, not sent] to={mask(message.to)} tenant={message.tenant_id} "
            f"code={message.code}"
        )


class ConsolePushTransport(_ConsoleTransport):
    """Shows each push challenge on the console (development only)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsolePushTransport:
        return cls()

    async def send(self, message: PushMessage) -> None:
        keys = ",".join(sorted(message.payload))
        self._emit(
            f"[mfa console push, not sent] service={message.service} "
            f"token={mask(message.device_token, head=4, tail=4)} tenant={message.tenant_id} "
            f"payload_keys={keys}"
        )
