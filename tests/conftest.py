from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS

from contracts import Channel
from hub import HubClient, PluginSet, load_plugins
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._edge import EdgeBus
from hub._purposes import DEFAULT_PURPOSES, Purpose
from hub._roles import Role
from hub._runtime import Hub
from hub.testing._bus import TestBus, add_consumer, issuer_for
from plugins.dukcapil import sandbox
from plugins.dukcapil.plugin import _sandbox_settings
from tests._servers import ThreadedServer, serving


@pytest.fixture(scope="session")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A real nats-server as `mpp-hub up` runs it (TLS, one user per role, the hub's streams), on a free
    loopback port, for the whole session."""
    server = TestBus(tmp_path_factory.mktemp("nats"))
    yield server.start()
    server.stop()


async def connect(bus: BusAccess, role: Role = Role.ADMIN) -> NATS:
    """A raw NATS connection as ``role`` (tests poke at streams as the admin unless they say otherwise)."""
    return await bus.connect(role)


@pytest.fixture(scope="session")
def dukcapil_sandbox() -> Iterator[ThreadedServer]:
    with serving(sandbox.create_app()) as server:
        yield server


def sandbox_requests(server: ThreadedServer) -> int:
    return int(httpx.get(f"{server.url}/_sandbox/stats").json()["requests"])


class Clock:
    """A sandbox's business clock (the bank's bills expire by it), moved by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


#: The audit key of hubs the tests start in-process (an obviously fake test value).
TEST_AUDIT_KEY = b"test-audit-key-not-a-secret"
#: The purpose the tests' callers state (it covers identity, the profile's identity part and applications).
TEST_PURPOSE = "layanan-kependudukan"
#: For tests about other things than purposes (faults, hostile input, the ops views) that call every operation
#: under one purpose. Only the hubs the tests start in-process know it; `mpp-hub up` does not.
ANY_PURPOSE = "pengujian"
#: A default purpose (one `mpp-hub up` knows too) that covers each agency's operations, by their first part.
_PURPOSE_BY_AREA = {
    "identity": "layanan-kependudukan", "health": "layanan-kesehatan", "vehicle": "pembayaran-pajak",
    "payment": "pembayaran-pajak", "citizen": "layanan-terpadu", "application": "layanan-kependudukan",
}  # fmt: skip


def purpose_for(operation: str) -> str:
    """The purpose a portal would state for ``operation`` (`identity.lookup`: layanan-kependudukan)."""
    return _PURPOSE_BY_AREA[operation.split(".")[0]]


TEST_PURPOSES = {
    **DEFAULT_PURPOSES,
    ANY_PURPOSE: Purpose(description="Tests of the hub itself", legal_basis="(tests only)", operations=("*",)),
}
_TESTER_KEYS: dict[str, str] = {}


def make_hub(
    plugins: PluginSet,
    bus: BusAccess,
    plugin_settings: Mapping[str, Mapping[str, Any]],
    *,
    resilience: Mapping[str, Mapping[str, Any]] | None = None,
) -> Hub:
    """A hub worker as `mpp-hub worker` builds one, with the tests' audit key (and ``resilience`` per agency)."""
    return Hub(plugins, bus, plugin_settings, audit_key=TEST_AUDIT_KEY, purposes=TEST_PURPOSES, resilience=resilience)


async def all_rights_key(bus: BusAccess) -> str:
    """The API key of a consumer allowed every operation, registered once per NATS server."""
    return (await _tester(bus))[1]


async def _tester(bus: BusAccess) -> tuple[str, str]:
    if bus.url not in _TESTER_KEYS:
        name = f"tester-{uuid.uuid4().hex[:8]}"
        _TESTER_KEYS[bus.url] = f"{name} {await add_consumer(bus, name, ['*'])}"
    name, key = _TESTER_KEYS[bus.url].split(" ")
    return name, key


async def connect_client(
    bus: BusAccess, *, timeout: float = 5.0, purpose: str | None = TEST_PURPOSE, consumer: str | None = None
) -> HubClient:
    """A client calling (as the CLI role does) for the all-rights test consumer, or ``consumer``, with a purpose."""
    name = consumer or (await _tester(bus))[0]
    return await HubClient.connect(
        bus, Role.CLI, timeout=timeout, issuer=issuer_for(bus, Role.CLI, TEST_AUDIT_KEY), consumer=name,
        purpose=purpose,
    )  # fmt: skip


async def add_known_consumer(
    bus: BusAccess,
    name: str,
    allow: list[str],
    *seen_by: ConsumerRegistry,
    quota_per_minute: int | None = None,
    channel: Channel | None = None,
    names_officers: bool = False,
) -> str:
    """Register a consumer as the admin does and wait until every registry in ``seen_by`` (an edge's, a
    worker's) has it from its watch; returns the API key."""
    key = await add_consumer(
        bus, name, allow, quota_per_minute=quota_per_minute, channel=channel, names_officers=names_officers
    )
    for registry in seen_by:
        await registry.wait_for(name)
    return key


async def revoke_consumer(bus: BusAccess, name: str, *seen_by: ConsumerRegistry, timeout: float = 10.0) -> None:
    """Revoke a consumer as the admin does (`mpp-hub consumer revoke`) and wait until every registry in
    ``seen_by`` has the revoke from its watch."""
    nc = await bus.connect(Role.ADMIN)
    try:
        registry = await ConsumerRegistry.open(nc.jetstream())
        try:
            await registry.revoke(name)
        finally:
            await registry.close()
    finally:
        await nc.close()
    async with asyncio.timeout(timeout):
        for other in seen_by:
            while (known := other.get(name)) is None or known.revoked_at is None:
                # As ConsumerRegistry.wait_for does: its watch sets the event at every change it applies, and
                # nothing can arrive between the look-up and the clear (no await in between).
                other._changed.clear()
                await other._changed.wait()


def anonymous_refusals(metrics_text: str, where: str = "edge") -> float:
    """The ``mpp_anonymous_refusals`` counter for ``where`` (edge or bus) in a /metrics page, 0 when absent."""
    pattern = rf'^mpp_anonymous_refusals_total\{{[^}}]*where="{where}"[^}}]*\}} (\S+)$'
    return sum(float(found) for found in re.findall(pattern, metrics_text, re.MULTILINE))


def bus_env(bus: BusAccess) -> dict[str, str]:
    """The environment that points a child `mpp-hub` (worker, call, consumer ...) at ``bus`` with its credentials."""
    assert bus.ca_file is not None
    return {
        "MPP_HUB_NATS_URL": bus.url,
        "MPP_HUB_NATS_CREDENTIALS": str(bus.credentials),
        "MPP_HUB_NATS_TLS_CA": str(bus.ca_file),
    }


async def open_edge(hub: Hub, bus: BusAccess) -> EdgeBus:
    """The HTTP edge's own bus link beside ``hub``, as `mpp-hub up` opens it (close it with ``edge.close()``)."""
    return await EdgeBus.open(
        bus, audit_key=TEST_AUDIT_KEY, purposes=TEST_PURPOSES, processes=hub.plugins.processes, metrics=hub.metrics
    )


async def start_hub(bus: BusAccess, dukcapil: dict[str, Any], **load: Any) -> Hub:
    plugins = load_plugins(**load) if load else load_plugins(only={"dukcapil"})
    hub = make_hub(plugins, bus, {"dukcapil": dukcapil})
    await hub.start()
    return hub


@pytest.fixture
async def hub(bus: BusAccess, dukcapil_sandbox: ThreadedServer) -> AsyncIterator[Hub]:
    hub = await start_hub(bus, dict(_sandbox_settings(dukcapil_sandbox.url)))
    yield hub
    await hub.stop()


@pytest.fixture
async def client(bus: BusAccess, hub: Hub) -> AsyncIterator[HubClient]:
    async with await connect_client(bus) as client:
        yield client


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
