"""Helpers for the event tests: wait for the relay, read the audit trail over HTTP."""

from __future__ import annotations

from typing import Any

from mfa import MFAService
from tests.conftest import Api


async def moved(service: MFAService) -> None:
    """Move every event still in a stream to the audit table (what the background
    relay does every 0.2 s), so a test reads a settled trail."""
    service.relay.forget_tenants()
    await service.relay.run_once()


async def trail(api: Api, tenant: str, **query: str) -> list[dict[str, Any]]:
    await moved(api.service)
    r = await api.http.get(f"/api/tenants/{tenant}/events", params=query, headers=api.admin)
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events
