"""One operation as data: the request to send, and the reading of its answer.

A :class:`_Call` is what :class:`~mfa.client._calls._Calls` builds for each
operation; both clients send it their own way (blocking or not) and hand the
response to :func:`_interpret`, so a fix to the reading applies to both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from mfa._version import __version__
from mfa.errors import InternalError, ServiceUnavailable, from_body

T = TypeVar("T")
Json = Any


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One operation: the request to send and how to read a 2xx answer."""

    method: str
    path: str
    parse: Callable[[Json], T]
    json: Json = None
    authorization: str | None = None

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        headers = {"Authorization": self.authorization} if self.authorization else {}
        if self.json is None:
            return http.build_request(self.method, self.path, headers=headers)
        return http.build_request(self.method, self.path, headers=headers, json=self.json)


def _interpret(call: _Call[T], response: httpx.Response) -> T:
    """A response to the call's result, or the catalogue exception it carries."""
    try:
        body: Json = response.json() if response.content else None
        parsed = True
    except ValueError:  # not JSON: a proxy's HTML page, a truncated body
        body, parsed = None, False
    if not response.is_success:
        headers = {k.lower(): v for k, v in response.headers.items()}
        error = from_body(response.status_code, body, headers)
        request_id = response.headers.get("x-request-id")
        if request_id:
            error.add_note(f"X-Request-Id: {request_id}")
        raise error
    if not parsed:
        raise InternalError(f"HTTP {response.status_code} with a body that is not JSON.")
    try:
        return call.parse(body)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise InternalError(f"Unexpected answer to {call.method} {call.path}: {exc!r}") from exc


def _unavailable(exc: httpx.TransportError) -> ServiceUnavailable:
    return ServiceUnavailable(f"The mfa service cannot be reached: {type(exc).__name__}: {exc}")


def _headers() -> dict[str, str]:
    return {"User-Agent": f"mfa-client/{__version__}", "Accept": "application/json"}
