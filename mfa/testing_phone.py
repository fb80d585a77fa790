"""A Guardian phone in Python: what Guardian.Android and Guardian.swift send, nothing more.

Shipped for tests (ours and hosts') and used by ``examples/phone.py``. It builds
the phone's requests as :class:`httpx.Request` objects, so one phone works with a
sync or an async client, over a socket or an ASGI transport::

    phone = Phone("http://127.0.0.1:8000")
    account = phone.enrolled(await http.send(phone.enroll_request(enrollment_tx_id)))
    ...  # the browser sends a push; the transport hands over its payload
    await http.send(phone.resolve_request(payload, accept=True))

Like the SDKs it talks to ``<base>/appliance-mfa`` (guardian-wire §1.1), keeps an
RSA 2048 key, sends the modulus with a leading zero byte (as Android's
``BigInteger.toByteArray`` does), and signs answers with RS256 (§3.2, §3.3).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["Phone", "PhoneAccount", "parse_enrollment_uri"]

APPLIANCE = "/appliance-mfa"
NUMBER_CLAIM = "mfa_number"  # mfa.flows.push.NUMBER_CLAIM, kept apart: no server import


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _api_base(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith(APPLIANCE) else url + APPLIANCE


def parse_enrollment_uri(uri: str) -> tuple[str, str | None]:
    """``(ticket, base_url)`` of a push enrollment URI (guardian-wire §3.6); a string
    that is no such URI is the ticket itself, as on the SDKs."""
    if not uri.startswith("otpauth://"):
        return uri, None
    query = parse_qs(urlsplit(uri).query)
    ticket = query.get("enrollment_tx_id", [""])[0]
    base = query.get("base_url", [None])[0]
    if not ticket:
        raise ValueError("the URI has no enrollment_tx_id")
    return ticket, base


@dataclass(frozen=True)
class PhoneAccount:
    """What the service answered at enrollment (§3.1)."""

    enrollment_id: str
    user_id: str
    url: str
    issuer: str
    device_token: str
    totp_secret: str


class Phone:
    def __init__(
        self,
        base_url: str,
        *,
        name: str = "Sim Phone",
        service: str = "GCM",
        push_token: str | None = None,
        identifier: str | None = None,
        key: rsa.RSAPrivateKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.service = service
        self.push_token = push_token if push_token is not None else f"pt-{uuid.uuid4().hex}"
        self.identifier = identifier or f"sim-{uuid.uuid4().hex[:16]}"
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.clock = clock
        self.account: PhoneAccount | None = None

    # ------------------------------------------------------------------ enroll

    def public_jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        # One byte more than needed: a leading 0x00, as the SDKs send it.
        n = numbers.n.to_bytes(numbers.n.bit_length() // 8 + 1, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "n": _b64url(n), "e": _b64url(e)}

    def enroll_request(self, ticket_or_uri: str) -> httpx.Request:
        ticket, base = parse_enrollment_uri(ticket_or_uri)
        if base:
            self.base_url = base.rstrip("/")
        body: dict[str, Any] = {
            "identifier": self.identifier,
            "name": self.name,
            "public_key": self.public_jwk(),
        }
        if self.push_token:  # Android leaves push_credentials out without a token
            body["push_credentials"] = {"service": self.service, "token": self.push_token}
        return httpx.Request(
            "POST",
            _api_base(self.base_url) + "/api/enroll",
            json=body,
            headers={"Authorization": f'Ticket id="{ticket}"'},
        )

    def enrolled(self, response: httpx.Response) -> PhoneAccount:
        """Keep the enrollment the service answered; raises on an error answer."""
        response.raise_for_status()
        body = response.json()
        self.account = PhoneAccount(
            enrollment_id=body["id"],
            user_id=body["user_id"],
            url=body["url"],
            issuer=body["issuer"],
            device_token=body["token"],
            totp_secret=body["totp"]["secret"],
        )
        return self.account

    # ------------------------------------------------------------------ push

    def answer(
        self,
        payload: dict[str, Any],
        *,
        accept: bool,
        reason: str | None = None,
        number: str | None = None,
        audience: str | None = None,
        lifetime: float = 30,
    ) -> str:
        """The challenge_response JWT for a push ``payload`` (§3.2)."""
        now = self.clock()
        claims: dict[str, Any] = {
            "iat": now,  # a float, like Guardian.swift
            "exp": now + lifetime,
            "aud": audience or self._server(payload) + "/api/resolve-transaction",
            "iss": self.identifier,
            "sub": payload["c"],
            "auth0_guardian_method": "push",
            "auth0_guardian_accepted": accept,
        }
        if reason is not None:
            claims["auth0_guardian_reason"] = reason
        if number is not None:
            claims[NUMBER_CLAIM] = number
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"typ": "JWT"})

    def resolve_request(
        self,
        payload: dict[str, Any],
        *,
        accept: bool,
        challenge_response: str | None = None,
        **kw: Any,
    ) -> httpx.Request:
        token = challenge_response or self.answer(payload, accept=accept, **kw)
        return httpx.Request(
            "POST",
            self._server(payload) + "/api/resolve-transaction",
            json={"challenge_response": token},
            headers={"Authorization": f"Bearer {payload['txtkn']}"},
        )

    def _server(self, payload: dict[str, Any]) -> str:
        sh = str(payload.get("sh") or self.base_url)
        return _api_base(sh if sh.startswith("http") else f"https://{sh}")

    # ------------------------------------------------------------------ device account

    def device_jwt(self, *, lifetime: float = 7200) -> str:
        """The device's own credential for device-account calls (§3.3)."""
        account = self._account()
        now = int(self.clock())
        claims = {
            "iat": now,
            "exp": now + lifetime,
            "aud": _api_base(self.base_url) + "/api/device-accounts",
            "iss": account.enrollment_id,
            "sub": account.user_id,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"typ": "JWT"})

    def update_request(
        self,
        *,
        name: str | None = None,
        identifier: str | None = None,
        push_token: str | None = None,
        use_jwt: bool = True,
        enrollment_id: str | None = None,
    ) -> httpx.Request:
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if identifier is not None:
            body["identifier"] = identifier
        if push_token is not None:
            body["push_credentials"] = {"service": self.service, "token": push_token}
        return httpx.Request(
            "PATCH", self._device_url(enrollment_id), json=body, headers=self._auth(use_jwt)
        )

    def delete_request(
        self, *, use_jwt: bool = True, enrollment_id: str | None = None
    ) -> httpx.Request:
        return httpx.Request("DELETE", self._device_url(enrollment_id), headers=self._auth(use_jwt))

    def _device_url(self, enrollment_id: str | None) -> str:
        eid = enrollment_id or self._account().enrollment_id
        return f"{_api_base(self.base_url)}/api/device-accounts/{eid}"

    def _auth(self, use_jwt: bool) -> dict[str, str]:
        token = self.device_jwt() if use_jwt else self._account().device_token
        return {"Authorization": f"Bearer {token}"}

    def _account(self) -> PhoneAccount:
        if self.account is None:
            raise RuntimeError("the phone is not enrolled")
        return self.account


def source_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The ``s`` (source) entry of a payload: a JSON string on FCM, an object on APNs."""
    s = payload.get("s")
    if isinstance(s, str):
        value: dict[str, Any] = json.loads(s)
        return value
    return s if isinstance(s, dict) else {}
