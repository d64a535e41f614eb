"""One agency failing or crawling does not take the others down: its circuit opens, its bulkhead holds.

Both sandboxes run behind the hub's own fault injection, configured over its admin endpoint as an
operator would (PUT /_sandbox/faults); the measured figures (latency of the healthy agency meanwhile)
come from ``python -m bench.isolation`` and are in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contracts import Coverage, ErrorCode, HubError, Resident
from hub import HubClient, SandboxContext, load_plugins
from hub._bus_access import BusAccess
from hub._faults import with_faults
from hub._resilience import CircuitState
from hub._runtime import Hub
from tests._servers import ThreadedServer
from tests.conftest import connect_client, make_hub

AGENCIES = ("dukcapil", "bpjs")


@dataclass
class Mall:
    hub: Hub
    client: HubClient
    sandboxes: dict[str, ThreadedServer]
    samples: dict[str, dict[str, list[str]]]

    def faults(self, code: str, **config: Any) -> dict[str, Any]:
        url = f"{self.sandboxes[code].url}/_sandbox/faults"
        answer = httpx.put(url, json=config) if config else httpx.delete(url)
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def fault_stats(self, code: str) -> dict[str, Any]:
        return httpx.get(f"{self.sandboxes[code].url}/_sandbox/faults").json()  # type: ignore[no-any-return]

    async def lookup(self) -> Any:
        return await self.client.call("identity.lookup", {"nik": self.samples["dukcapil"]["nik"][0]})

    async def coverage(self) -> Any:
        return await self.client.call("health.coverage", {"nik": self.samples["bpjs"]["nik"][0]})


async def _mall(bus: BusAccess, dukcapil_policy: dict[str, Any], **dukcapil_settings: Any) -> Mall:
    plugins = load_plugins(only=set(AGENCIES))
    sandboxes = {
        code: ThreadedServer(with_faults(plugins.sandboxes[code].app(SandboxContext()))).start() for code in AGENCIES
    }
    settings = {code: dict(plugins.sandboxes[code].settings(sandboxes[code].url)) for code in AGENCIES}
    settings["dukcapil"].update(dukcapil_settings)
    hub = make_hub(plugins, bus, settings)
    hub._resilience = {"dukcapil": dukcapil_policy}
    await hub.start()
    client = await connect_client(bus, timeout=10, purpose="layanan-kesehatan")
    samples = {code: plugins.sandboxes[code].samples() for code in AGENCIES}
    return Mall(hub, client, sandboxes, samples)


@pytest.fixture
async def closing() -> AsyncIterator[list[Mall]]:
    malls: list[Mall] = []
    yield malls
    for mall in malls:
        await mall.client.close()
        await mall.hub.stop()
        for server in mall.sandboxes.values():
            server.stop()


async def test_an_agency_at_100_percent_errors_opens_its_circuit_and_spares_the_others(
    bus: BusAccess, closing: list[Mall]
) -> None:
    policy = {"retries": 0, "failure_threshold": 5, "failure_window": 10.0, "open_for": 1.0}
    mall = await _mall(bus, policy)
    closing.append(mall)
    guard = mall.hub.services["dukcapil"].guard
    mall.faults("dukcapil", error_rate=1.0)
    began = time.monotonic()

    async def hammer_dukcapil() -> list[Any]:
        outcomes = []
        for _ in range(10):
            outcomes.extend(await asyncio.gather(mall.lookup(), return_exceptions=True))
        return outcomes

    async def use_bpjs() -> list[Any]:
        return [await mall.coverage() for _ in range(20)]

    *failing, healthy = await asyncio.gather(*(hammer_dukcapil() for _ in range(3)), use_bpjs())
    assert guard.circuit is CircuitState.OPEN and time.monotonic() - began < policy["failure_window"]
    errors = [outcome for outcomes in failing for outcome in outcomes]
    assert all(isinstance(e, HubError) and e.code is ErrorCode.AGENCY_UNAVAILABLE for e in errors)
    # Once open, calls fail fast without reaching the agency: it saw little more than the threshold.
    assert mall.fault_stats("dukcapil")["requests"] <= policy["failure_threshold"] + 3
    assert all(isinstance(c, Coverage) for c in healthy)

    mall.faults("dukcapil")  # the agency recovers
    await asyncio.sleep(policy["open_for"] + 0.1)
    assert isinstance(await mall.lookup(), Resident) and guard.circuit is CircuitState.CLOSED


async def test_a_5_second_agency_holds_no_more_than_its_bulkhead(bus: BusAccess, closing: list[Mall]) -> None:
    policy = {"retries": 0, "max_in_flight": 3, "queue_timeout": 0.1, "failure_threshold": 100}
    mall = await _mall(bus, policy, timeout=8.0)  # the plugin's own 5 s timeout would end the calls first
    closing.append(mall)
    mall.faults("dukcapil", latency_ms=5000)

    async def use_bpjs() -> list[Any]:
        await asyncio.sleep(0.3)  # while the slow calls hold their slots
        return [await mall.coverage() for _ in range(10)]

    slow, healthy = await asyncio.gather(
        asyncio.gather(*(mall.lookup() for _ in range(12)), return_exceptions=True), use_bpjs()
    )
    answered = [r for r in slow if isinstance(r, Resident)]
    busy = [r for r in slow if isinstance(r, HubError)]
    assert len(answered) == 3 and len(busy) == 9, slow
    assert all(e.code is ErrorCode.AGENCY_UNAVAILABLE and e.error.retryable for e in busy)
    assert mall.fault_stats("dukcapil")["max_in_flight"] == 3  # what the agency itself saw at once
    assert all(isinstance(c, Coverage) for c in healthy)
