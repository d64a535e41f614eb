"""Real servers for tests: ASGI apps on real loopback sockets, each in a thread of its own."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from tests._until import until_sync


class ThreadedServer:
    """An ASGI app served by uvicorn in a background thread, independent of any test's event loop."""

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.url = ""
        self.port = 0

    def start(self) -> ThreadedServer:
        self._thread.start()

        def started() -> bool:
            if not self._thread.is_alive():
                raise RuntimeError("the test server's thread ended before it started serving")
            return bool(self._server.started)

        until_sync(started, "the test server to start", timeout=10)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


@contextlib.contextmanager
def serving(app: ASGIApp, port: int = 0) -> Iterator[ThreadedServer]:
    server = ThreadedServer(app, port).start()
    try:
        yield server
    finally:
        server.stop()


def healthz(url: str) -> dict[str, Any] | None:
    """A hub's ``/healthz`` answer once it says 200, else None (not up yet, or not answering): a probe for until."""
    try:
        response = httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None
