from __future__ import annotations

import pytest

from tests.stubs.fixtures import (  # noqa: F401 - fixtures, found by name
    twilio_stub,
    twilio_stub_server,
    webhook_receiver,
    webhook_receiver_server,
)
from tests.stubs.push_fixtures import (  # noqa: F401 - fixtures, found by name
    apns_server,
    apns_stub,
    fcm_server,
    fcm_stub,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
