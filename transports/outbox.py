"""In-memory transports for tests: messages are kept, not sent. Shipped for users' own suites.

Like httpx's ``MockTransport``, these live in the library so that a host app can test
its MFA flows without a provider::

    outbox = Outbox()
    ...  # build the service with sms transport = outbox, drive a login
    code = outbox.last_code("+14155550123")
    msg = await outbox.wait_for(lambda m: m.tenant_id == "acme", timeout=2)

``MFA_SMS_TRANSPORT=outbox`` / ``MFA_PUSH_TRANSPORT=outbox`` select them by
configuration; ``from_settings`` returns a fresh, empty instance each time.

``fail_with`` simulates provider failures: an error instance or class raised on
every send, or a function of the message returning the error to raise (or None to
deliver), e.g. ``fail_with=lambda m: InvalidPhoneNumber() if m.to.endswith("0000")
else None``. A failed send is not recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import anyio

from mfa.delivery import PushMessage, SmsMessage
from mfa.errors import MFAError
from mfa.settings import Settings

__all__ = ["Outbox", "PushOutbox"]

M = TypeVar("M", SmsMessage, PushMessage)


class _Recorder(Generic[M]):
    def __init__(
        self, *, fail_with: MFAError | type[MFAError] | Callable[[M], MFAError | None] | None = None
    ) -> None:
        self.messages: list[M] = []
        self.fail_with: MFAError | type[MFAError] | Callable[[M], MFAError | None] | None = (
            fail_with
        )
        self.closed = False
        self._waiters: set[anyio.Event] = set()

    async def send(self, message: M) -> None:
        if self.closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        error = self._failure(message)
        if error is not None:
            # A shared instance would otherwise pile up tracebacks across sends.
            raise error.with_traceback(None)
        self.messages.append(message)
        for event in self._waiters:
            event.set()

    def _failure(self, message: M) -> MFAError | None:
        fail_with = self.fail_with
        if fail_with is None or isinstance(fail_with, MFAError):
            return fail_with
        error: MFAError | None = fail_with() if isinstance(fail_with, type) else fail_with(message)
        return error

    def _newest(self, predicate: Callable[[M], bool] | None) -> M | None:
        for message in reversed(self.messages):
            if predicate is None or predicate(message):
                return message
        return None

    async def wait_for(
        self,
        predicate: Callable[[M], bool] | None = None,
        # A default bound, so that a test that forgot to send fails instead of hanging.
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> M:
        """The newest message matching ``predicate`` (any when None), waiting for one if needed.

        Messages already kept count: :meth:`clear` first to wait for a new one.
        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        with anyio.fail_after(timeout):
            while True:
                found = self._newest(predicate)
                if found is not None:
                    return found
                event = anyio.Event()
                self._waiters.add(event)
                try:
                    await event.wait()
                finally:
                    self._waiters.discard(event)

    def clear(self) -> None:
        self.messages.clear()

    async def aclose(self) -> None:
        self.closed = True

    def __len__(self) -> int:
        return len(self.messages)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} messages={len(self.messages)}>"


class Outbox(_Recorder[SmsMessage]):
    """Keeps every :class:`~mfa.delivery.SmsMessage` in :attr:`messages`, oldest first."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Outbox:
        return cls()

    def last(self, to: str | None = None) -> SmsMessage | None:
        """The newest message (to ``to``, when given)."""
        return self._newest(None if to is None else lambda m: m.to == to)

    def last_code(self, to: str | None = None) -> str | None:
        """The code of the newest message (to ``to``, when given)."""
        message = self.last(to)
        return message.code if message is not None else None


class PushOutbox(_Recorder[PushMessage]):
    """Keeps every :class:`~mfa.delivery.PushMessage` in :attr:`messages`, oldest first."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PushOutbox:
        return cls()

    def last(self, device_token: str | None = None) -> PushMessage | None:
        """The newest push (to ``device_token``, when given)."""
        return self._newest(
            None if device_token is None else lambda m: m.device_token == device_token
        )
