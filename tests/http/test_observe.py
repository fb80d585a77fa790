"""Operations: Prometheus metrics at /metrics and JSON log lines with the request id.

The answers counted are provoked through HTTP in a sandbox tenant (its magic
inputs fail deliveries and stand in for a backend outage), then read back from
/metrics in Prometheus' text format, parsed with prometheus-client's own parser.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mfa import MFAService, Settings, create_app
from mfa.logs import JsonFormatter
from mfa.sandbox import MAGIC_PHONE_NUMBERS
from mfa.testing import FrozenClock
from tests.conftest import Api
from tests.http.test_boundary import assert_error
from tests.http.test_sandbox_walk import FAIL, PHONE, Walk

pytestmark = pytest.mark.anyio

OUTAGE = next(k for k, v in MAGIC_PHONE_NUMBERS.items() if v == "service_unavailable")
UNDELIVERABLE = next(k for k, v in MAGIC_PHONE_NUMBERS.items() if v == "error_sending_sms")


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(
    http: httpx.AsyncClient, **headers: str
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = await http.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


async def test_requests_deliveries_quotas_and_backend_errors_are_counted(
    api: Api, clock: FrozenClock
) -> None:
    w = Walk(api, clock)
    await w.tenant()
    tx = (await w.start("ann"))["transaction_token"]
    assert_error(await w.verify(tx, FAIL), 403, "invalid_otp")
    assert (await w.sms_enroll("bob", PHONE)).status_code == 204
    assert_error(await w.sms_enroll("cid", UNDELIVERABLE), 502, "error_sending_sms")
    assert_error(await w.sms_enroll("dan", OUTAGE), 503, "service_unavailable")
    await w.quota("sms_per_tenant", 1)
    assert_error(await w.sms_enroll("eve", PHONE), 429, "too_many_sms_per_tenant")
    assert (await api.http.get(f"/api/tenants/{w.tid}", headers=api.admin)).status_code == 200
    assert_error(await api.http.get("/api/nowhere"), 404, "not_found")

    found = await scrape(api.http)
    total = "mfa_http_requests_total"
    verify = {"route": "/api/verify-otp", "method": "POST"}
    assert value(found, total, **verify, status="403", error_code="invalid_otp") == 1
    # Route templates, not raw paths: the labels stay few.
    tenant = {"route": "/api/tenants/{tenant_id}", "method": "GET", "status": "200"}
    assert value(found, total, **tenant, error_code="") == 1
    assert (
        value(found, total, route="unmatched", method="GET", status="404", error_code="not_found")
        == 1
    )
    sms = {"channel": "sms", "transport": "sandbox"}
    assert value(found, "mfa_deliveries_total", **sms, outcome="sent") == 1
    assert value(found, "mfa_deliveries_total", **sms, outcome="error_sending_sms") == 1
    assert value(found, "mfa_quota_refusals_total", code="too_many_sms_per_tenant") == 1
    enroll = "/api/device-accounts/{enrollment_id}/sms-enroll"
    assert value(found, "mfa_backend_errors_total", route=enroll) == 1
    count = value(found, "mfa_http_request_duration_seconds_count", **verify)
    assert count == 1
    assert value(found, "mfa_http_request_duration_seconds_bucket", **verify, le="+Inf") == 1
    assert all(name.startswith("mfa_") for name, _ in found)
    # The configured transport's deliveries carry its name.
    assert (
        value(found, "mfa_deliveries_total", channel="sms", transport="outbox", outcome="sent") == 0
    )


async def test_metrics_are_outside_the_api_document(api: Api) -> None:
    document = (await api.http.get("/api/openapi.json")).json()
    assert "/metrics" not in document["paths"]
    assert_error(await api.http.get("/appliance-mfa/metrics"), 404, "not_found")


async def test_a_metrics_token_guards_the_metrics(settings: Settings, clock: FrozenClock) -> None:
    service = MFAService(
        settings.model_copy(update={"metrics_token": "s3cret-scrape"}), clock=clock
    )
    transport = httpx.ASGITransport(app=create_app(service=service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http:
            assert_error(await http.get("/metrics"), 401, "invalid_bearer_format")
            wrong = {"Authorization": "Bearer nope"}
            assert_error(await http.get("/metrics", headers=wrong), 401, "invalid_token")
            found = await scrape(http, Authorization="Bearer s3cret-scrape")
            refused = {"route": "/metrics", "method": "GET", "status": "401"}
            assert (
                value(found, "mfa_http_requests_total", **refused, error_code="invalid_token") == 1
            )
    finally:
        await service.close()


async def test_metrics_can_be_switched_off(settings: Settings, clock: FrozenClock) -> None:
    service = MFAService(settings.model_copy(update={"metrics": False}), clock=clock)
    transport = httpx.ASGITransport(app=create_app(service=service))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http:
            assert_error(await http.get("/metrics"), 404, "not_found")
    finally:
        await service.close()


async def test_cors_preflights_are_counted_and_errors_keep_their_code(
    settings: Settings, clock: FrozenClock
) -> None:
    # CORSMiddleware answers a preflight outside the error boundary, so Observe
    # watches that answer itself; every other answer is the boundary's.
    service = MFAService(
        settings.model_copy(update={"cors_origins": frozenset({"https://app.example"})}),
        clock=clock,
    )
    transport = httpx.ASGITransport(app=create_app(service=service))
    origin = {"Origin": "https://app.example"}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://mfa.test") as http:
            for allowed in ("POST", "TRACE"):  # CORS answers 200, then 400
                pre = {**origin, "Access-Control-Request-Method": allowed}
                await http.options("/api/verify-otp", headers=pre)
            r = await http.post("/api/transaction-state", headers=origin)
            assert_error(r, 401, "invalid_bearer_format")
            assert r.headers["access-control-allow-origin"] == "https://app.example"
            # An OPTIONS that is no preflight reaches the boundary: a 405 with its code.
            assert_error(await http.options("/api/verify-otp"), 405, "not_found")
            found = await scrape(http)
    finally:
        await service.close()
    total = "mfa_http_requests_total"
    preflight = {"route": "unmatched", "method": "OPTIONS", "error_code": ""}
    assert value(found, total, **preflight, status="200") == 1
    assert value(found, total, **preflight, status="400") == 1
    state = {"route": "/api/transaction-state", "method": "POST", "status": "401"}
    assert value(found, total, **state, error_code="invalid_bearer_format") == 1
    wrong = {"route": "/api/verify-otp", "method": "OPTIONS", "status": "405"}
    assert value(found, total, **wrong, error_code="not_found") == 1
    latency = "mfa_http_request_duration_seconds_count"
    assert value(found, latency, route="unmatched", method="OPTIONS") == 2


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mfa")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


async def test_log_lines_carry_the_request_id(
    api: Api, clock: FrozenClock, json_lines: io.StringIO
) -> None:
    w = Walk(api, clock)
    await w.tenant()
    # The boundary logs an outage; the sandbox stands in for one.
    r = await w.sms_enroll("ann", OUTAGE)
    assert_error(r, 503, "service_unavailable")
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    (line,) = [x for x in lines if x["logger"] == "mfa.http"]
    assert line["request_id"] == r.headers["x-request-id"] and line["level"] == "warning"
    assert set(line) == {"time", "level", "logger", "message", "request_id"}
    assert line["time"].endswith("Z")
    # A client's well-formed id is kept, echoed and logged; a malformed one replaced.
    start = await w.start("bob")
    path = f"/api/device-accounts/{start['device_account']['id']}/sms-enroll"
    for sent in ("support-ticket-42", "bad id"):
        headers = {"Authorization": f"Bearer {start['transaction_token']}", "X-Request-Id": sent}
        r = await api.http.post(path, json={"phone_number": OUTAGE}, headers=headers)
        echoed = r.headers["x-request-id"]
        assert (echoed == sent) is (sent == "support-ticket-42")
        last = json.loads(json_lines.getvalue().splitlines()[-1])
        assert last["request_id"] == echoed
