"""The in-process API answers as the HTTP client does: same types, same values,
same refusals; only the transport differs."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

import mfa
from mfa.client import AsyncClient, RequestToken, Transaction, TransactionState
from mfa.errors import InvalidBody, InvalidOtpFormat, InvalidToken, NotEnrolled, TenantNotFound
from mfa.factors import totp
from mfa.inprocess import InProcessClient
from mfa.testing import FrozenClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def local(service: mfa.MFAService) -> InProcessClient:
    return mfa.InProcessClient(service)


def _public(cls: type) -> set[str]:
    # Inherited ones too: both clients take some methods from a base by topic.
    return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}


def test_same_methods_and_signatures_as_the_client() -> None:
    assert _public(InProcessClient) == _public(AsyncClient) - {"aclose"}
    for name in _public(InProcessClient) - {"verify_result"}:
        ours = inspect.signature(getattr(InProcessClient, name))
        theirs = inspect.signature(getattr(AsyncClient, name))
        assert ours == theirs, name


# Fields that differ between two runs by design: ids, secrets, moments, the tenant.
_VARYING = {"key_id", "key", "id", "created_at", "token", "ticket_id", "expires_at", "tenant_id"}


def _shape(value: Any) -> Any:
    """A value with its secrets and moments blanked, to compare two runs."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, _shape(dataclasses.asdict(value)))
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k not in _VARYING}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


async def test_backend_calls_answer_alike(local: InProcessClient, client: AsyncClient) -> None:
    for api, tenant in ((client, "over-http"), (local, "in-process")):
        results = [
            await api.create_tenant(tenant, "Acme"),
            await api.set_factor(tenant, "sms", False),
            await api.set_feature(tenant, "enrollment", False),
            await api.set_quotas(tenant, sms_per_user=(3, 60)),
            await api.list_factors(tenant),
            await api.set_sms_otp_length(tenant, 8),
            await api.create_api_key(tenant, "ci", ["factors:read"]),
            await api.request_token(tenant, "alice"),
            await api.enrollment_ticket(tenant, "alice"),
            await api.list_enrollments(tenant, "alice"),
            await api.create_tenant(tenant + "-sbx", "Sandbox", sandbox=True),
        ]
        results.append(await api.get_tenant(tenant))
        if api is client:
            expected = [_shape(r) for r in results]
        else:
            assert [_shape(r) for r in results] == expected
    assert {t["tenant_id"] for t in await local.list_tenants()} == {
        "over-http",
        "over-http-sbx",
        "in-process",
        "in-process-sbx",
    }


async def test_refusals_are_the_api_refusals(local: InProcessClient, client: AsyncClient) -> None:
    for api in (client, local):
        with pytest.raises(InvalidBody):
            await api.set_quotas("acme", sms_per_user=(-3, 0))
        with pytest.raises(InvalidBody):
            await api.create_tenant("Not A Slug", "x")
        with pytest.raises(TenantNotFound):
            await api.get_tenant("ghost")
        with pytest.raises(InvalidBody):
            await api.create_api_key("acme", "ci", ["root"])
        tid = "refusals-http" if api is client else "refusals-local"
        await api.create_tenant(tid, "Refusals")
        with pytest.raises(NotEnrolled):
            await api.get_enrollment_status(tid, "nobody")


async def test_a_whole_login_in_process(local: InProcessClient, clock: FrozenClock) -> None:
    await local.create_tenant("acme", "Acme")
    token = await local.request_token("acme", "alice")
    assert isinstance(token, RequestToken)
    tx = await local.start_flow(token)
    assert isinstance(tx, Transaction) and not tx.enrolled and tx.otp_secret
    with pytest.raises(InvalidOtpFormat):  # the contract's code for any malformed code
        await local.verify_otp(tx, "1" * 65)
    await local.verify_otp(tx, totp.code_at(tx.otp_secret, clock()))
    state = await local.transaction_state(tx)
    assert isinstance(state, TransactionState) and state.accepted and state.token
    result = await local.verify_result(state.token, user_id="alice", tenant_id="acme")
    assert (result.user_id, result.method, result.txid) == ("alice", "otp", state.id)
    with pytest.raises(InvalidToken):
        await local.verify_result(state.token, user_id="bob", tenant_id="acme")


async def test_bad_codes_are_refused_like_http(local: InProcessClient) -> None:
    await local.create_tenant("acme", "Acme")
    tx = await local.start_flow(await local.request_token("acme", "alice"))
    with pytest.raises(InvalidOtpFormat):
        await local.verify_otp(tx, "abc")
