"""The service and the client verify result signatures with one set of claim checks.

A real service issues every token here; each is then judged by
:meth:`MFAService.verify_result` (private key, in process) and by
:func:`mfa.client.verify_result` (public JWKS), which must agree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from mfa import MFAService
from mfa.client import AsyncClient, verify_result
from mfa.errors import InvalidToken, MFAError, QuotaExceeded, TransactionExpired
from mfa.results import VerifiedResult
from mfa.testing import FrozenClock
from mfa.tokens import TokenCodec
from transports.outbox import Outbox

pytestmark = pytest.mark.anyio

Outcome = VerifiedResult | type[MFAError]


def _claims(**changes: Any) -> dict[str, Any]:
    """The claims MFAService.sign_result issues, with ``changes`` (None drops one)."""
    claims: dict[str, Any] = {
        "sub": "alice",
        "tid": "acme",
        "txid": "tx_1",
        "amr": ["mfa", "otp"],
        "auth0_guardian_method": "otp",
        "auth0_guardian_accepted": True,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _outcome(verify: Callable[[], VerifiedResult]) -> Outcome:
    try:
        return verify()
    except MFAError as exc:
        return type(exc)


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_both_verifiers_judge_every_token_alike(
    client: AsyncClient, service: MFAService, clock: FrozenClock
) -> None:
    jwks = await client.jwks()
    ttl = service.settings.transaction_ttl_seconds
    genuine = service.sign_result("acme", "alice", "tx_1", "otp")
    foreign = TokenCodec(service.keys.signing, clock=clock, issuer="elsewhere")
    cases: dict[str, tuple[str, dict[str, str], Outcome | None]] = {
        "genuine": (genuine, {"txid": "tx_1"}, None),
        "another user": (genuine, {"user_id": "bob"}, InvalidToken),
        "another tenant": (genuine, {"tenant_id": "other"}, InvalidToken),
        "another transaction": (genuine, {"txid": "tx_2"}, InvalidToken),
        "expired": (service.codec.issue("sig", _claims(), 0), {}, TransactionExpired),
        "expired and another user": (
            service.codec.issue("sig", _claims(), 0),
            {"user_id": "bob"},
            TransactionExpired,
        ),
        "not accepted": (
            service.codec.issue("sig", _claims(auth0_guardian_accepted=False), ttl),
            {},
            InvalidToken,
        ),
        "no accepted claim": (
            service.codec.issue("sig", _claims(auth0_guardian_accepted=None), ttl),
            {},
            InvalidToken,
        ),
        "no txid claim": (service.codec.issue("sig", _claims(txid=None), ttl), {}, InvalidToken),
        "amr not a list": (service.codec.issue("sig", _claims(amr="otp"), ttl), {}, InvalidToken),
        "sub not a string": (service.codec.issue("sig", _claims(sub=7), ttl), {}, InvalidToken),
        "foreign issuer": (foreign.issue("sig", _claims(), ttl), {}, InvalidToken),
        "request token": (service.codec.issue("request", _claims(), ttl), {}, InvalidToken),
        "transaction token": (service.codec.issue("tx", _claims(), ttl), {}, InvalidToken),
        "tampered payload": (_tampered(genuine), {"user_id": "mallory"}, InvalidToken),
        "not a JWT": ("garbage", {}, InvalidToken),
    }
    for name, (token, expect, refusal) in cases.items():
        names = {"user_id": "alice", "tenant_id": "acme", **expect}
        by_service = _outcome(partial(service.verify_result, token, **names))
        by_client = _outcome(partial(verify_result, token, jwks, now=clock(), **names))
        assert by_service == by_client, name
        if refusal is None:
            assert isinstance(by_service, VerifiedResult), name
            assert (by_service.user_id, by_service.txid, by_service.method) == (
                "alice",
                "tx_1",
                "otp",
            )
        else:
            assert by_service is refusal, name


async def test_client_catches_a_quota_by_its_family(client: AsyncClient, outbox: Outbox) -> None:
    await client.create_tenant("acme", "Acme")
    await client.set_factor("acme", "sms", True)
    await client.set_quotas("acme", sms_per_user=(1, 600))
    tx = await client.start_flow(await client.request_token("acme", "dave"))
    await client.sms_enroll(tx, tx.enrollment_id, "+14155550124")
    with pytest.raises(QuotaExceeded) as refused:
        await client.sms_enroll(tx, tx.enrollment_id, "+14155550124")
    assert refused.value.code == "too_many_sms" and len(outbox) == 1
