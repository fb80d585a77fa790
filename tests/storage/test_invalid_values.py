"""Values PostgreSQL refuses as data come out as InvalidValue, never as an outage or a crash.

The HTTP schemas keep such values out; this is the store's own guarantee, for any
caller that skips them (the library API, a future route).
"""

from __future__ import annotations

import pytest

from mfa.storage import SqlDurableStore, Tenant
from mfa.storage.base import InvalidValue
from tests.storage.conftest import empty_pg_tables, pg_url

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.slow]


async def test_nul_and_unencodable_text_are_invalid_values(pg_migrated: str) -> None:
    await empty_pg_tables(pg_migrated)
    async with SqlDurableStore(pg_url(pg_migrated)) as store:
        for bad in ("a\x00b", "a\ud800b"):
            with pytest.raises(InvalidValue):
                await store.create_tenant(Tenant("acme", bad))
            with pytest.raises(InvalidValue):
                await store.get_tenant(bad)
            with pytest.raises(InvalidValue):
                await store.get_user_enrollment("acme", bad)
        # Too long for the column (tenant ids are VARCHAR(64)).
        with pytest.raises(InvalidValue):
            await store.create_tenant(Tenant("x" * 1000, "X"))
        # The store is none the worse.
        await store.create_tenant(Tenant("acme", "Acme"))
        assert (await store.get_tenant("acme")) is not None
