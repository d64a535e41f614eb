"""What the bus's security costs: the secure default against the same hub on plain NATS, side by side.

    python -m bench.bus_security [--calls N] [--seconds S] [--json FILE]

Two stacks run in one process on loopback, each a real nats-server, the hub worker and the Dukcapil sandbox:
one as `mpp-hub up` runs it (TLS, role users, permissions), one on a nats-server without TLS and users (a
bench-only switch, ``BusAccess.unauthenticated``, that no setting reaches). Caller assertions stay on in both:
they are the hub's own check, not the bus's. Latency is measured in interleaved rounds of sequential
``identity.lookup`` calls, throughput at 16 in flight, so machine noise falls on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hub import HubClient, load_plugins
from hub._asgi import AsgiServer
from hub._bus_access import BusAccess
from hub._credentials import ensure_credentials
from hub._logging import configure_logging
from hub._loop import run as run_loop
from hub._nats_server import EmbeddedNats
from hub._roles import Role
from hub._runtime import Hub
from hub.testing._bus import TestBus, add_consumer, issuer_for, provision_bus
from plugins.dukcapil import sandbox
from plugins.dukcapil.plugin import _sandbox_settings

_AUDIT_KEY = b"bench-audit-key-not-a-secret"
_NIK = "3328080709870001"
_PURPOSE = "layanan-kependudukan"


@contextlib.asynccontextmanager
async def _bus(root: Path, secure: bool) -> AsyncIterator[BusAccess]:
    if secure:
        server = TestBus(root)
        yield await server.astart()
        await server.astop()
        return
    plain = EmbeddedNats(root / "nats", port=-1)
    credentials = root / "credentials"
    ensure_credentials(credentials)  # the assertion keys; the NATS keys go unused
    bus = BusAccess.unauthenticated(await plain.astart(), credentials)
    await provision_bus(bus)
    yield bus
    await plain.astop()


@contextlib.asynccontextmanager
async def _hub_client(bus: BusAccess) -> AsyncIterator[HubClient]:
    """The Dukcapil sandbox, a hub worker on ``bus`` and a CLI client of it (also bench.audit_cost's stack)."""
    server = AsgiServer(sandbox.create_app())
    url = await server.start()
    hub = Hub(load_plugins(only={"dukcapil"}), bus, {"dukcapil": dict(_sandbox_settings(url))}, audit_key=_AUDIT_KEY)
    await hub.start()
    name = f"bench-{uuid.uuid4().hex[:6]}"
    await add_consumer(bus, name, ["*"])
    await hub.gate.consumers.wait_for(name)
    client = await HubClient.connect(
        bus, Role.CLI, issuer=issuer_for(bus, Role.CLI, _AUDIT_KEY), consumer=name, purpose=_PURPOSE
    )
    try:
        yield client
    finally:
        await client.close()
        await hub.stop()
        await server.stop()


@contextlib.asynccontextmanager
async def _stack(root: Path, secure: bool) -> AsyncIterator[HubClient]:
    async with _bus(root, secure) as bus, _hub_client(bus) as client:
        yield client


async def _latencies(client: HubClient, calls: int) -> list[float]:
    found = []
    for _ in range(calls):
        started = time.perf_counter()
        await client.call("identity.lookup", {"nik": _NIK})
        found.append((time.perf_counter() - started) * 1000)
    return found


async def _throughput(client: HubClient, seconds: float, in_flight: int = 16) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def lane() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.call("identity.lookup", {"nik": _NIK})
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(in_flight)))
    return done / (time.perf_counter() - started)


def _percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


async def measure(calls: int = 600, seconds: float = 5.0, rounds: int = 6, warmup: int = 50) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mpp-bench-security-") as tmp:
        root = Path(tmp)
        async with _stack(root / "secure", True) as secure, _stack(root / "plain", False) as plain:
            for client in (secure, plain):
                await _latencies(client, warmup)  # warm both: connections, caches, the sandbox
            samples: dict[str, list[float]] = {"secure": [], "plain": []}
            for _ in range(rounds):  # interleaved, so noise falls on both
                samples["secure"] += await _latencies(secure, max(2, calls // rounds))
                samples["plain"] += await _latencies(plain, max(2, calls // rounds))
            rates = {"secure": await _throughput(secure, seconds), "plain": await _throughput(plain, seconds)}
    figures: dict[str, Any] = {}
    for name, values in samples.items():
        figures[name] = {
            "p50_ms": round(_percentile(values, 0.50), 3),
            "p99_ms": round(_percentile(values, 0.99), 3),
            "calls_per_s_16_in_flight": round(rates[name], 1),
        }
    figures["cost"] = {  # the keys `python -m bench` reports as security_cost_*
        "p50_ms": round(figures["secure"]["p50_ms"] - figures["plain"]["p50_ms"], 3),
        "p99_ms": round(figures["secure"]["p99_ms"] - figures["plain"]["p99_ms"], 3),
        "throughput_ratio": round(rates["secure"] / rates["plain"], 3),
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bus_security", description=__doc__)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    configure_logging("warning", "console")
    figures = run_loop(measure(args.calls, args.seconds))  # uvloop, as the hub runs
    print(f"{'bus':<8} {'p50 ms':>8} {'p99 ms':>8} {'calls/s @16':>12}")
    for name in ("secure", "plain"):
        f = figures[name]
        print(f"{name:<8} {f['p50_ms']:>8.3f} {f['p99_ms']:>8.3f} {f['calls_per_s_16_in_flight']:>12.1f}")
    cost = figures["cost"]
    print(f"security costs {cost['p50_ms']:+.3f} ms p50, {cost['p99_ms']:+.3f} ms p99, "
          f"throughput x{cost['throughput_ratio']:.2f}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
