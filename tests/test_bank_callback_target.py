"""The sandbox bank notifies only the hub it belongs to: a foreign callbackBaseUrl is refused, nothing is sent.

The bank sandbox, its hub's callback endpoint and a foreign server each run on a real socket; the hub and
the foreign server record every request they receive.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import SandboxContext
from plugins.bank import _data
from plugins.bank.sandbox import PAYMENT_CALLBACK, SandboxConfig, create_app
from tests._servers import ThreadedServer, serving

ACCOUNTS = _data.virtual_accounts()
NOTIFIED = "/callbacks/bank" + PAYMENT_CALLBACK


class Recorder:
    """A real server that accepts every POST as a biller accepts a payment, and remembers the paths."""

    def __init__(self, server: ThreadedServer, paths: list[str]) -> None:
        self.server, self.paths = server, paths

    @property
    def callback_base(self) -> str:
        return f"{self.server.url}/callbacks/bank"


def _recording_app(paths: list[str]) -> Starlette:
    async def accept(request: Request) -> JSONResponse:
        paths.append(request.url.path)
        return JSONResponse({"responseCode": "2002500", "responseMessage": "Successful"})

    return Starlette(routes=[Route("/{path:path}", accept, methods=["POST"])])


@pytest.fixture
def hub() -> Iterator[Recorder]:
    """Stands in for the hub's callback endpoint."""
    paths: list[str] = []
    with serving(_recording_app(paths)) as server:
        yield Recorder(server, paths)


@pytest.fixture
def foreign() -> Iterator[Recorder]:
    """Some other server the sandbox can reach, which it must never be made to call."""
    paths: list[str] = []
    with serving(_recording_app(paths)) as server:
        yield Recorder(server, paths)


@pytest.fixture
def bank(hub: Recorder) -> Iterator[httpx.Client]:
    """The sandbox bank under a hub; as under `mpp-hub up`, the hub's URL is known only after the app is built."""
    context = SandboxContext()
    app = create_app(SandboxConfig(), context)
    context.hub_url = hub.server.url
    with serving(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def _pay(bank: httpx.Client, account: str, **extra: Any) -> httpx.Response:
    return bank.post("/_sandbox/pay", json={"virtualAccountNo": account, **extra})


def test_a_foreign_callback_url_is_refused_and_never_called(
    bank: httpx.Client, hub: Recorder, foreign: Recorder
) -> None:
    """Under a hub, a callbackBaseUrl naming another server is a 400; nothing reaches it and the bill stays unpaid."""
    refused = _pay(bank, ACCOUNTS[0], callbackBaseUrl=foreign.callback_base)
    assert refused.status_code == 400
    body = refused.json()
    assert body["responseCode"] == "4002501" and body["responseMessage"] == "Invalid Field Format {callbackBaseUrl}"
    assert hub.callback_base in body["error"] and "Leave callbackBaseUrl out" in body["error"]
    assert foreign.server.url not in refused.text  # the caller's URL is not echoed
    assert foreign.paths == [] and hub.paths == []
    assert bank.get("/_sandbox/stats").json()["notifications_sent"] == 0

    paid = _pay(bank, ACCOUNTS[0])  # still unpaid: the refusal came before the payment
    assert paid.status_code == 200 and paid.json()["responseCode"] == "2002500"
    assert hub.paths == [NOTIFIED] and foreign.paths == []


@pytest.mark.parametrize("value", [123, ["http://example.invalid"], {"url": "x"}, True])
def test_a_callback_url_that_is_not_text_is_refused(bank: httpx.Client, hub: Recorder, value: object) -> None:
    """Under a hub, a callbackBaseUrl that is not a string is refused like a foreign one."""
    refused = _pay(bank, ACCOUNTS[1], callbackBaseUrl=value)
    assert refused.status_code == 400 and refused.json()["responseCode"] == "4002501"
    assert hub.paths == []


@pytest.mark.parametrize("suffix", ["", "/"])
def test_naming_the_own_hub_is_accepted(bank: httpx.Client, hub: Recorder, suffix: str) -> None:
    """Under a hub, a callbackBaseUrl naming that same hub (a trailing slash or not) notifies it."""
    paid = _pay(bank, ACCOUNTS[2], callbackBaseUrl=hub.callback_base + suffix, times=2)
    assert paid.status_code == 200 and [d["status"] for d in paid.json()["deliveries"]] == [200, 200]
    assert hub.paths == [NOTIFIED, NOTIFIED]


def test_without_a_hub_the_body_picks_the_target(foreign: Recorder) -> None:
    """A sandbox no hub runs (tests build them so) still notifies whatever callbackBaseUrl the body names."""
    with serving(create_app(SandboxConfig())) as server, httpx.Client(base_url=server.url, timeout=10) as bank:
        paid = _pay(bank, ACCOUNTS[3], callbackBaseUrl=foreign.callback_base)
    assert paid.status_code == 200 and paid.json()["deliveries"][0]["status"] == 200
    assert foreign.paths == [NOTIFIED]


def test_without_a_hub_or_a_url_there_is_nobody_to_notify() -> None:
    """No hub, no configured callback and none in the body: refused as a missing field, the bill unpaid."""
    with serving(create_app(SandboxConfig())) as server, httpx.Client(base_url=server.url, timeout=10) as bank:
        refused = _pay(bank, ACCOUNTS[4])
        assert refused.status_code == 400 and refused.json()["responseCode"] == "4002502"
        assert bank.get("/_sandbox/stats").json()["notifications_sent"] == 0
