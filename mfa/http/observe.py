"""Operations: the request id for logs, request metrics, and ``GET /metrics``.

:class:`Observe` is the app's outermost middleware (pure ASGI; it wraps neither
the body nor, but for an OPTIONS request, ``send``). Per request it

- settles the request id (:func:`mfa.http.boundary.request_id_for`: the client's
  ``X-Request-Id`` when well formed, else a new one, kept in the scope so the
  error boundary echoes the same); it is :data:`mfa.logs.REQUEST_ID` for
  everything logged meanwhile;
- counts the answer in :class:`mfa.metrics.Metrics` by route template, method,
  status and catalogue code (as the error boundary noted them), and times it.

``GET /metrics`` (:func:`metrics_route`) serves the registry in Prometheus'
text format, outside the OpenAPI document and ``/appliance-mfa``. With
``MFA_METRICS_TOKEN`` set it wants ``Authorization: Bearer <token>``
(``invalid_bearer_format`` without, ``invalid_token`` when wrong);
``MFA_METRICS=false`` removes the route.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mfa.errors import InvalidBearerFormat, InvalidToken
from mfa.http.boundary import ANSWER, Answer, request_id_for
from mfa.logs import REQUEST_ID
from mfa.metrics import CONTENT_TYPE, Metrics
from mfa.tokens import parse_authorization

if TYPE_CHECKING:  # the service is built by the composition root (mfa.service)
    from mfa.service import MFAService


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(request_id_for(scope))
        started = time.perf_counter()
        # Every request but a CORS preflight reaches the error boundary, which notes
        # its answer (boundary.Answer). CORSMiddleware, outside the boundary, answers
        # preflights itself: only an OPTIONS request needs its answer watched here.
        seen = Answer()
        if scope["method"] == "OPTIONS":

            async def watch(message: Message) -> None:
                if message["type"] == "http.response.start":
                    seen.status = int(message["status"])
                await send(message)

            app_send: Send = watch
        else:
            app_send = send
        try:
            await self.app(scope, receive, app_send)
        finally:
            answer: Answer = scope["state"].get(ANSWER, seen)
            self.metrics.observe_request(
                _route(scope),
                scope["method"],
                answer.status,
                answer.error_code,
                time.perf_counter() - started,
            )
            REQUEST_ID.reset(token)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def _metrics(request: Request) -> Response:
    service: MFAService = request.app.state.mfa
    expected = service.settings.metrics_token
    if expected:
        credential = parse_authorization(request.headers.get("authorization"))
        if credential.kind != "bearer":
            raise InvalidBearerFormat("The metrics take the metrics token as a Bearer token.")
        if not hmac.compare_digest(credential.value.encode(), expected.encode()):
            raise InvalidToken("Wrong metrics token.")
    return Response(service.ctx.metrics.exposition(), media_type=CONTENT_TYPE)


def metrics_route() -> Route:
    return Route("/metrics", _metrics, methods=["GET"], name="metrics")
