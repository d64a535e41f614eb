"""One agency failing or crawling does not take the others down: its circuit opens, its bulkhead holds.

Both sandboxes run behind the hub's own fault injection, configured over its admin endpoint as an
operator would (PUT /_sandbox/faults); the measured figures (latency of the healthy agency meanwhile)
come from ``python -m bench.isolation`` and are in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts import Coverage, ErrorCode, HubError, Resident
from hub import HubClient, load_plugins
from hub._bus_access import BusAccess
from hub._resilience import CircuitState
from hub._runtime import Hub
from tests._stack import Stack
from tests._until import until
from tests.conftest import connect_client

AGENCIES = ("dukcapil", "bpjs")


@dataclass
class Mall:
    """Both agencies behind fault injection, a hub (no edge) and a client calling it over the bus."""

    stack: Stack
    client: HubClient

    @property
    def hub(self) -> Hub:
        return self.stack.hub

    def faults(self, code: str, **config: Any) -> None:
        if config:
            self.stack.sandboxes.faults(code, **config)
        else:
            self.stack.sandboxes.clear_faults()

    def fault_stats(self, code: str) -> dict[str, Any]:
        return self.stack.sandboxes.fault_stats(code)

    async def lookup(self) -> Any:
        return await self.client.call("identity.lookup", {"nik": _samples("dukcapil")["nik"][0]})

    async def coverage(self) -> Any:
        return await self.client.call("health.coverage", {"nik": _samples("bpjs")["nik"][0]})


def _samples(code: str) -> Mapping[str, Sequence[str]]:
    return load_plugins(only={code}).sandboxes[code].samples()


@contextlib.asynccontextmanager
async def _mall(bus: BusAccess, dukcapil_policy: dict[str, Any], **dukcapil_settings: Any) -> AsyncIterator[Mall]:
    async with Stack(
        bus, agencies=AGENCIES, faults=True, edge=False, settings={"dukcapil": dukcapil_settings},
        resilience={"dukcapil": dukcapil_policy},
    ) as stack, await connect_client(bus, timeout=10, purpose="layanan-kesehatan") as client:  # fmt: skip
        yield Mall(stack, client)


async def _circuit_closes_again(mall: Mall) -> None:
    """Until a call gets through again: the breaker lets a probe through once its open period is over."""

    async def answered() -> bool:
        try:
            return isinstance(await mall.lookup(), Resident)
        except HubError as error:
            assert error.code is ErrorCode.AGENCY_UNAVAILABLE, error
            return False

    await until(answered, "the dukcapil circuit to let a probe through and close", timeout=20)


def _circuit(mall: Mall) -> CircuitState:
    return mall.hub.services["dukcapil"].guard.circuit


async def test_an_agency_at_100_percent_errors_opens_its_circuit_and_spares_the_others(bus: BusAccess) -> None:
    policy = {"retries": 0, "failure_threshold": 5, "failure_window": 10.0, "open_for": 1.0}
    async with _mall(bus, policy) as mall:
        mall.faults("dukcapil", error_rate=1.0)
        began = time.monotonic()

        async def hammer_dukcapil() -> list[Any]:
            outcomes: list[Any] = []
            for _ in range(10):
                outcomes.extend(await asyncio.gather(mall.lookup(), return_exceptions=True))
            return outcomes

        async def use_bpjs() -> list[Any]:
            return [await mall.coverage() for _ in range(20)]

        *failing, healthy = await asyncio.gather(*(hammer_dukcapil() for _ in range(3)), use_bpjs())
        assert _circuit(mall) is CircuitState.OPEN and time.monotonic() - began < policy["failure_window"]
        errors = [outcome for outcomes in failing for outcome in outcomes]
        assert all(isinstance(e, HubError) and e.code is ErrorCode.AGENCY_UNAVAILABLE for e in errors)
        # Once open, calls fail fast without reaching the agency: it saw little more than the threshold.
        assert mall.fault_stats("dukcapil")["requests"] <= policy["failure_threshold"] + 3
        assert all(isinstance(c, Coverage) for c in healthy)

        mall.faults("dukcapil")  # the agency recovers
        await _circuit_closes_again(mall)
        assert _circuit(mall) is CircuitState.CLOSED


async def test_a_5_second_agency_holds_no_more_than_its_bulkhead(bus: BusAccess) -> None:
    policy = {"retries": 0, "max_in_flight": 3, "queue_timeout": 0.1, "failure_threshold": 100}
    async with _mall(bus, policy, timeout=8.0) as mall:  # the plugin's own 5 s timeout would end the calls first
        mall.faults("dukcapil", latency_ms=5000)

        async def use_bpjs() -> list[Any]:
            # While the slow calls hold their slots: the agency itself holds three at once.
            await until(lambda: mall.fault_stats("dukcapil")["in_flight"] == 3, "three calls held at dukcapil")
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
