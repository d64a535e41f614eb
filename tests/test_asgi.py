"""The hub's own HTTP server (``hub._asgi.AsgiServer``: the edge, the sandboxes, a worker's /metrics)."""

from __future__ import annotations

import socket

from starlette.applications import Starlette

from hub._asgi import AsgiServer


async def test_the_connections_it_accepts_send_without_waiting_for_acks() -> None:
    """Nagle is off on every accepted connection (inherited from the listening socket, which the hub binds itself).

    asyncio turns it off only on sockets made as IPPROTO_TCP, which ``socket.create_server``'s are not; with it on,
    a response written in two parts waited for the client's delayed ACK: 40 ms on every keep-alive request.
    """
    server = AsgiServer(Starlette())
    await server.start()
    try:
        (listening,) = server._server.servers[0].sockets
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        await server.stop()
