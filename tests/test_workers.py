"""Scale-out on one NATS: several `mpp-hub worker` processes share one operation through a queue group."""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path
from typing import Any

import httpx

from hub import HubClient
from hub._bus_access import BusAccess
from plugins._synthetic import residents as _population
from plugins.dukcapil.plugin import _sandbox_settings
from tests._processes import free_port, start_cli
from tests._servers import ThreadedServer
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY, bus_env, connect_client


async def _instances(client: HubClient) -> list[dict[str, Any]]:
    return [
        stats for stats in await client._gather("$SRV.STATS.mpp-dukcapil", 0.3)
        if stats.get("name") == "mpp-dukcapil"
    ]  # fmt: skip


def _served_ok(metrics: str) -> int:
    labels = r'agency="dukcapil",code="ok",operation="identity.lookup",provider="dukcapil",worker="[^"]+"'
    pattern = rf"^mpp_requests_total\{{{labels}\}} (\S+)$"
    return sum(int(float(m)) for m in re.findall(pattern, metrics, re.MULTILINE))


def _worker_label(metrics: str) -> str:
    found = re.search(r'mpp_requests_total\{[^}]*worker="([^"]+)"', metrics)
    assert found is not None
    return found.group(1)


async def test_two_workers_share_the_requests(bus: BusAccess, dukcapil_sandbox: ThreadedServer, tmp_path: Path) -> None:
    """Requests of one operation are spread over both worker processes: each serves some."""
    env = {
        **bus_env(bus),
        "MPP_HUB_LOAD_PLUGINS": '["dukcapil"]',
        "MPP_HUB_LOG_LEVEL": "warning",
        "MPP_HUB_AUDIT_KEY": TEST_AUDIT_KEY.decode(),
    }
    for key, value in _sandbox_settings(dukcapil_sandbox.url).items():
        env[f"MPP_HUB_PLUGINS__DUKCAPIL__{key.upper()}"] = str(value)
    ports = [free_port(), free_port()]
    workers = [start_cli("worker", "--metrics-port", str(port), cwd=tmp_path, env=env) for port in ports]
    try:
        async with await connect_client(bus, timeout=5) as client:

            async def both_up() -> bool:  # each round asks every responder and listens 0.3 s
                return len(await _instances(client)) == 2

            await until(both_up, "both workers to answer discovery", timeout=60)
            niks = _population.samples(60)
            for batch in range(0, len(niks), 10):
                await asyncio.gather(*(client.call("identity.lookup", {"nik": n}) for n in niks[batch : batch + 10]))
            served = []
            for stats in await _instances(client):
                endpoint = next(e for e in stats["endpoints"] if e["name"] == "identity-lookup")
                served.append(endpoint["num_requests"])
            async with httpx.AsyncClient() as http:
                exported = [(await http.get(f"http://127.0.0.1:{port}/metrics")).text for port in ports]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outcomes = [worker.communicate(timeout=20) for worker in workers]
    assert sum(served) == len(niks)
    assert all(count > 0 for count in served), f"one worker served nothing: {served}"
    # Each worker's own Prometheus counters, labelled with its name, add up to what was sent.
    counted = [_served_ok(text) for text in exported]
    assert sorted(counted) == sorted(served) and len({_worker_label(text) for text in exported}) == 2
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outcomes]
    assert all("Traceback" not in err for _, err in outcomes)
