"""Pytest fixtures for the APNs and FCM stubs; import them into a test module to use them.

As in :mod:`tests.stubs.fixtures`: one server of each kind for the session, reset
around each test by the function-scoped fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stubs.apns_stub import ApnsStub
from tests.stubs.fcm_stub import FcmStub

__all__ = ["apns_server", "apns_stub", "fcm_server", "fcm_stub"]


@pytest.fixture(scope="session")
def apns_server() -> Iterator[ApnsStub]:
    with ApnsStub() as stub:
        yield stub


@pytest.fixture
def apns_stub(apns_server: ApnsStub) -> Iterator[ApnsStub]:
    apns_server.reset()
    yield apns_server
    apns_server.reset()


@pytest.fixture(scope="session")
def fcm_server() -> Iterator[FcmStub]:
    with FcmStub() as stub:
        yield stub


@pytest.fixture
def fcm_stub(fcm_server: FcmStub) -> Iterator[FcmStub]:
    fcm_server.reset()
    yield fcm_server
    fcm_server.reset()
