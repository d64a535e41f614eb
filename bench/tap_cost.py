"""What the traffic tap costs: identity.lookup through the bus with the tap on and off, side by side.

    python -m bench.tap_cost [--requests N] [--json FILE]

Starts a real nats-server and the Dukcapil sandbox on loopback, then two hub workers in this process,
one with the tap and one without, and measures the same sequential calls against each, interleaved so
that machine noise hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog

from hub import HubClient, SandboxContext, load_plugins
from hub._consumers import ConsumerRegistry
from hub._logging import configure_logging
from hub._nats_server import EmbeddedNats
from hub._runtime import Hub
from plugins._synthetic import residents
from tests._servers import ThreadedServer

_AUDIT_KEY = b"bench-audit-key-not-a-secret"


async def _hub(nats_url: str, sandbox_url: str, *, tap: bool) -> Hub:
    plugins = load_plugins(only={"dukcapil"})
    settings = {"dukcapil": dict(plugins.sandboxes["dukcapil"].settings(sandbox_url))}
    hub = Hub(plugins, nats_url, settings, audit_key=_AUDIT_KEY, traffic_tap=tap)
    await hub.start()
    return hub


async def _percentiles(client: HubClient, niks: list[str]) -> list[float]:
    timings = []
    for nik in niks:
        started = time.perf_counter()
        await client.call("identity.lookup", {"nik": nik})
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def run(requests: int) -> dict[str, Any]:
    configure_logging("error", "json")
    structlog.configure(processors=[structlog.processors.JSONRenderer()],
                        wrapper_class=structlog.make_filtering_bound_logger(40))  # fmt: skip
    store = Path(tempfile.mkdtemp(prefix="mpp-bench-"))
    nats = EmbeddedNats(store, port=-1)
    url = await nats.astart()
    plugins = load_plugins(only={"dukcapil"})
    sandbox = ThreadedServer(plugins.sandboxes["dukcapil"].app(SandboxContext())).start()
    niks = (residents.samples(50) * (requests // 50 + 1))[:requests]
    results: dict[str, list[float]] = {"tap_on": [], "tap_off": []}
    try:
        client = await HubClient.connect(url, timeout=10)
        registry = await ConsumerRegistry.open(client.nc.jetstream())
        _, key = await registry.add("bench", ["*"])
        await registry.close()
        client.api_key, client.purpose = key, "layanan-kependudukan"
        for round_ in range(4):  # interleave: on, off, on, off
            tap = round_ % 2 == 0
            hub = await _hub(url, sandbox.url, tap=tap)
            await _percentiles(client, niks[:20])  # warm up
            results["tap_on" if tap else "tap_off"] += await _percentiles(client, niks)
            await hub.stop()
        await client.close()
    finally:
        sandbox.stop()
        await nats.astop()
    figures: dict[str, Any] = {}
    for name, timings in results.items():
        quantiles = statistics.quantiles(timings, n=100)
        figures[f"{name}_p50_ms"] = round(statistics.median(timings), 3)
        figures[f"{name}_p99_ms"] = round(quantiles[98], 3)
    figures["tap_cost_p50_ms"] = round(figures["tap_on_p50_ms"] - figures["tap_off_p50_ms"], 3)
    figures["tap_on_vs_off_p50"] = round(figures["tap_on_p50_ms"] / figures["tap_off_p50_ms"], 3)
    figures["requests_per_variant"] = len(results["tap_on"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = asyncio.run(run(args.requests))
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
