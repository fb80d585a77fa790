"""What the client raises when the answer is not the service's: unreachable hosts,
timeouts, proxies' HTML pages, malformed bodies. Never a bare httpx error."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from mfa.client import AsyncClient, Client
from mfa.errors import (
    InternalError,
    InvalidOtp,
    MFAError,
    NotFound,
    ServiceUnavailable,
    TooManySms,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (bound, then released), so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


async def test_connection_refused_async(closed_port: int) -> None:
    started = time.monotonic()
    async with AsyncClient(f"http://127.0.0.1:{closed_port}", "k", timeout=3) as c:
        with pytest.raises(ServiceUnavailable) as err:
            await c.get_tenant("acme")
    assert time.monotonic() - started < 3
    assert isinstance(err.value.__cause__, httpx.ConnectError)
    assert err.value.status == 503


def test_connection_refused_sync(closed_port: int) -> None:
    started = time.monotonic()
    with (
        Client(f"http://127.0.0.1:{closed_port}", timeout=3) as c,
        pytest.raises(ServiceUnavailable) as err,
    ):
        c.jwks()
    assert time.monotonic() - started < 3
    assert isinstance(err.value.__cause__, httpx.ConnectError)


async def test_timeout_async(silent_port: int) -> None:
    started = time.monotonic()
    async with AsyncClient(f"http://127.0.0.1:{silent_port}", timeout=0.2) as c:
        with pytest.raises(ServiceUnavailable) as err:
            await c.errors()
    assert time.monotonic() - started < 2
    assert isinstance(err.value.__cause__, httpx.TimeoutException)


def test_timeout_sync(silent_port: int) -> None:
    with (
        Client(f"http://127.0.0.1:{silent_port}", timeout=0.2) as c,
        pytest.raises(ServiceUnavailable) as err,
    ):
        c.errors()
    assert isinstance(err.value.__cause__, httpx.TimeoutException)


Handler = Callable[[httpx.Request], httpx.Response]
HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"


def _html(status: int, **headers: str) -> Handler:
    return lambda request: httpx.Response(
        status, text=HTML, headers={"Content-Type": "text/html", **headers}
    )


def _raise(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


CASES: list[tuple[str, Handler, type[MFAError], int | None]] = [
    ("proxy 502 page", _html(502), ServiceUnavailable, None),
    ("proxy 503 page", _html(503, **{"Retry-After": "7"}), ServiceUnavailable, 7),
    ("proxy 404 page", _html(404), NotFound, None),
    ("empty 500", lambda r: httpx.Response(500), InternalError, None),
    (
        "contract 429",
        lambda r: httpx.Response(
            429,
            json={"statusCode": 429, "error": "x", "message": "m", "errorCode": "too_many_sms"},
            headers={"Retry-After": "42"},
        ),
        TooManySms,
        42,
    ),
    (
        "contract 403",
        lambda r: httpx.Response(
            403, json={"statusCode": 403, "error": "x", "message": "m", "errorCode": "invalid_otp"}
        ),
        InvalidOtp,
        None,
    ),
    ("HTML with 200", _html(200), InternalError, None),
    ("JSON of the wrong shape", lambda r: httpx.Response(200, json=["x"]), InternalError, None),
    ("read timeout", _raise(httpx.ReadTimeout("slow")), ServiceUnavailable, None),
    ("dropped connection", _raise(httpx.RemoteProtocolError("eof")), ServiceUnavailable, None),
]


@pytest.mark.parametrize(
    ("handler", "error", "retry_after"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_responses_map_to_catalogue_errors(
    handler: Handler, error: type[MFAError], retry_after: int | None
) -> None:
    transport = httpx.MockTransport(handler)
    async with AsyncClient("http://mfa.test", "k", transport=transport) as c:
        with pytest.raises(error) as raised:
            await c.get_tenant("acme")
    assert type(raised.value) is error and raised.value.retry_after == retry_after
    with Client("http://mfa.test", "k", transport=transport) as s, pytest.raises(error):
        s.get_tenant("acme")


def test_requests_on_the_wire() -> None:
    """Paths are escaped, the API key and transaction tokens go where they belong."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with Client("http://h.test/mfa", "mfa_key", transport=httpx.MockTransport(handler)) as c:
        c.delete_enrollment("acme", "dev/../x")
        c.send_sms("tx-token")
    first, second = seen
    assert first.url.raw_path == b"/mfa/api/tenants/acme/enrollments/dev%2F..%2Fx"
    assert first.headers["authorization"] == "Bearer mfa_key"
    assert first.headers["user-agent"].startswith("mfa-client/")
    assert second.method == "POST" and second.url.path == "/mfa/api/send-sms"
    assert second.headers["authorization"] == "Bearer tx-token" and second.content == b""
