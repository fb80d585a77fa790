"""The error boundary: every malformed request gets its contract error, never a trace."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount

from mfa import CATALOGUE, MFAService, Settings, create_app
from mfa.errors import MFAError
from mfa.storage.memory import MemoryEphemeralStore
from mfa.storage.redis import RedisEphemeralStore
from tests.conftest import ADMIN_KEY, Api

pytestmark = pytest.mark.anyio


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers.get("x-request-id")
    body: dict[str, Any] = r.json()
    assert body["errorCode"] == code
    assert body["errorCode"] in CATALOGUE
    assert body["statusCode"] == status
    assert set(body) <= {"statusCode", "error", "message", "errorCode", "field", "method"}
    return body


async def _tx_token(api: Api) -> str:
    await api.tenant()
    return str((await api.start("acme", "u1"))["transaction_token"])


async def test_unknown_route_is_not_found(api: Api) -> None:
    assert_error(await api.http.get("/nope"), 404, "not_found")
    assert_error(await api.http.post("/api/nope", json={}), 404, "not_found")


async def test_wrong_method_is_405_not_found(api: Api) -> None:
    r = await api.http.get("/api/verify-otp")
    body = assert_error(r, 405, "not_found")
    assert body["error"] == "Method Not Allowed"
    assert "POST" in r.headers["allow"]


async def test_request_id_is_echoed_or_generated(api: Api) -> None:
    r = await api.http.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "abc-123"
    r = await api.http.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"


@pytest.mark.parametrize(
    ("content", "content_type", "needle"),
    [
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'"text"', "application/json", "JSON object"),
        (b"code=123456", "application/x-www-form-urlencoded", "Content-Type"),
        (b'{"code": "123456"}', "text/plain", "Content-Type"),
        (b'{"code": 123456}', "application/json", "code"),
        (b'{"code": "123456", "extra": 1}', "application/json", "extra"),
        (b'{"code": null}', "application/json", "code"),
    ],
)
async def test_malformed_bodies_are_invalid_body(
    api: Api, content: bytes, content_type: str, needle: str
) -> None:
    tx = await _tx_token(api)
    r = await api.http.post(
        "/api/verify-otp",
        content=content,
        headers={"Authorization": f"Bearer {tx}", "Content-Type": content_type},
    )
    body = assert_error(r, 400, "invalid_body")
    assert needle in body["message"]


async def test_body_over_limit_is_invalid_body(api: Api) -> None:
    tx = await _tx_token(api)
    big = json.dumps({"code": "1" * 200_000}).encode()
    r = await api.http.post(
        "/api/verify-otp",
        content=big,
        headers={"Authorization": f"Bearer {tx}", "Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_body")

    async def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        for _ in range(100):
            yield b"x" * 1024

    r = await api.http.post(
        "/api/verify-otp",
        content=chunks(),
        headers={"Authorization": f"Bearer {tx}", "Content-Type": "application/json"},
    )
    assert_error(r, 400, "invalid_body")


async def test_a_body_in_several_messages_is_read_whole(api: Api) -> None:
    tx = await _tx_token(api)

    async def pieces() -> Any:  # no Content-Length; ASGI messages with more_body
        for piece in (b'{"type": "manual_', b'input", "code"', b': "12345x"}'):
            yield piece

    r = await api.http.post(
        "/api/verify-otp",
        content=pieces(),
        headers={"Authorization": f"Bearer {tx}", "Content-Type": "application/json"},
    )
    # Parsed whole: the code's format is what is refused, not the JSON.
    assert_error(r, 400, "invalid_otp_format")


async def test_missing_fields_name_the_wire_field(api: Api) -> None:
    tx = await _tx_token(api)
    body = assert_error(await api.post("/api/verify-otp", tx, {}), 400, "field_required")
    assert body["field"] == "otpCode"
    body = assert_error(await api.post("/api/verify-otp", tx), 400, "field_required")
    assert body["field"] == "otpCode"
    body = assert_error(await api.post("/api/recover-account", tx, {}), 400, "field_required")
    assert body["field"] == "recoveryCode"
    r = await api.http.post("/api/tenants", json={"name": "x"}, headers=api.admin)
    assert assert_error(r, 400, "field_required")["field"] == "tenant_id"


async def test_unexpected_query_string(api: Api) -> None:
    tx = await _tx_token(api)
    r = await api.http.post(
        "/api/transaction-state?debug=1", headers={"Authorization": f"Bearer {tx}"}
    )
    assert_error(r, 400, "invalid_query_string")


async def test_empty_post_bodies_are_accepted(api: Api) -> None:
    tx = await _tx_token(api)
    # What superagent sends for send(null): no Content-Type, Content-Length: 0.
    r = await api.http.post(
        "/api/transaction-state", headers={"Authorization": f"Bearer {tx}", "Content-Length": "0"}
    )
    assert r.status_code == 200 and r.json()["state"] == "pending"
    r = await api.http.post(
        "/api/transaction-state", json={}, headers={"Authorization": f"Bearer {tx}"}
    )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "invalid_bearer_format"),
        ("Basic dXNlcjpwYXNz", "invalid_bearer_format"),
        ("Bearer", "invalid_bearer_format"),
        ('Ticket id="abc"', "invalid_bearer_format"),
        ("Bearer not-a-jwt", "invalid_token"),
        ("Bearer a.b.c", "invalid_token"),
    ],
)
async def test_bad_authorization(api: Api, header: str | None, code: str) -> None:
    headers = {"Authorization": header} if header else {}
    r = await api.http.post("/api/transaction-state", headers=headers)
    assert_error(r, 401, code)


async def test_forged_and_misused_tokens(api: Api) -> None:
    await api.tenant()
    request_token = await api.request_token("acme", "u1")
    # A request token is not a transaction token.
    r = await api.http.post(
        "/api/transaction-state", headers={"Authorization": f"Bearer {request_token}"}
    )
    assert_error(r, 401, "invalid_token")
    tx = (await api.start("acme", "u2"))["transaction_token"]
    head, payload, sig = tx.split(".")
    forged = f"{head}.{payload}.{sig[:-4]}AAAA"
    assert_error(await api.post("/api/transaction-state", forged), 401, "invalid_token")
    # A transaction token is not a request token.
    r = await api.http.post("/api/start-flow", headers={"Authorization": f"Bearer {tx}"})
    assert_error(r, 401, "invalid_token")
    # A request token opens one transaction only.
    ok = await api.http.post(
        "/api/start-flow", headers={"Authorization": f"Bearer {request_token}"}
    )
    assert ok.status_code == 200
    again = await api.http.post(
        "/api/start-flow", headers={"Authorization": f"Bearer {request_token}"}
    )
    assert_error(again, 401, "invalid_token")


async def test_expired_token_is_transaction_expired(api: Api, clock: Any) -> None:
    tx = await _tx_token(api)
    clock.advance(api.service.settings.transaction_ttl_seconds + 1)
    assert_error(await api.post("/api/transaction-state", tx), 401, "transaction_expired")


async def test_errors_endpoint_lists_the_catalogue(api: Api) -> None:
    r = await api.http.get("/api/errors")
    assert r.status_code == 200
    codes = {e["code"]: e["status"] for e in r.json()}
    assert len(codes) == 36
    assert codes == {c: s.status for c, s in CATALOGUE.items()}


async def test_openapi_is_generated_from_the_schemas(api: Api) -> None:
    doc = (await api.http.get("/api/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    verify = doc["paths"]["/api/verify-otp"]["post"]
    ref = verify["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert schema["required"] == ["code"]
    assert schema["additionalProperties"] is False
    assert "invalid_otp" in verify["responses"]["403"]["description"]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            for status, resp in op["responses"].items():
                if int(status) >= 400:
                    codes = resp["content"]["application/json"]["schema"]["allOf"][1]
                    assert set(codes["properties"]["errorCode"]["enum"]) <= set(CATALOGUE), path


async def test_appliance_prefix_serves_the_same_routes(api: Api) -> None:
    tx = await _tx_token(api)
    r = await api.http.post(
        "/appliance-mfa/api/transaction-state", headers={"Authorization": f"Bearer {tx}"}
    )
    assert r.status_code == 200
    assert_error(await api.http.get("/appliance-mfa/nope"), 404, "not_found")


async def test_mounted_under_a_prefix_in_a_host_app(service: MFAService) -> None:
    host = Starlette(routes=[Mount("/mfa", app=create_app(service=service))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host), base_url="http://host.test"
    ) as http:
        r = await http.post(
            "/mfa/api/tenants",
            json={"tenant_id": "acme", "name": "A"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert r.status_code == 201
        assert (await http.get("/mfa/healthz")).json() == {"status": "ok"}
        assert_error(await http.get("/mfa/nope"), 404, "not_found")
        assert_error(await http.get("/mfa/appliance-mfa/api/start-flow"), 405, "not_found")


async def test_a_host_apps_exception_handlers_stay_outside(settings: Settings) -> None:
    """A host that renders errors its own way keeps that to its own routes: inside
    the mounted mfa (here ``/metrics``, a plain Starlette route that raises a
    catalogue error) the boundary answers, with the contract error."""

    async def host_handler(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("the host's answer", status_code=418)

    service = MFAService(settings.replace(metrics_token="metrics-secret"))
    host = Starlette(
        routes=[Mount("/mfa", app=create_app(service=service))],
        exception_handlers={MFAError: host_handler, HTTPException: host_handler},
    )
    async with (
        service,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=host), base_url="http://host.test"
        ) as http,
    ):
        wrong = {"Authorization": "Bearer not-the-token"}
        assert_error(await http.get("/mfa/metrics", headers=wrong), 401, "invalid_token")


class ExplodingStore(MemoryEphemeralStore):
    """A store whose reads fail with a bug-like error (not a backend outage)."""

    async def get_transaction(self, tenant_id: str, txid: str) -> Any:
        raise RuntimeError("secret internal detail /etc/passwd")


async def test_unexpected_exception_is_internal_error_without_internals(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    service = MFAService(settings, ephemeral=ExplodingStore())
    app = create_app(service=service)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            api = Api(http, service)
            tx = await _tx_token(api)
            with caplog.at_level(logging.ERROR, logger="mfa.http"):
                r = await api.post("/api/transaction-state", tx)
        body = assert_error(r, 500, "internal_error")
        assert "secret" not in r.text and "Traceback" not in r.text
        assert body["message"] == CATALOGUE["internal_error"].api_message
        logged = "\n".join(rec.getMessage() + str(rec.exc_info) for rec in caplog.records)
        assert r.headers["x-request-id"] in logged and "secret internal detail" in logged
    finally:
        await service.close()


async def test_backend_down_is_503_with_retry_after_quickly(settings: Settings) -> None:
    import time

    # A port nothing listens on: the store must fail fast, not hang.
    store = RedisEphemeralStore("redis://127.0.0.1:1/0", timeout=0.5)
    service = MFAService(settings, ephemeral=store)
    app = create_app(service=service)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            started = time.monotonic()
            r = await http.post(
                "/api/tenants",
                json={"tenant_id": "acme", "name": "A"},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
            # Durable store still works: tenant creation does not need Redis.
            assert r.status_code == 201, r.text
            r = await http.post(
                "/api/tenants/acme/request-tokens",
                json={"user_id": "u"},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            )
            assert time.monotonic() - started < 5
        assert_error(r, 503, "service_unavailable")
        assert int(r.headers["retry-after"]) >= 1
        r2 = await httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ).get("/readyz")
        assert_error(r2, 503, "service_unavailable")
    finally:
        await service.close()


async def test_cors_for_browsers_on_another_origin(service: MFAService) -> None:
    app = create_app(
        service=MFAService(
            service.settings.replace(cors_origins=frozenset({"https://app.example"})),
            durable=service.durable,
            ephemeral=service.ephemeral,
            keys=service.keys,
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        pre = await http.options(
            "/api/verify-otp",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "https://app.example"
        r = await http.post("/api/transaction-state", headers={"Origin": "https://app.example"})
        assert_error(r, 401, "invalid_bearer_format")
        assert r.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
        other = await http.post("/api/transaction-state", headers={"Origin": "https://evil.test"})
        assert "access-control-allow-origin" not in other.headers


async def test_app_refuses_to_start_on_an_outdated_schema(settings: Settings) -> None:
    from mfa.storage.base import SchemaOutdated

    app = create_app(settings.replace(auto_migrate=False))
    with pytest.raises(SchemaOutdated, match="mfa db upgrade"):
        async with app.router.lifespan_context(app):
            pass
    await app.state.mfa.close()
    # Told to upgrade, the same file starts.
    app = create_app(settings.replace(auto_migrate=True))
    async with app.router.lifespan_context(app):
        assert (await app.state.mfa.durable.list_tenants()) == []
