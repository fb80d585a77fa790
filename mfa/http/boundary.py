"""The error boundary: whatever happens inside, the client gets a catalogue error.

One pure-ASGI middleware wraps the whole app. It gives every response an
``X-Request-Id``, ``Cache-Control: no-store`` and ``X-Content-Type-Options:
nosniff``, renders :class:`~mfa.errors.MFAError` as the contract body,
turns an unreachable backend into ``service_unavailable`` and any other exception
into ``internal_error`` — logging the full trace under the request id, and never
putting internals in the body. Starlette's own 404/405 arrive as
``HTTPException`` and are rendered as ``not_found``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mfa.errors import InternalError, InvalidBody, MFAError, NotFound, ServiceUnavailable
from mfa.events.record import RequestMeta, reset_request_meta, set_request_meta
from mfa.random_ids import random_hex
from mfa.storage.base import BackendUnavailable, InvalidValue, SchemaOutdated

log = logging.getLogger("mfa.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# On every answer, errors included. Many carry a secret or a token (start-flow,
# recover-account, an accepted transaction-state, API keys, request tokens,
# tickets, recovery codes) and none is worth caching, so no route can forget:
# no-store keeps them out of browser and proxy caches; nosniff keeps a browser
# from reading JSON as anything else.
_SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
]
_OURS = frozenset({b"x-request-id", *(k for k, _ in _SECURITY_HEADERS)})
_NO_HANDLERS: tuple[dict[Any, Any], dict[Any, Any]] = ({}, {})
# The key of the request's Answer in the scope's state.
ANSWER = "mfa.answer"


class Answer:
    """What the boundary answered: the status, and the catalogue code of an error.

    Kept in the scope's state for :class:`mfa.http.observe.Observe`, which counts
    answers: the boundary sees both anyway, so the outer layer needs no ``send``
    wrapper of its own, nor to parse an error body back for its code."""

    __slots__ = ("error_code", "status")

    def __init__(self) -> None:
        self.status = 500  # until a response starts: an answer that never came
        self.error_code = ""


def error_response(
    exc: MFAError,
    request_id: str,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = exc.to_body()
    status = status or exc.status
    if status != exc.status:
        body["statusCode"] = status
        body["error"] = HTTPStatus(status).phrase
    all_headers = {**exc.headers(), **(headers or {}), "X-Request-Id": request_id}
    return JSONResponse(body, status_code=status, headers=all_headers)


def as_contract_error(exc: BaseException) -> tuple[MFAError, int | None, dict[str, str]]:
    """Map any exception to (catalogue error, status override, extra headers)."""
    if isinstance(exc, MFAError):
        return exc, None, {}
    if isinstance(exc, HTTPException):
        if exc.status_code == 405:
            allow = (exc.headers or {}).get("Allow", "")
            return (
                NotFound("This route does not take that HTTP method."),
                405,
                {"Allow": allow} if allow else {},
            )
        return NotFound("No such route."), None, {}
    if isinstance(exc, InvalidValue):
        return InvalidBody("A value in the request cannot be stored."), None, {}
    if isinstance(exc, BackendUnavailable | SchemaOutdated | TimeoutError):
        return ServiceUnavailable(), None, {}
    return InternalError(), None, {}


def request_id_for(scope: Scope) -> str:
    """The request's id, settled once and kept in the scope's state: the client's
    ``X-Request-Id`` when well formed, else 128 random bits in 32 hex digits
    (:mod:`mfa.random_ids`). The outermost middleware that needs it settles it;
    every later one reads the same."""
    state = scope.setdefault("state", {})
    request_id: str | None = state.get("request_id")
    if request_id is None:
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else random_hex()
        state["request_id"] = request_id
    return request_id


class ErrorBoundary:
    def __init__(
        self,
        app: ASGIApp,
        on_request: Callable[[], Awaitable[None]] | None = None,
        allow: Callable[[Scope], list[str]] | None = None,
    ) -> None:
        self.app = app
        self.on_request = on_request
        self.allow = allow  # a 405's Allow: the methods the request's path takes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(scope)
        # Mounted in a host's Starlette app, the host's exception handlers travel in
        # the scope and Starlette's function routes (the docs, the hosted pages)
        # would apply them inside mfa: this boundary decides every answer here.
        scope["starlette.exception_handlers"] = _NO_HANDLERS
        # Where the request came from, for the events it causes (mfa.events).
        client = scope.get("client")
        agent = _header(scope, b"user-agent")
        meta = set_request_meta(
            RequestMeta(
                request_id=request_id,
                client_ip=str(client[0])[:64] if client else None,
                user_agent=agent[:300] if agent else None,
            )
        )
        try:
            await self._handle(scope, receive, send, request_id)
        finally:
            reset_request_meta(meta)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        started = False
        answer = scope["state"][ANSWER] = Answer()

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                answer.status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                headers += [(b"x-request-id", request_id.encode()), *_SECURITY_HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        try:
            if self.on_request is not None:
                await self.on_request()
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # the boundary: nothing escapes as a trace
            error, status, headers = as_contract_error(exc)
            if status == 405 and self.allow is not None:
                headers["Allow"] = ", ".join(self.allow(scope))
            if isinstance(error, InternalError):
                log.exception("unhandled error [request_id=%s]", request_id)
            elif isinstance(error, ServiceUnavailable):
                log.warning("backend unavailable [request_id=%s]: %s", request_id, _describe(exc))
            if started:
                return  # too late to change the response; the trace is logged
            answer.error_code = error.code
            response = error_response(error, request_id, status=status, headers=headers)
            await response(scope, receive, send_with_id)


def _describe(exc: BaseException) -> str:
    cause: Any = exc.__cause__ or exc
    return f"{type(cause).__name__}: {cause}"[:300]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            try:
                return str(value.decode("latin-1"))
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
                return None
    return None
