"""Run an ASGI app on a real socket in a background thread (after httpx's ``serve_in_thread``).

Only tests that need real sockets use this: a vendor SDK with its own HTTP stack
(the Twilio SDK uses aiohttp), or a timeout that only a real connection shows.
The socket is bound before the thread starts, so the port is known and free of
races, and :meth:`ServerThread.stop` waits for the server to exit so that no
thread or socket outlives the test.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp


class ServerThread:
    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            # No lifespan, no websockets: nothing that could warn inside the thread,
            # where pytest's filterwarnings=error would turn it into a thread crash.
            lifespan="off",
            ws="none",
            http="h11",
            log_level="warning",
            access_log=False,
            server_header=False,  # as `mfa serve`: don't announce the server
            # A handler still sleeping at shutdown must not hold the test run.
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class StubServer:
    """Base of the vendor stubs: serves ``app`` in a :class:`ServerThread`.

    ``_release`` lets a scripted slow answer end early: it is set on reset and on
    stop, so no handler sleeping on it outlives its test.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._release = threading.Event()
        self._server = ServerThread(app)

    def _release_sleepers(self) -> None:
        self._release.set()
        self._release = threading.Event()

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._release.set()
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
