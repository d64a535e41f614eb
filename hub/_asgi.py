"""Serving an ASGI app (a sandbox, the portal edge) on a loopback port inside the hub's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from contracts import ContractError, ErrorCode

__all__ = ["AsgiServer", "HttpPortInUse", "check_port_free"]


class HttpPortInUse(OSError):
    """The address an HTTP server was to listen on is taken (by another hub or program)."""

    def __init__(self, host: str, port: int, setting: str = "") -> None:
        remedy = f": choose another with {setting}" if setting else ""
        super().__init__(f"HTTP port {port} on {host} is already in use, by another hub or program{remedy}")
        self.host, self.port = host, port


class _Server(uvicorn.Server):
    # The hub owns SIGINT/SIGTERM and stops every server itself; uvicorn must not grab them.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`HttpPortInUse` if any socket holds ``host:port``, even one that lets others join it.

    A socket bound with SO_REUSEPORT would let this process's SO_REUSEPORT socket join it silently: two hubs
    of one user splitting one port's connections. A bind without it fails on any holder.
    """
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise HttpPortInUse(host, port) from None
        raise


class _ContractHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering a request it cannot parse with a contract error that names the
    header at fault, as the edge answers every other bad request (httptools refuses, for one, a control character
    in a header value, which h11 let through to the edge's own check)."""

    _received = b""

    def data_received(self, data: bytes) -> None:
        self._received = data[:_HEAD_SCANNED]
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        error = ContractError(code=ErrorCode.INVALID_INPUT, message=_unparseable(self._received), retryable=False)
        body = error.model_dump_json().encode()
        head = f"content-type: application/json\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\n" + head.encode() + body)
        self.transport.close()


_HEAD_SCANNED = 16 * 1024
_HEADER_NAME = re.compile(rb"[A-Za-z0-9-]{1,64}")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _unparseable(received: bytes) -> str:
    """Why a request could not be read, naming the first header whose value holds a control character (never
    the value: it is the caller's, and may be anything)."""
    for line in received.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if _CONTROL.search(value) and _HEADER_NAME.fullmatch(name):
            return f"The {name.decode()} header holds a control character: send it as printable text"
    return "The request is not valid HTTP/1.1 and was not read"


class AsgiServer:
    """``app`` on ``host:port`` (0: any free port); ``reuse_port``: with SO_REUSEPORT, so that other processes
    of the same user can listen on the same port and the kernel spreads connections over them."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, reuse_port: bool = False) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, http=_ContractHttp, log_level="warning", lifespan="off", access_log=False
        )
        self._server = _Server(config)
        self._host, self._port, self._reuse_port = host, port, reuse_port
        self._task: asyncio.Task[None] | None = None
        self.url = ""
        self.port = port

    async def start(self) -> str:
        # Bound here, not by uvicorn, which logs and calls sys.exit(1) when the port is taken.
        try:
            # SO_REUSEADDR as always (create_server sets it on POSIX); SO_REUSEPORT only when asked.
            sock = socket.create_server((self._host, self._port), reuse_port=self._reuse_port)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise HttpPortInUse(self._host, self._port) from None
            raise
        # Connections accepted from it inherit this. asyncio sets TCP_NODELAY only on sockets made with proto
        # IPPROTO_TCP, which create_server's are not: with Nagle on, a response written in two parts waited
        # for the client's delayed ACK, 40 ms on every keep-alive request (found by the bench).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raises why it could not start (port in use, say)
                raise RuntimeError("the HTTP server stopped before it started")
            await asyncio.sleep(0.01)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url, self.port = f"http://{host}:{port}", port
        return self.url

    async def stop(self) -> None:
        if self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._task = None
