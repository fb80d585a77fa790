"""Run an ASGI app with Hypercorn on a real socket in a background thread, speaking HTTP/2.

uvicorn (:mod:`tests.stubs.server`) speaks HTTP/1.1 only; Apple's APNs speaks
HTTP/2 only, so its stub runs here. Hypercorn serves cleartext HTTP/2 to clients
that open with the HTTP/2 preface (prior knowledge, "h2c"), which is what our
APNs client does on an ``http://`` base URL; given a certificate, it serves TLS
with ALPN ``h2``, as Apple does. Same shape as
:class:`tests.stubs.server.ServerThread`: the socket is bound before the thread
starts, and :meth:`stop` waits for the server to exit.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from types import TracebackType

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.types import ASGIApp


class H2ServerThread:
    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", tls: tuple[str, str] | None = None
    ) -> None:
        """``tls`` is (certificate file, key file): then HTTPS, with ALPN offering h2."""
        self._app = app
        self._tls = tls
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        # Hypercorn does not listen on sockets it is handed by descriptor.
        self._sock.listen(64)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        config = Config()
        # A duplicate: Hypercorn closes the socket it serves, and so do we.
        binding = f"fd://{os.dup(self._sock.fileno())}"
        if self._tls:
            config.certfile, config.keyfile = self._tls
            config.alpn_protocols = ["h2"]  # as Apple: HTTP/2 or nothing
        config.bind = [binding]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 1
        self._started.set()
        await serve(self._app, config, shutdown_trigger=self._stopping.wait, mode="asgi")  # type: ignore[arg-type]

    def start(self) -> None:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the HTTP/2 test server did not start")

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> H2ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
