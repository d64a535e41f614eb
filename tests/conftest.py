from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import HubClient, load_plugins
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


async def start_hub(nats_url: str, dukcapil: dict[str, Any], **load: Any) -> Hub:
    hub = Hub(load_plugins(**load) if load else load_plugins(only={"dukcapil"}), nats_url, {"dukcapil": dukcapil})
    await hub.start()
    return hub


@pytest.fixture
async def hub(nats_url: str, dukcapil_sandbox: ThreadedServer) -> AsyncIterator[Hub]:
    hub = await start_hub(nats_url, dict(_sandbox_settings(dukcapil_sandbox.url)))
    yield hub
    await hub.stop()


@pytest.fixture
async def client(nats_url: str, hub: Hub) -> AsyncIterator[HubClient]:
    async with await HubClient.connect(nats_url, timeout=5) as client:
        yield client


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
