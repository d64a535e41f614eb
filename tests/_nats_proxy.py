"""A TCP relay between NATS clients and their server that reads what the server sends and can hold or drop the
messages a test picks: the network between a hub worker and its bus, made to misbehave on purpose.

It reads the NATS client protocol (``MSG`` and ``HMSG`` frames, every other line passed on as it is), so it works
only on a bus without TLS: ``BusAccess.unauthenticated``. What the clients send goes through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Mode", "NatsProxy", "is_ack_from"]


class Mode(enum.Enum):
    PASS = "pass"  # every message goes on
    HOLD = "hold"  # the chosen messages wait until release()
    DROP = "drop"  # the chosen messages never arrive


def is_ack_from(stream: str) -> Callable[[bytes], bool]:
    """Picks JetStream's acknowledgements of writes to ``stream`` (a PubAck names its stream)."""
    needle = f'"stream":"{stream}"'.encode()
    return lambda frame: needle in frame


class NatsProxy:
    """Listens on a loopback port and relays every connection to ``upstream`` (``nats://host:port``)."""

    def __init__(self, upstream: str, pick: Callable[[bytes], bool]) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 4222)
        self._pick = pick
        self.mode = Mode.PASS
        self.held: list[tuple[asyncio.StreamWriter, bytes]] = []
        self.dropped = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"nats://127.0.0.1:{port}"

    def release(self) -> None:
        """Send on what was held, in order, and hold nothing more."""
        self.mode = Mode.PASS
        held, self.held = self.held, []
        for writer, frame in held:  # no await in between: no frame of the relay's can come between these
            if not writer.is_closing():
                writer.write(frame)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(*self._upstream)
        up = self._spawn(self._pipe(client_in, server_out))
        down = self._spawn(self._frames(server_in, client_out))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_out, server_out):
            writer.close()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()

    async def _frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while line := await reader.readuntil(b"\r\n"):
                frame = line + await reader.readexactly(_payload_size(line))
                if self.mode is not Mode.PASS and self._pick(frame):
                    if self.mode is Mode.HOLD:
                        self.held.append((writer, frame))
                    else:
                        self.dropped += 1
                    continue
                writer.write(frame)
                await writer.drain()


def _payload_size(line: bytes) -> int:
    """How many bytes follow a protocol line: a message's payload and its CRLF, or none."""
    words = line.split()
    if words and words[0].upper() in (b"MSG", b"HMSG"):
        return int(words[-1]) + 2  # MSG: payload bytes last; HMSG: total (headers and payload) bytes last
    return 0
