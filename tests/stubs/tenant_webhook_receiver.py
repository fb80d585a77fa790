"""A tenant's webhook receiver for tests: records every request byte for byte and
answers what the test scripts (200 when nothing is scripted). It checks nothing
itself: the tests verify signatures with an independent verifier."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.stubs.server import StubServer


@dataclass(frozen=True, slots=True)
class Received:
    raw: bytes
    headers: dict[str, str]
    status: int  # what the receiver answered

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class TenantWebhookReceiver(StubServer):
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.answers: deque[int] = deque()
        super().__init__(Starlette(routes=[Route("/hook", self._hook, methods=["POST"])]))

    @property
    def url(self) -> str:
        return self._server.base_url + "/hook"

    def answer(self, *statuses: int) -> None:
        self.answers.extend(statuses)

    def reset(self) -> None:
        self.received.clear()
        self.answers.clear()

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        status = self.answers.popleft() if self.answers else 200
        self.received.append(Received(raw, dict(request.headers), status))
        return Response(status_code=status)
