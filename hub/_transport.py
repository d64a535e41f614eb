"""Which HTTP transport carries the agency calls under httpx's API: httpcore (httpx's own) or aiohttp.

Plugins always speak httpx (:class:`hub.AgencyHttp`); only the transport underneath changes. The bench
(``python -m bench``) measures both side by side: aiohttp's C-accelerated HTTP parser answers a sandbox
call in about half the time of httpcore's pure-Python one and keeps up far better under load, so it is the
default. ``http_transport = "httpcore"`` in settings (``MPP_HUB_HTTP_TRANSPORT``) swaps back.

The aiohttp transport here keeps httpx-aiohttp's connection pool but sends each request itself: it reads
the answer whole (the hub never streams one) and maps aiohttp's errors to the most specific httpx error at
one boundary, since the hub tells a timeout from an unreachable agency by those types (httpx-aiohttp's own
mapping is coarse: a refused connection or a dropped one came out as ``ConnectTimeout``).
"""

from __future__ import annotations

from typing import Literal

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["DEFAULT_TRANSPORT", "HttpTransport", "agency_transport", "use_transport"]

HttpTransport = Literal["httpcore", "aiohttp"]
DEFAULT_TRANSPORT: HttpTransport = "aiohttp"

_chosen: HttpTransport = DEFAULT_TRANSPORT
# httpx's own pool sizes; an idle connection is let go after 4 s, before the 5 s keep-alive of common servers
# (uvicorn's, so every sandbox's) ends, so the hub never sends on a connection the agency is closing.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=4.0)


def use_transport(kind: HttpTransport) -> None:
    """The transport of every agency link this process opens from now on (the hub sets it from settings)."""
    global _chosen
    _chosen = kind


def agency_transport(kind: HttpTransport | None = None) -> httpx.AsyncBaseTransport | None:
    """A new transport of ``kind`` (default: the process's choice); None means httpx's own (httpcore)."""
    if (kind or _chosen) == "httpcore":
        return None
    return _Aiohttp(limits=_LIMITS)


def _remapped(exc: BaseException) -> httpx.TransportError:
    """The httpx error an aiohttp (or asyncio) failure stands for."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc))
    if isinstance(exc, TimeoutError):  # aiohttp's socket and server timeouts are TimeoutErrors too
        return httpx.ReadTimeout(str(exc) or "timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(str(exc))
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientConnectionError):
        return httpx.ReadError(str(exc))
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(str(exc))
    return httpx.ProtocolError(str(exc))  # an answer aiohttp could not take as HTTP


class _Aiohttp(AiohttpTransport):
    """httpx-aiohttp's pool, sending the way the hub reads: the whole answer at once.

    The hub never streams an agency answer (:meth:`hub.AgencyHttp.send` reads it whole), so the body is
    read here, under aiohttp's own read timeout, and handed to httpx as bytes: the chain of async
    iterators httpx-aiohttp builds over aiohttp's reader cost more per call than the read itself.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        data = _body(request)  # before the headers are read: a streamed upload loses its Transfer-Encoding
        try:
            async with self.client.request(
                request.method,
                str(request.url),
                # Pairs, not httpx's Headers: aiohttp reads a mapping key by key, each lookup a scan.
                headers=request.headers.multi_items(),
                data=data,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes, as it does on its own transport
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read"), connect=timeout.get("pool")
                ),
                server_hostname=request.extensions.get("sni_hostname"),
            ) as answer:
                body = await answer.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _remapped(exc) from exc
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (answer.reason or "").encode()},
        )


def _body(request: httpx.Request) -> bytes | httpx.AsyncByteStream | None:
    try:
        return request.content or None
    except httpx.RequestNotRead:  # a streamed upload: aiohttp reads the stream and sets the framing itself
        request.headers.pop("transfer-encoding", None)
        assert isinstance(request.stream, httpx.AsyncByteStream)
        return request.stream
