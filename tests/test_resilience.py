"""Retries, the circuit breaker and the bulkhead, against a real sandbox that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts import ErrorCode, HubError, Resident
from hub import HubClient
from hub._bus_access import BusAccess
from hub._resilience import CircuitState, Guard, ResiliencePolicy
from hub._runtime import Hub
from plugins._synthetic import residents
from plugins.dukcapil import sandbox
from tests._stack import Stack
from tests._until import until
from tests.conftest import connect_client

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
def agency() -> Misbehaving:
    return Misbehaving(sandbox.create_app())


@contextlib.asynccontextmanager
async def _hub(bus: BusAccess, app: Misbehaving, **policy: Any) -> AsyncIterator[tuple[Hub, HubClient]]:
    async with (
        Stack(
            bus, agencies=["dukcapil"], sandbox_apps={"dukcapil": app}, edge=False, resilience={"dukcapil": policy}
        ) as stack,
        await connect_client(bus, timeout=10, purpose="layanan-kependudukan") as client,
    ):
        yield stack.hub, client


async def test_an_idempotent_call_is_retried_past_a_passing_failure(bus: BusAccess, agency: Misbehaving) -> None:
    """Two 503s, then an answer: the caller sees only the answer (retries with backoff, within the deadline)."""
    app = agency
    async with _hub(bus, app, retries=2, backoff_initial=0.01) as (_, client):
        app.failures = 2
        resident = await client.call("identity.lookup", {"nik": NIK})
        assert isinstance(resident, Resident) and app.calls == 3


async def test_no_retry_on_a_refusal(bus: BusAccess, agency: Misbehaving) -> None:
    """not_found is the agency's answer: it is not asked again."""
    app = agency
    async with _hub(bus, app, retries=3, backoff_initial=0.01) as (_, client):
        with pytest.raises(HubError) as caught:
            await client.call("identity.lookup", {"nik": "3328100101019999"})
        assert caught.value.code is ErrorCode.NOT_FOUND and app.calls == 1


async def test_circuit_opens_fails_fast_and_closes_after_recovery(bus: BusAccess, agency: Misbehaving) -> None:
    """Three failures open the circuit: calls fail at once without reaching the agency, with Retry-After;
    after open_for one probe goes through, and its success closes the circuit."""
    app = agency
    async with _hub(bus, app, retries=0, failure_threshold=3, open_for=1.0) as (hub, client):
        guard = hub.services["dukcapil"].guard
        app.failures = 100
        for _ in range(3):
            with pytest.raises(HubError):
                await client.call("identity.lookup", {"nik": NIK})
        assert _circuit(guard) is CircuitState.OPEN
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

        async def probe_answered() -> bool:  # once open_for is over, one probe goes through
            try:
                return isinstance(await client.call("identity.lookup", {"nik": NIK}), Resident)
            except HubError as error:
                assert "circuit open" in error.error.message, error
                return False

        await until(probe_answered, "the circuit to let a probe through after open_for", timeout=20)
        assert _circuit(guard) is CircuitState.CLOSED


async def test_a_slow_agency_holds_no_more_than_its_bulkhead(bus: BusAccess, agency: Misbehaving) -> None:
    """With 2 slots and a 1 s agency, 6 concurrent calls: 2 reach the agency, the rest fail fast as busy."""
    app = agency
    async with _hub(bus, app, retries=0, max_in_flight=2, queue_timeout=0.1, failure_threshold=50) as (_, client):
        app.delay = 1.0
        results = await asyncio.gather(
            *(client.call("identity.lookup", {"nik": NIK}) for _ in range(6)), return_exceptions=True
        )
        busy = [r for r in results if isinstance(r, HubError)]
        assert len(busy) == 4 and all(
            r.code is ErrorCode.AGENCY_UNAVAILABLE and "slow" in r.error.message for r in busy
        )
        assert app.calls == 2


def _circuit(guard: Guard) -> CircuitState:
    return guard.circuit  # read through a call, so a type checker does not keep the state of the last assert


def test_policy_overrides_are_validated() -> None:
    """A bad policy in settings is refused with the field named."""
    with pytest.raises(ValueError, match="max_in_flight"):
        ResiliencePolicy.model_validate({"max_in_flight": 0})
