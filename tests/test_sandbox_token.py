"""The sandboxes' admin token: /_sandbox/* (fault routes and the sandbox's own) needs it, agency routes never do.

Real sandboxes (Dukcapil's, and the bank's for its simulated payment) behind the fault middleware, served by
uvicorn on real sockets and called over real HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket

from hub._faults import ADMIN_PATH, SANDBOX_TOKEN_FILE, with_faults
from plugins._synthetic import residents
from plugins.bank import sandbox as bank_sandbox
from plugins.dukcapil import sandbox
from tests._servers import ThreadedServer, serving

TOKEN = secrets.token_urlsafe(32)
NIK = residents.samples()[0]
_CONFIG = sandbox.SandboxConfig()
_CALL_NIK = f"/dukcapil/get_json/{_CONFIG.partner_segment}/CALL_NIK"
_LOOKUP = {"nik": NIK, "user_id": _CONFIG.user_id, "password": _CONFIG.password, "ip_user": _CONFIG.ip_user}
_RIGHT = {"Authorization": f"Bearer {TOKEN}"}
#: Near misses: no header, another token, the token under another scheme, the token cut short or lengthened.
_WRONG: list[dict[str, str]] = [
    {},
    {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": "Bearer"},
]


@pytest.fixture(scope="module")
def guarded() -> Iterator[ThreadedServer]:
    """Dukcapil's sandbox behind the fault middleware with an admin token, on a real socket."""
    with serving(with_faults(sandbox.create_app(), admin_token=TOKEN)) as server:
        yield server


@pytest.fixture
def http(guarded: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded.url, timeout=10) as client:
        yield client
        assert client.delete(ADMIN_PATH, headers=_RIGHT).status_code == 200


def _requests_seen(http: httpx.Client) -> int:
    return int(http.get("/_sandbox/stats", headers=_RIGHT).json()["requests"])


def _assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"
    message = answer.json()["error"]
    assert f"secrets/{SANDBOX_TOKEN_FILE}" in message and "data dir" in message and "Bearer" in message
    assert TOKEN not in answer.text


@pytest.mark.parametrize("headers", _WRONG, ids=["none", "other", "basic", "bare", "short", "long", "empty"])
def test_fault_routes_refuse_a_missing_or_wrong_token(http: httpx.Client, headers: dict[str, str]) -> None:
    """Without the exact bearer token, /_sandbox/faults answers 401 and the faults stay as they were."""
    _assert_refused(http.get(ADMIN_PATH, headers=headers))
    _assert_refused(http.put(ADMIN_PATH, json={"outage": True}, headers=headers))
    _assert_refused(http.delete(ADMIN_PATH, headers=headers))
    assert http.get(ADMIN_PATH, headers=_RIGHT).json()["config"]["outage"] is False
    assert http.post(_CALL_NIK, json=_LOOKUP).status_code == 200  # the refused PUT turned nothing off


@pytest.mark.parametrize("headers", _WRONG, ids=["none", "other", "basic", "bare", "short", "long", "empty"])
def test_sandbox_admin_routes_refuse_a_missing_or_wrong_token(http: httpx.Client, headers: dict[str, str]) -> None:
    """The sandbox's own /_sandbox/stats and /_sandbox/reset answer 401 too, and the refused reset changes nothing."""
    http.post(_CALL_NIK, json=_LOOKUP)
    before = _requests_seen(http)
    assert before > 0
    _assert_refused(http.get("/_sandbox/stats", headers=headers))
    _assert_refused(http.post("/_sandbox/reset", headers=headers))
    _assert_refused(http.get("/_sandbox/no-such-route", headers=headers))  # refused before routing
    assert _requests_seen(http) == before


def test_the_right_token_opens_every_sandbox_route(http: httpx.Client) -> None:
    """With the bearer token (any case of 'Bearer'), fault and sandbox admin routes answer as without a guard."""
    assert http.put(ADMIN_PATH, json={"error_rate": 1}, headers=_RIGHT).status_code == 200
    assert http.post(_CALL_NIK, json=_LOOKUP).status_code == 503  # the PUT took effect
    assert http.get(ADMIN_PATH, headers={"Authorization": f"bearer {TOKEN}"}).json()["config"]["error_rate"] == 1
    assert http.delete(ADMIN_PATH, headers=_RIGHT).status_code == 200
    assert http.post("/_sandbox/reset", headers=_RIGHT).status_code == 200
    assert _requests_seen(http) == 0


def test_agency_routes_need_no_token(http: httpx.Client) -> None:
    """The agency's own API is never guarded: the hub calls it with the agency's credentials, not the token."""
    answer = http.post(_CALL_NIK, json=_LOOKUP)
    assert answer.status_code == 200 and answer.json()["content"][0]["NIK"] == int(NIK)
    wrong = http.post(_CALL_NIK, json=_LOOKUP, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 200


def test_the_bank_payment_needs_the_token() -> None:
    """The bank's POST /_sandbox/pay is refused without the token and reaches the bank with it."""
    app = bank_sandbox.create_app(bank_sandbox.SandboxConfig(callback_base_url="http://127.0.0.1:9/callbacks/bank"))
    with serving(with_faults(app, admin_token=TOKEN)) as server, httpx.Client(base_url=server.url) as bank:
        body = {"virtualAccountNo": "881239"}
        _assert_refused(bank.post("/_sandbox/pay", json=body))
        answer = bank.post("/_sandbox/pay", json=body, headers=_RIGHT)
        assert answer.status_code == 404 and answer.json()["responseCode"] == "4042512"  # the bank's own refusal


def test_without_a_token_nothing_changes() -> None:
    """A sandbox wrapped with no admin token keeps /_sandbox/* open, as tests that build sandboxes rely on."""
    with serving(with_faults(sandbox.create_app())) as server, httpx.Client(base_url=server.url) as http:
        assert http.get(ADMIN_PATH).status_code == 200
        assert http.get("/_sandbox/stats").status_code == 200
        assert http.get("/_sandbox/stats", headers={"Authorization": "Bearer anything"}).status_code == 200
        assert http.put(ADMIN_PATH, json={"error_rate": 1}).status_code == 200
        assert http.post(_CALL_NIK, json=_LOOKUP).status_code == 503


def test_the_token_read_from_its_file_works_despite_the_newline() -> None:
    """The token as read from secrets/sandbox.token (a trailing newline) is the token a client sends."""
    with serving(with_faults(sandbox.create_app(), admin_token=TOKEN + "\n")) as server:
        assert httpx.get(f"{server.url}/_sandbox/stats", headers=_RIGHT).status_code == 200
        assert httpx.get(f"{server.url}/_sandbox/stats").status_code == 401


async def _echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("open")
    await websocket.close()


async def _open_websocket(app: ASGIApp, headers: dict[str, str]) -> list[Message]:
    """What the app sends to a client that opens a WebSocket to /_sandbox/ws, spoken in plain ASGI."""
    inbox: list[Message] = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/_sandbox/ws",
        "raw_path": b"/_sandbox/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "subprotocols": [],
    }
    await app(scope, receive, send)
    return sent


async def test_a_websocket_under_sandbox_needs_the_token_too() -> None:
    """A WebSocket to /_sandbox/* is closed as a policy violation (1008) without the token, opened with it."""
    app = with_faults(Starlette(routes=[WebSocketRoute("/_sandbox/ws", _echo)]), admin_token=TOKEN)
    assert await _open_websocket(app, {}) == [{"type": "websocket.close", "code": 1008}]
    opened = await _open_websocket(app, _RIGHT)
    assert [m["type"] for m in opened] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert opened[1]["text"] == "open"


@pytest.mark.parametrize("token", ["", "   "])
def test_an_empty_token_is_refused_at_start(token: str) -> None:
    """An empty admin token would guard nothing, so building the middleware with one fails loudly."""
    with pytest.raises(ValueError, match="admin_token is empty"):
        with_faults(sandbox.create_app(), admin_token=token)
