from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from hub import HubClient, PluginSet, load_plugins
from hub._consumers import ConsumerRegistry
from hub._nats_server import EmbeddedNats
from hub._runtime import Hub
from plugins.dukcapil import sandbox
from plugins.dukcapil.plugin import _sandbox_settings
from tests._servers import ThreadedServer, serving


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real nats-server with JetStream on a free loopback port, for the whole session."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"), port=-1)
    url = server.start()
    yield url
    server.stop()


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
#: The purpose the tests' callers state.
TEST_PURPOSE = "layanan-kependudukan"
_TESTER_KEYS: dict[str, str] = {}


def make_hub(plugins: PluginSet, nats_url: str, plugin_settings: dict[str, Any]) -> Hub:
    """A hub worker as `mpp-hub worker` builds one, with the tests' audit key."""
    return Hub(plugins, nats_url, plugin_settings, audit_key=TEST_AUDIT_KEY)


async def all_rights_key(nats_url: str) -> str:
    """The API key of a consumer allowed every operation, registered once per NATS server."""
    if nats_url not in _TESTER_KEYS:
        nc = await nats.connect(nats_url)
        registry = await ConsumerRegistry.open(nc.jetstream())
        _, _TESTER_KEYS[nats_url] = await registry.add(f"tester-{uuid.uuid4().hex[:8]}", ["*"])
        await registry.close()
        await nc.close()
    return _TESTER_KEYS[nats_url]


async def connect_client(nats_url: str, *, timeout: float = 5.0, purpose: str | None = TEST_PURPOSE) -> HubClient:
    """A client calling as the all-rights test consumer, stating a purpose."""
    return await HubClient.connect(nats_url, timeout=timeout, api_key=await all_rights_key(nats_url), purpose=purpose)


async def start_hub(nats_url: str, dukcapil: dict[str, Any], **load: Any) -> Hub:
    plugins = load_plugins(**load) if load else load_plugins(only={"dukcapil"})
    hub = make_hub(plugins, nats_url, {"dukcapil": dukcapil})
    await hub.start()
    return hub


@pytest.fixture
async def hub(nats_url: str, dukcapil_sandbox: ThreadedServer) -> AsyncIterator[Hub]:
    hub = await start_hub(nats_url, dict(_sandbox_settings(dukcapil_sandbox.url)))
    yield hub
    await hub.stop()


@pytest.fixture
async def client(nats_url: str, hub: Hub) -> AsyncIterator[HubClient]:
    async with await connect_client(nats_url) as client:
        yield client


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
