"""The hub's own HTTP server (``hub._asgi.AsgiServer``: the edge, the sandboxes, a worker's /metrics)."""

from __future__ import annotations

import asyncio
import socket

import pytest
from starlette.applications import Starlette

from contracts import ContractError, ErrorCode
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


@pytest.mark.parametrize(
    ("request_bytes", "said"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Tag: a\x01b\r\n\r\n", "The X-Tag header holds a control character"),
        (b"NOT HTTP AT ALL\r\n\r\n", "not valid HTTP/1.1"),
    ],
    ids=["control-character", "garbage"],
)
async def test_a_request_it_cannot_parse_gets_a_contract_error(request_bytes: bytes, said: str) -> None:
    """The parser's own refusals are contract errors too, naming the header at fault but never echoing it."""
    server = AsgiServer(Starlette())
    url = await server.start()
    try:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request_bytes)
        answer = await reader.read()  # the server closes the connection after it
        writer.close()
    finally:
        await server.stop()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"content-type: application/json" in head
    error = ContractError.model_validate_json(body)
    assert error.code is ErrorCode.INVALID_INPUT and said in error.message
    assert b"a\x01b" not in answer
