"""A local server that speaks Google's OAuth2 token endpoint and FCM's HTTP v1 send API.

``POST /token`` takes the JWT-bearer grant (``grant_type=urn:ietf:params:oauth:
grant-type:jwt-bearer``, ``assertion=<RS256 JWT>``) the way Google does: the
assertion is verified with the public half of the stub's service-account key, its
``iss``, ``aud`` (Google's token endpoint, as google-auth signs it whatever the
token URL) and ``scope`` checked; refusals are
``{"error": "invalid_grant", "error_description": ...}``.

``POST /v1/projects/{project}/messages:send`` needs a live access token from
``/token`` (``401 UNAUTHENTICATED`` otherwise) and the stub's project (``403
PERMISSION_DENIED``), checks that ``data`` holds only strings, as FCM does, and
answers ``{"name": "projects/…/messages/…"}``. Failures use Google's error body
``{"error": {"code", "message", "status", "details": [FcmError, …]}}``, scripted
by registration token (:data:`SCRIPTED`, and :attr:`FcmStub.scripted` per test).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.stubs.server import StubServer

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth signs this audience whatever the token URL: Google's own endpoint.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

GOOD_TOKEN = "fcm-registration-token:APA91b-good"
UNREGISTERED = "fcm:unregistered"
INVALID_TOKEN = "fcm:invalid-token"
SENDER_ID_MISMATCH = "fcm:sender-id-mismatch"
QUOTA_EXCEEDED = "fcm:quota-exceeded"
UNAVAILABLE = "fcm:unavailable"
INTERNAL = "fcm:internal"


@dataclass(frozen=True, slots=True)
class Scripted:
    status: int
    state: str  # google.rpc.Code name
    error_code: str | None  # FcmError errorCode
    message: str
    bad_field: str | None = None


SCRIPTED: dict[str, Scripted] = {
    UNREGISTERED: Scripted(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
    INVALID_TOKEN: Scripted(
        400,
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
        bad_field="message.token",
    ),
    SENDER_ID_MISMATCH: Scripted(
        403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", "SenderId mismatch"
    ),
    QUOTA_EXCEEDED: Scripted(
        429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded for this device."
    ),
    UNAVAILABLE: Scripted(503, "UNAVAILABLE", "UNAVAILABLE", "The service is unavailable."),
    INTERNAL: Scripted(500, "INTERNAL", "INTERNAL", "Internal error encountered."),
}


def google_error(
    status: int,
    state: str,
    message: str,
    error_code: str | None = None,
    bad_field: str | None = None,
) -> JSONResponse:
    details: list[dict[str, Any]] = []
    if error_code:
        details.append({"@type": FCM_ERROR, "errorCode": error_code})
    if bad_field:
        details.append(
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [{"field": bad_field, "description": message}],
            }
        )
    error: dict[str, Any] = {"code": status, "message": message, "status": state}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    path: str
    headers: dict[str, str] = field(repr=False)
    body: dict[str, Any]
    status: int


class FcmStub(StubServer):
    def __init__(self) -> None:
        self.project_id = "mfa-stub-project"
        self.client_email = f"mfa-push@{self.project_id}.iam.gserviceaccount.com"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        self.scripted: dict[str, Scripted] = dict(SCRIPTED)
        self.requests: list[RecordedRequest] = []
        self.grants: list[dict[str, Any]] = []  # verified assertion claims
        self.access_tokens: set[str] = set()
        self.token_delay = 0.0  # seconds /token waits before answering
        super().__init__(
            Starlette(
                routes=[
                    Route("/token", self._token, methods=["POST"]),
                    Route("/v1/projects/{project}/messages:send", self._send, methods=["POST"]),
                ]
            )
        )

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    def service_account_info(self) -> dict[str, str]:
        """A service-account key file's content; its token_uri is Google's, as in real keys."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "0123456789abcdef",
            "private_key": self.key_pem,
            "client_email": self.client_email,
            "client_id": "123456789",
            "token_uri": GOOGLE_TOKEN_AUDIENCE,
        }

    def settings_overrides(self, credentials: str) -> dict[str, Any]:
        return {
            "push_transport": "fcm",
            "fcm_credentials": credentials,
            "fcm_base_url": self.base_url,
            "fcm_token_url": self.token_url,
        }

    def revoke_access_tokens(self) -> None:
        self.access_tokens.clear()

    def reset(self) -> None:
        self.scripted = dict(SCRIPTED)
        self.requests = []
        self.grants = []
        self.access_tokens = set()
        self.token_delay = 0.0

    @property
    def sent(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.status == 200]

    async def _token(self, request: Request) -> Response:
        grants = self.grants  # where the request began: see ApnsStub._send
        await asyncio.sleep(self.token_delay)
        form = dict(parse_qsl((await request.body()).decode()))
        if form.get("grant_type") != JWT_BEARER:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=self.client_email,
                options={"require": ["iat", "exp", "scope"]},
            )
        except jwt.PyJWTError:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400
            )
        if "https://www.googleapis.com/auth/firebase.messaging" not in claims["scope"].split():
            return JSONResponse({"error": "invalid_scope"}, 400)
        grants.append(claims)
        token = "ya29.stub-" + secrets.token_urlsafe(24)
        self.access_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def _send(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        response = self._answer(request, body)
        self.requests.append(
            RecordedRequest(
                request.url.path,
                dict(request.headers),
                body if isinstance(body, dict) else {},
                response.status_code,
            )
        )
        return response

    def _answer(self, request: Request, body: Any) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.access_tokens:
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        if request.path_params["project"] != self.project_id:
            return google_error(
                403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied"
            )
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict) or not isinstance(message.get("token"), str):
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "Invalid value at 'message.data': expected string values",
                "INVALID_ARGUMENT",
                "message.data",
            )
        scripted = self.scripted.get(message["token"])
        if scripted is not None:
            return google_error(
                scripted.status,
                scripted.state,
                scripted.message,
                scripted.error_code,
                scripted.bad_field,
            )
        name = f"projects/{self.project_id}/messages/{int(time.time() * 1000)}"
        return JSONResponse({"name": name})
