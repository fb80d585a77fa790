"""A local server that speaks Apple's APNs provider API, over HTTP/2 only.

It implements ``POST /3/device/{token}`` the way Apple answers it: the provider
token (``authorization: bearer <ES256 JWT>``) is verified with the public half of
the stub's own ``.p8`` key, its ``kid`` and ``iss`` must match, and one older than
an hour is ``ExpiredProviderToken``; ``apns-topic`` must be the configured one.
Success is ``200`` with an ``apns-id`` header and no body; failures carry Apple's
JSON body ``{"reason": "..."}`` (``410`` adds ``timestamp``, in milliseconds).

Answers are scripted by device token (:data:`SCRIPTED`); tests may add entries to
:attr:`ApnsStub.scripted`, and :meth:`ApnsStub.expire_provider_tokens` makes the
tokens minted so far expire, as an hour passing would. Every request records the
HTTP version it came over, so tests can assert that it was HTTP/2.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.stubs.h2_server import H2ServerThread

GOOD_TOKEN = "a1" * 32
# Scripted device tokens (APNs tokens are 64 hex digits).
UNREGISTERED = "0" * 62 + "10"  # 410 Unregistered
BAD_DEVICE_TOKEN = "0" * 62 + "20"  # 400 BadDeviceToken
TOO_MANY_REQUESTS = "0" * 62 + "30"  # 429 TooManyRequests
SERVER_ERROR = "0" * 62 + "40"  # 500 InternalServerError
UNAVAILABLE = "0" * 62 + "41"  # 503 ServiceUnavailable
NOT_JSON = "0" * 62 + "50"  # 502 with an HTML page, as a proxy sends
SLOW = "0" * 62 + "60"  # answers 200, but only after 5 s

# Apple's timestamp for the Unregistered token: when it stopped being valid.
UNREGISTERED_AT_MS = 1_767_268_800_000  # 2026-01-01T12:00:00Z


@dataclass(frozen=True, slots=True)
class Scripted:
    status: int
    reason: str | None = None
    timestamp_ms: int | None = None
    delay: float = 0.0
    html: bool = False


SCRIPTED: dict[str, Scripted] = {
    UNREGISTERED: Scripted(410, "Unregistered", UNREGISTERED_AT_MS),
    BAD_DEVICE_TOKEN: Scripted(400, "BadDeviceToken"),
    TOO_MANY_REQUESTS: Scripted(429, "TooManyRequests"),
    SERVER_ERROR: Scripted(500, "InternalServerError"),
    UNAVAILABLE: Scripted(503, "ServiceUnavailable"),
    NOT_JSON: Scripted(502, html=True),
    SLOW: Scripted(200, delay=5.0),
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    http_version: str
    scheme: str
    device_token: str
    headers: dict[str, str] = field(repr=False)
    body: dict[str, Any]
    claims: dict[str, Any] | None  # the verified provider token's, None if refused
    status: int


class ApnsStub:
    def __init__(self, *, tls: tuple[str, str] | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        self.key_id = "STUBKEY123"
        self.team_id = "STUBTEAM45"
        self.topic = "com.example.guardian"
        self.scripted: dict[str, Scripted] = dict(SCRIPTED)
        self.requests: list[RecordedRequest] = []
        self._seen: set[str] = set()
        self._expired: set[str] = set()
        self.expire_all = False
        app = Starlette(routes=[Route("/3/device/{token}", self._send, methods=["POST"])])
        self._server = H2ServerThread(app, tls=tls)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    def settings_overrides(self) -> dict[str, Any]:
        return {
            "push_transport": "apns",
            "apns_key_id": self.key_id,
            "apns_team_id": self.team_id,
            "apns_key": self.key_pem,
            "apns_topic": self.topic,
            "apns_base_url": self.base_url,
        }

    def expire_provider_tokens(self) -> None:
        """Every provider token seen until now is refused as ``ExpiredProviderToken``."""
        self._expired |= self._seen

    def reset(self) -> None:
        self.scripted = dict(SCRIPTED)
        self.requests = []
        self._seen = set()
        self._expired = set()
        self.expire_all = False

    @property
    def sent(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.status == 200]

    def _verify(self, header: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """The provider token's claims, or the reason Apple gives for refusing it."""
        if not header or not header.lower().startswith("bearer "):
            return None, "MissingProviderToken"
        token = header[len("bearer ") :]
        try:
            if jwt.get_unverified_header(token).get("kid") != self.key_id:
                return None, "InvalidProviderToken"
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public_key(),
                algorithms=["ES256"],
                issuer=self.team_id,
                options={"require": ["iss", "iat"], "verify_iat": False},
            )
        except jwt.PyJWTError:
            return None, "InvalidProviderToken"
        self._seen.add(token)
        if self.expire_all or token in self._expired or claims["iat"] < time.time() - 3600:
            return None, "ExpiredProviderToken"
        return claims, None

    async def _send(self, request: Request) -> Response:
        # Recorded where the request began: a slow answer from an earlier test
        # (SLOW) lands after reset() and must not show up in the next test's list.
        requests = self.requests
        device_token = request.path_params["token"]
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        claims, refused = self._verify(request.headers.get("authorization"))
        scripted = self.scripted.get(device_token)
        status, reason, timestamp = 200, None, None
        if refused:
            status, reason = 403, refused
        elif request.headers.get("apns-topic") != self.topic:
            status, reason = 400, "DeviceTokenNotForTopic"
        elif request.headers.get("apns-push-type") not in ("alert", "background"):
            status, reason = 400, "InvalidPushType"
        elif not isinstance(body, dict) or "aps" not in body:
            status, reason = 400, "PayloadEmpty"
        elif scripted is not None:
            status, reason, timestamp = scripted.status, scripted.reason, scripted.timestamp_ms
            await asyncio.sleep(scripted.delay)
        elif len(device_token) != 64 or any(c not in "0123456789abcdef" for c in device_token):
            status, reason = 400, "BadDeviceToken"
        requests.append(
            RecordedRequest(
                http_version=request.scope["http_version"],
                scheme=request.url.scheme,
                device_token=device_token,
                headers=dict(request.headers),
                body=body if isinstance(body, dict) else {},
                claims=claims,
                status=status,
            )
        )
        headers = {"apns-id": str(uuid.uuid4()).upper()}
        if scripted is not None and scripted.html:
            return Response("<html>502 Bad Gateway</html>", status, headers, "text/html")
        if status == 200:
            return Response(b"", 200, headers)
        error: dict[str, Any] = {"reason": reason}
        if timestamp is not None:
            error["timestamp"] = timestamp
        return JSONResponse(error, status, headers)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
