"""Enrollment activity written behind (mfa.activity) waits out a database outage:
what was noted while PostgreSQL was unreachable is written once it returns, the
accepted TOTP steps (mfa.totp_steps) written with it included."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest

from mfa.activity import EnrollmentActivity
from mfa.errors import InvalidOtp, InvalidOtpFormat
from mfa.storage import Tenant, Transaction
from mfa.storage.base import BackendUnavailable
from mfa.storage.sql import SqlDurableStore, upgrade
from mfa.testing import FrozenClock
from mfa.totp_steps import TotpStepLog
from tests.storage.conftest import PG_PORT, PgDatabases, pg_url
from tests.storage.test_durable_contract import enrollment
from tests.storage.test_faults import TIMEOUT, TcpProxy

pytestmark = pytest.mark.anyio


def tx_of(eid: str) -> Transaction:
    return Transaction(
        txid="tx_1",
        tenant_id="acme",
        user_id="alice",
        kind="auth",
        expires_at=0,
        data={"enrollment_id": eid},
    )


@pytest.mark.postgres
async def test_notes_wait_for_the_database(pg_databases: PgDatabases) -> None:
    database = await pg_databases.create()
    await upgrade(pg_url(database))
    proxy = TcpProxy(PG_PORT)
    await proxy.start()
    store = SqlDurableStore(pg_url(database, port=proxy.port), timeout=TIMEOUT)
    clock = FrozenClock()
    steps = TotpStepLog()
    activity = EnrollmentActivity(store, clock, steps=steps)
    try:
        await store.open()
        await store.create_tenant(Tenant("acme", "Acme"))
        await store.create_enrollment(enrollment("enr_1", "alice"))
        await proxy.cut()
        activity.used(tx_of("enr_1"))
        steps.note("acme", "enr_1", 1000)
        activity.failed(tx_of("enr_1"), InvalidOtp(method="otp"))
        activity.failed(tx_of("enr_1"), InvalidOtpFormat())  # a bad request: not kept
        with pytest.raises(BackendUnavailable):
            await activity.flush()
        clock.advance(5)
        activity.used(tx_of("enr_1"))  # newer than the note put back: it wins
        steps.note("acme", "enr_1", 999)  # older than the step put back: it loses
        await proxy.start()
        await activity.flush()
        assert steps.take() == []  # written, not kept
        got = await store.get_enrollment("acme", "enr_1")
        assert got is not None
        assert got.totp_last_step == 1000
        assert got.last_used_at == datetime.fromtimestamp(clock(), UTC)
        assert got.last_error is not None and got.last_error["code"] == "invalid_otp"
        assert got.last_error["method"] == "otp"
    finally:
        await store.close()
        with contextlib.suppress(Exception):
            await proxy.cut()
