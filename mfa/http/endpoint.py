"""Declared endpoints: one record per route drives validation, dispatch and OpenAPI.

A handler never parses a request itself: :class:`Endpoint` reads the body under a
size limit, insists on JSON, validates it with the route's schema, refuses
unexpected query parameters, and turns the handler's return value into a response.
Every refusal is a catalogue error, so the boundary only has to render it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mfa.errors import FieldRequired, InvalidBearerFormat, InvalidBody, InvalidQueryString
from mfa.events.record import request_meta
from mfa.principals import Principal, authorize
from mfa.schemas import Body
from mfa.tokens import parse_authorization

# "phone_ticket": the phone's Ticket (enrollment_tx_id); "device": the phone's device
# token or device-signed JWT. Both are checked by their flows; named here for OpenAPI.
Auth = Literal["none", "start", "transaction", "api_key", "phone_ticket", "device"]
B = TypeVar("B", bound=Body)
Handler = Callable[[Request, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[Body] | None = None  # None: GET/DELETE, no body read
    response: type[BaseModel] | None = None  # None with status 204
    many: bool = False  # the response is a JSON array of ``response``
    status: int = 200
    auth: Auth = "none"
    scope: str | None = None
    query: frozenset[str] = frozenset()
    errors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.auth == "api_key" and self.scope is None:
            raise TypeError(f"{self.method} {self.path}: an api_key route must declare its scope")

    def route(self, max_body_bytes: int) -> Route:
        # An ASGI app, not a function: Starlette wraps a function endpoint in
        # request_response, which adds an exception-handler lookup and a wrapper
        # around ``send`` to every request; ErrorBoundary makes both redundant.
        app = _EndpointApp(self, max_body_bytes)
        return Route(self.path, app, methods=[self.method], name=self.handler.__name__)

    async def answer(self, request: Request, max_body_bytes: int) -> Response:
        _check_query(request, self.query)
        if self.auth == "api_key":
            # Before the body is read and long before the handler runs: a call
            # the key may not make has no effect at all.
            request.state.principal = await _authorize(request, str(self.scope))
        parsed = (
            await read_body(request, self.body, max_body_bytes) if self.body is not None else None
        )
        result = await self.handler(request, parsed)
        return _respond(result, self.status)


class _EndpointApp:
    __slots__ = ("_endpoint", "_limit")

    def __init__(self, endpoint: Endpoint, max_body_bytes: int) -> None:
        self._endpoint = endpoint
        self._limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._endpoint.answer(Request(scope, receive, send), self._limit)
        if response is _NO_CONTENT:
            # What Response(status_code=204) sends (no header at all), without making
            # one: verify-otp and most other Guardian calls answer this.
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await response(scope, receive, send)


# The marker of an empty 204 answer, never sent itself (_EndpointApp sends fresh
# messages for it).
_NO_CONTENT = Response(status_code=204)


async def _authorize(request: Request, scope: str) -> Principal:
    credential = parse_authorization(request.headers.get("authorization"))
    if credential.kind != "bearer":
        raise InvalidBearerFormat("The backend API takes an API key as a Bearer token.")
    principal: Principal = await request.app.state.mfa.authenticator.authenticate(credential.value)
    tenant_id = request.path_params.get("tenant_id")
    authorize(principal, scope, None if tenant_id is None else str(tenant_id))
    request_meta().actor = principal.key_id  # the acting key, on the events it causes
    return principal


def _check_query(request: Request, allowed: frozenset[str]) -> None:
    if not request.scope.get("query_string"):
        return  # most calls: no need to build (and parse into) QueryParams
    for name in request.query_params:
        if name not in allowed:
            raise InvalidQueryString(f"Unexpected query parameter {name[:40]!r}.")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request, model: type[B], limit: int) -> B:
    declared: bytes | None = None
    content_type: bytes | None = None
    for key, value in request.scope["headers"]:
        # One pass over the raw headers for the two this needs (request.headers
        # would build a Headers and scan it again for each name).
        key = key.lower()
        if key == b"content-length":
            declared = value
        elif key == b"content-type":
            content_type = value
    if declared is not None:
        if not declared.isdigit():
            raise InvalidBody("Content-Length is not a number.")
        if int(declared) > limit:
            raise InvalidBody(f"The body is larger than {limit} bytes.")
    raw = await _receive_body(request, limit)
    if not raw.strip():
        # Guardian clients POST without a body where the protocol needs none, and a
        # missing body is read as an empty object so required fields are named.
        raw = b"{}"
    elif not _is_json(content_type.decode("latin-1") if content_type else ""):
        raise InvalidBody("The body must be JSON, sent with Content-Type: application/json.")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(model, exc) from None


async def _receive_body(request: Request, limit: int) -> bytes:
    """The body, straight from ``receive`` (Starlette's ``request.stream()`` is an
    async generator: its machinery cost more than the rest of this read), refused
    once it passes ``limit`` bytes, whatever Content-Length said."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise InvalidBody(f"The body is larger than {limit} bytes.")
        if not message.get("more_body", False):
            # Usually the only message: its bytes as they are, nothing joined.
            return b"".join((*chunks, chunk)) if chunks else chunk
        chunks.append(chunk)


def validation_error(model: type[Body], exc: ValidationError) -> FieldRequired | InvalidBody:
    errors = exc.errors(include_url=False, include_input=False)
    for err in errors:
        if err["type"] == "missing" and len(err["loc"]) == 1:
            name = str(err["loc"][0])
            wire = model.WIRE_NAMES.get(name, name)
            return FieldRequired(f"The field {wire!r} is required.", field=wire)
    err = errors[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    if err["type"] == "json_invalid":
        return InvalidBody("The body is not valid JSON.")
    if err["type"] == "model_type":
        return InvalidBody("The body must be a JSON object.")
    if err["type"] == "extra_forbidden":
        return InvalidBody(f"Unknown field {where!r}.")
    return InvalidBody(f"Invalid value for {where!r}: {err['msg']}.")


def _respond(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return _NO_CONTENT
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    elif isinstance(result, list):
        result = [r.model_dump(mode="json") if isinstance(r, BaseModel) else r for r in result]
    return JSONResponse(result, status_code=status)
