"""Which HTTP transport carries the agency calls under httpx's API: httpcore (httpx's own) or aiohttp.

Plugins always speak httpx (:class:`hub.AgencyHttp`); only the transport underneath changes. The bench
(``python -m bench``) measures both side by side: aiohttp's C-accelerated HTTP parser answers a sandbox
call in about half the time of httpcore's pure-Python one and keeps up far better under load, so it is the
default. ``http_transport = "httpcore"`` in settings (``MPP_HUB_HTTP_TRANSPORT``) swaps back.

httpx-aiohttp maps aiohttp's errors onto httpx's coarsely (a refused connection or a dropped one comes out
as ``ConnectTimeout``), and the hub tells a timeout from an unreachable agency by those types, so this
module maps them again, to the most specific httpx error, at one boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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


def _remapped(exc: BaseException) -> httpx.TransportError | None:
    """The httpx error an aiohttp (or asyncio) failure stands for; None when it is none of these."""
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
    return None


class _Stream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise (_remapped(exc.__cause__ or exc) or exc) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Aiohttp(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            raise (_remapped(exc.__cause__ or exc) or exc) from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Stream(response.stream)
        return response
