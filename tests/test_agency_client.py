"""The agency link (hub.AgencyHttp) over real HTTP: no cookie rides from one call to the next, URLs join
as httpx joins them, and both transports carry headers, bodies and failures the same way."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contracts import ErrorCode, HubError
from hub import AgencyHttp
from hub._agency_http import _AgencyClient
from hub._asgi import AsgiServer
from hub._transport import DEFAULT_TRANSPORT, HttpTransport, use_transport

TRANSPORTS: list[HttpTransport] = ["aiohttp", "httpcore"]


async def _sets_a_cookie(_: Request) -> Response:
    answer = JSONResponse({"nik": "3171010101900001"})
    answer.set_cookie("session", "citizen-a", path="/")
    answer.set_cookie("tracking", "t1", path="/", domain="127.0.0.1")
    return answer


async def _echo(request: Request) -> Response:
    return JSONResponse(
        {
            "cookie": request.headers.get("cookie"),
            "x_a": request.headers.getlist("x-a"),
            "path": request.url.path,
            "body": (await request.body()).decode(),
        }
    )


async def _zipped(_: Request) -> Response:
    return Response(gzip.compress(b'{"ok": true}'), media_type="application/json", headers={"content-encoding": "gzip"})


_APP = Starlette(
    routes=[
        Route("/agency/login", _sets_a_cookie, methods=["POST"]),
        Route("/agency/echo", _echo, methods=["GET", "POST"]),
        Route("/agency/zipped", _zipped),
    ]
)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Iterator[HttpTransport]:
    kind: HttpTransport = request.param
    use_transport(kind)
    try:
        yield kind
    finally:
        use_transport(DEFAULT_TRANSPORT)


@pytest.fixture
async def agency(transport: HttpTransport) -> AsyncIterator[AgencyHttp]:
    server = AsgiServer(_APP)
    url = await server.start()
    http = AgencyHttp(agency="test", name="Test agency", base_url=f"{url}/agency", timeout=5)
    try:
        yield http
    finally:
        await http.aclose()
        await server.stop()


async def test_a_cookie_an_agency_sets_never_rides_on_the_next_call(agency: AgencyHttp) -> None:
    first = await agency.request("POST", "/login")
    assert first.cookies["session"] == "citizen-a"  # a plugin may still read the answer's own cookies
    echoed = agency.json(await agency.request("GET", "/echo"))
    assert echoed["cookie"] is None
    # Nor on a request built apart and sent later, the bank plugin's way.
    echoed = agency.json(await agency.send(agency.build_request("POST", "/echo", content=b"{}")))
    assert echoed["cookie"] is None


async def test_many_calls_at_once_carry_no_one_elses_cookie(agency: AgencyHttp) -> None:
    async def one(n: int) -> str | None:
        if n % 2:
            await agency.request("POST", "/login")
            return None
        cookie: str | None = agency.json(await agency.request("GET", "/echo"))["cookie"]
        return cookie

    await agency.request("POST", "/login")  # every call below starts after an answer set a cookie
    assert not any(await asyncio.gather(*(one(n) for n in range(40))))


async def test_headers_bodies_and_encodings_arrive_as_sent(agency: AgencyHttp) -> None:
    echoed = agency.json(
        await agency.request("POST", "/echo", json={"nik": "0000000000000000"}, headers=[("X-A", "1"), ("X-A", "2")])
    )
    assert echoed == {"cookie": None, "x_a": ["1", "2"], "path": "/agency/echo", "body": '{"nik":"0000000000000000"}'}

    async def chunks() -> AsyncIterator[bytes]:
        yield b"stre"
        yield b"amed"

    echoed = agency.json(await agency.request("POST", "/echo", content=chunks()))
    assert echoed["body"] == "streamed"
    assert agency.json(await agency.request("GET", "/zipped")) == {"ok": True}


async def test_an_answer_that_is_not_http_is_an_unavailable_agency(transport: HttpTransport) -> None:
    async def garbage(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"this is not HTTP\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    http = AgencyHttp(agency="test", name="Test agency", base_url=f"http://127.0.0.1:{port}", timeout=5)
    try:
        with pytest.raises(HubError) as refused:
            await http.request("GET", "/anything")
        assert refused.value.code is ErrorCode.AGENCY_UNAVAILABLE
    finally:
        await http.aclose()
        server.close()
        await server.wait_closed()


BASES = [
    "http://127.0.0.1:8080",
    "http://127.0.0.1:8080/",
    "https://api.example.go.id/vclaim-rest",
    "https://api.example.go.id/a/b/",
    "http://user:pw@host:81/x%20y",
    "http://host/with?query=1",
]
PATHS: list[str | httpx.URL] = [
    "/dukcapil/get_json/MPP-TEGAL/CALL_NIK",
    "peserta/nik/3171010101900001/tglSEP/2024-01-01",
    "",
    "/",
    "?q=1",
    "/a?x=1&y=2",
    "/a b/ä",
    "/a/../b",
    "./x",
    "/..",
    "/a/%2F",
    "/a#fragment",
    "//elsewhere/x",
    "/a:b",
    "https://other.example/x",
    httpx.URL("/as-url"),
    httpx.URL("http://other.example/abs"),
]


@pytest.mark.parametrize("base", BASES)
def test_urls_join_as_httpx_joins_them(base: str) -> None:
    stock = httpx.AsyncClient(base_url=base)
    ours = _AgencyClient(base_url=base, timeout=5, transport=None)
    for path in PATHS:
        expected, joined = stock.build_request("GET", path), ours.build_request("GET", path)
        assert (str(joined.url), joined.url.raw_path, joined.headers.raw) == (
            str(expected.url),
            expected.url.raw_path,
            expected.headers.raw,
        ), path
