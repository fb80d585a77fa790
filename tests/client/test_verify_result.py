"""Result signatures verified offline against the JWKS, as a host in another process does."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from mfa import MFAService, create_app
from mfa.client import AsyncClient, verify_result
from mfa.errors import InvalidToken, TransactionExpired
from mfa.keys import generate_signing_jwk
from mfa.testing import FrozenClock

pytestmark = pytest.mark.anyio


def _signature(service: MFAService, user: str = "alice", tenant: str = "acme") -> str:
    """A real result signature, as verify-otp stores it on success."""
    return service.sign_result(tenant, user, "tx_123", "otp")


async def test_valid_signature(client: AsyncClient, service: MFAService) -> None:
    jwks = await client.jwks()
    result = verify_result(_signature(service), jwks, user_id="alice", tenant_id="acme")
    assert (result.user_id, result.tenant_id, result.txid) == ("alice", "acme", "tx_123")
    assert result.method == "otp" and result.amr == ["mfa", "otp"]
    assert result.expires_at - result.issued_at == service.settings.transaction_ttl_seconds
    assert verify_result(
        _signature(service), jwks, user_id="alice", tenant_id="acme", txid="tx_123"
    )


async def test_tampered_and_foreign_tokens(client: AsyncClient, service: MFAService) -> None:
    jwks = await client.jwks()
    token = _signature(service)
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    cases = {
        "payload swapped": f"{header}.{forged}.{sig}",
        "signature flipped": f"{header}.{payload}.{flipped}",
        "not a JWT": "garbage",
        "empty": "",
        # A request token is a JWT of ours too, but HS256 and of another kind.
        "request token": service.codec.issue("request", {"sub": "alice", "tid": "acme"}, 60),
        "alg none": jwt.encode({"sub": "alice", "tid": "acme", "mfa_t": "sig"}, "", "none"),
    }
    for name, bad in cases.items():
        with pytest.raises(InvalidToken):
            verify_result(bad, jwks, user_id="alice", tenant_id="acme")
            pytest.fail(name)

    # Well signed, by a key the service does not publish.
    stranger = generate_signing_jwk()
    alien = jwt.encode(
        {"sub": "alice", "tid": "acme", "mfa_t": "sig", "iat": 1, "exp": time.time() + 60},
        jwt.PyJWK(stranger).key,
        algorithm="ES256",
        headers={"kid": stranger["kid"]},
    )
    with pytest.raises(InvalidToken, match="key"):
        verify_result(alien, jwks, user_id="alice", tenant_id="acme")
    # The same key id with another key: the signature check refuses it.
    published = jwks["keys"][0]["kid"]
    impostor = jwt.encode(
        {"sub": "alice", "tid": "acme", "mfa_t": "sig", "iat": 1, "exp": time.time() + 60},
        jwt.PyJWK(stranger).key,
        algorithm="ES256",
        headers={"kid": published},
    )
    with pytest.raises(InvalidToken):
        verify_result(impostor, jwks, user_id="alice", tenant_id="acme")


async def test_wrong_user_tenant_or_transaction(client: AsyncClient, service: MFAService) -> None:
    jwks = await client.jwks()
    token = _signature(service)
    with pytest.raises(InvalidToken, match="sub"):
        verify_result(token, jwks, user_id="bob", tenant_id="acme")
    with pytest.raises(InvalidToken, match="tid"):
        verify_result(token, jwks, user_id="alice", tenant_id="other")
    with pytest.raises(InvalidToken, match="txid"):
        verify_result(token, jwks, user_id="alice", tenant_id="acme", txid="tx_other")


async def test_expiry(client: AsyncClient, service: MFAService, clock: FrozenClock) -> None:
    jwks = await client.jwks()
    ttl = service.settings.transaction_ttl_seconds
    token = _signature(service)
    clock.advance(ttl - 1)
    verify_result(token, jwks, user_id="alice", tenant_id="acme", now=clock())
    clock.advance(1)
    with pytest.raises(TransactionExpired):
        verify_result(token, jwks, user_id="alice", tenant_id="acme", now=clock())
    verify_result(token, jwks, user_id="alice", tenant_id="acme", now=clock(), leeway=5)
    # Without ``now`` the real time counts: a signature issued an hour ago is stale.
    clock.set(time.time() - 3600)
    old = _signature(service)
    with pytest.raises(TransactionExpired):
        verify_result(old, jwks, user_id="alice", tenant_id="acme")
    with pytest.raises(TransactionExpired):
        await client.verify_result(old, user_id="alice", tenant_id="acme")


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)


async def test_client_caches_the_jwks(service: MFAService, clock: FrozenClock) -> None:
    counting = CountingTransport(httpx.ASGITransport(app=create_app(service=service)))
    async with AsyncClient("http://mfa.test", transport=counting) as c:
        for _ in range(3):
            await c.verify_result(_signature(service), user_id="alice", tenant_id="acme")
        assert counting.paths == ["/.well-known/jwks.json"]
        # A token naming an unknown key does not refetch within the refresh delay.
        stranger = generate_signing_jwk()
        alien = jwt.encode(
            {"sub": "alice", "tid": "acme", "mfa_t": "sig", "iat": 1, "exp": time.time() + 60},
            jwt.PyJWK(stranger).key,
            algorithm="ES256",
            headers={"kid": stranger["kid"]},
        )
        with pytest.raises(InvalidToken):
            await c.verify_result(alien, user_id="alice", tenant_id="acme")
        assert len(counting.paths) == 1
