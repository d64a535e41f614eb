"""Retries, the circuit breaker and the bulkhead, against a real sandbox that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts import ErrorCode, HubError, Resident
from hub import HubClient, load_plugins
from hub._bus_access import BusAccess
from hub._resilience import CircuitState, ResiliencePolicy
from hub._runtime import Hub
from plugins._synthetic import residents
from plugins.dukcapil import sandbox
from plugins.dukcapil.plugin import _sandbox_settings
from tests._servers import ThreadedServer
from tests.conftest import connect_client, make_hub

NIK = residents.samples()[0]


class Misbehaving:
    """The Dukcapil sandbox, made to fail its next ``failures`` calls with 503, or to answer slowly."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failures = 0
        self.delay = 0.0
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_sandbox"):
            self.calls += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.failures > 0:
                self.failures -= 1
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"busy"})
                return
        await self.app(scope, receive, send)


@pytest.fixture
async def agency() -> AsyncIterator[tuple[Misbehaving, ThreadedServer]]:
    app = Misbehaving(sandbox.create_app())
    server = ThreadedServer(app).start()
    yield app, server
    server.stop()


async def _hub(bus: BusAccess, server: ThreadedServer, **policy: Any) -> tuple[Hub, HubClient]:
    hub = make_hub(load_plugins(only={"dukcapil"}), bus, {"dukcapil": dict(_sandbox_settings(server.url))})
    hub._resilience = {"dukcapil": policy}
    await hub.start()
    client = await connect_client(bus, timeout=10, purpose="layanan-kependudukan")
    return hub, client


async def test_an_idempotent_call_is_retried_past_a_passing_failure(bus: BusAccess, agency: Any) -> None:
    """Two 503s, then an answer: the caller sees only the answer (retries with backoff, within the deadline)."""
    app, server = agency
    hub, client = await _hub(bus, server, retries=2, backoff_initial=0.01)
    try:
        app.failures = 2
        resident = await client.call("identity.lookup", {"nik": NIK})
        assert isinstance(resident, Resident) and app.calls == 3
    finally:
        await client.close()
        await hub.stop()


async def test_no_retry_on_a_refusal(bus: BusAccess, agency: Any) -> None:
    """not_found is the agency's answer: it is not asked again."""
    app, server = agency
    hub, client = await _hub(bus, server, retries=3, backoff_initial=0.01)
    try:
        with pytest.raises(HubError) as caught:
            await client.call("identity.lookup", {"nik": "3328100101019999"})
        assert caught.value.code is ErrorCode.NOT_FOUND and app.calls == 1
    finally:
        await client.close()
        await hub.stop()


async def test_circuit_opens_fails_fast_and_closes_after_recovery(bus: BusAccess, agency: Any) -> None:
    """Three failures open the circuit: calls fail at once without reaching the agency, with Retry-After;
    after open_for one probe goes through, and its success closes the circuit."""
    app, server = agency
    hub, client = await _hub(bus, server, retries=0, failure_threshold=3, open_for=1.0)
    guard = hub.services["dukcapil"].guard
    try:
        app.failures = 100
        for _ in range(3):
            with pytest.raises(HubError):
                await client.call("identity.lookup", {"nik": NIK})
        assert guard.circuit is CircuitState.OPEN
        calls = app.calls
        started = time.perf_counter()
        with pytest.raises(HubError) as caught:
            await client.call("identity.lookup", {"nik": NIK})
        assert caught.value.code is ErrorCode.AGENCY_UNAVAILABLE and "circuit open" in caught.value.error.message
        assert caught.value.error.retry_after and app.calls == calls and time.perf_counter() - started < 0.5
        await hub.agency_health()  # a health check (as /healthz and /ops make) leaves the breaker's gauge alone
        open_gauge = re.search(
            r'^mpp_agency_circuit_open\{agency="dukcapil",[^}]*\} (\S+)$', hub.metrics.render().decode(), re.M
        )
        assert open_gauge is not None and open_gauge.group(1) == "1.0"
        app.failures = 0
        await asyncio.sleep(1.1)
        assert isinstance(await client.call("identity.lookup", {"nik": NIK}), Resident)
        assert guard.circuit is CircuitState.CLOSED
    finally:
        await client.close()
        await hub.stop()


async def test_a_slow_agency_holds_no_more_than_its_bulkhead(bus: BusAccess, agency: Any) -> None:
    """With 2 slots and a 1 s agency, 6 concurrent calls: 2 reach the agency, the rest fail fast as busy."""
    app, server = agency
    hub, client = await _hub(bus, server, retries=0, max_in_flight=2, queue_timeout=0.1, failure_threshold=50)
    try:
        app.delay = 1.0
        results = await asyncio.gather(
            *(client.call("identity.lookup", {"nik": NIK}) for _ in range(6)), return_exceptions=True
        )
        busy = [r for r in results if isinstance(r, HubError)]
        assert len(busy) == 4 and all(
            r.code is ErrorCode.AGENCY_UNAVAILABLE and "slow" in r.error.message for r in busy
        )
        assert app.calls == 2
    finally:
        await client.close()
        await hub.stop()


def test_policy_overrides_are_validated() -> None:
    """A bad policy in settings is refused with the field named."""
    with pytest.raises(ValueError, match="max_in_flight"):
        ResiliencePolicy.model_validate({"max_in_flight": 0})
