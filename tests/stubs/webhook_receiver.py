"""A webhook receiver for tests: checks mfa's signature and answers what the test scripts.

It follows the receiver's side of the contract in :mod:`transports.webhook`: a bad or
stale signature gets 401, anything else gets the next scripted answer (200 when
none is left). Every request is recorded, signed or not, with its raw body.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.stubs.server import StubServer
from transports.webhook import DELIVERY_ID_HEADER, SIGNATURE_HEADER, verify_signature


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a timeout test)


@dataclass(frozen=True, slots=True)
class Delivery:
    raw: bytes
    headers: dict[str, str]
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def delivery_id(self) -> str | None:
        return self.headers.get(DELIVERY_ID_HEADER.lower())


class WebhookReceiver(StubServer):
    def __init__(self, secret: str = "whsec-test-0123456789abcdef") -> None:
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self.answers: deque[Answer] = deque()
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        super().__init__(self.app)

    @property
    def url(self) -> str:
        return self._server.base_url + "/hook"

    def answer(self, *answers: Answer | int) -> None:
        """Queue the answers to the next requests (an int is a bare status)."""
        self.answers.extend(a if isinstance(a, Answer) else Answer(a) for a in answers)

    def reset(self) -> None:
        self._release_sleepers()
        self.deliveries.clear()
        self.answers.clear()

    async def _hook(self, request: Request) -> Response:
        raw = await request.body()
        ok = verify_signature(self.secret, request.headers.get(SIGNATURE_HEADER, ""), raw)
        self.deliveries.append(Delivery(raw, dict(request.headers), ok))
        if not ok:
            return JSONResponse({"error": "bad_signature"}, status_code=401)
        answer = self.answers.popleft() if self.answers else Answer()
        if answer.delay:
            # A thread waits, so that stop() and reset() can cut it short.
            await asyncio.to_thread(self._release.wait, answer.delay)
        if answer.json is None:
            return Response(status_code=answer.status, headers=answer.headers)
        return JSONResponse(answer.json, status_code=answer.status, headers=answer.headers)
