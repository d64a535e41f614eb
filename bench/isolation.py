"""Fault isolation, measured: ``python -m bench.isolation [--calls 300] [--json FILE]``.

One hub worker serves Dukcapil and BPJS, each sandbox in a process of its own behind the hub's fault
injection. Four callers keep Dukcapil busy throughout while a fifth measures BPJS, in four phases:

1. baseline: both agencies healthy;
2. Dukcapil at 100 % errors: how soon its circuit opens, and BPJS latency meanwhile;
3. Dukcapil recovered: how soon its circuit closes again;
4. Dukcapil answering in 5 s: how many calls it holds at once (against its bulkhead), and BPJS meanwhile.

The policies are the plugins' defaults, as a mall would run them. tests/test_isolation.py holds the
same behaviour as assertions; this prints the figures docs/reliability.md reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench._stack import Child
from hub import HubClient, load_plugins
from hub._resilience import CircuitState
from hub._roles import Role
from hub._runtime import Hub
from hub.testing._bus import TestBus, add_consumer, issuer_for

AGENCIES = ("dukcapil", "bpjs")
_PURPOSE = "layanan-kesehatan"
_CONSUMER = "bench-isolation"


@contextlib.asynccontextmanager
async def _running_hub(tmp: Path, urls: dict[str, str]) -> AsyncIterator[tuple[Hub, HubClient]]:
    nats = TestBus(tmp)  # secured as `mpp-hub up` runs it, provisioned
    bus = await nats.astart()
    plugins = load_plugins(only=set(AGENCIES))
    settings = {code: dict(plugins.sandboxes[code].settings(urls[code])) for code in AGENCIES}
    audit_key = secrets.token_bytes(32)
    hub = Hub(plugins, bus, settings, audit_key=audit_key)
    await hub.start()
    await add_consumer(bus, _CONSUMER, ["*"])  # the admin's work
    client = await HubClient.connect(
        bus, Role.CLI, timeout=10, issuer=issuer_for(bus, Role.CLI, audit_key), consumer=_CONSUMER, purpose=_PURPOSE
    )  # calls as `mpp-hub call` does
    try:
        yield hub, client
    finally:
        await client.close()
        await hub.stop()
        await nats.astop()


def _ms(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000, 2)


async def _timed(calls: int, call: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    took = []
    for _ in range(calls):
        began = time.perf_counter()
        await call()  # every BPJS call must succeed: an exception here is a finding, and ends the run
        took.append(time.perf_counter() - began)
    return {"p50_ms": round(statistics.median(took) * 1000, 2), "p99_ms": _ms(took, 0.99)}


async def _until(check: Callable[[], Awaitable[bool]], timeout: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if await check():
            return round(time.monotonic() - began, 2)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"not within {timeout}s")


async def measure(calls: int) -> dict[str, Any]:
    sandboxes = {code: Child("bench._sandbox", code) for code in AGENCIES}
    try:
        urls = {code: await child.first_line() for code, child in sandboxes.items()}
        with tempfile.TemporaryDirectory(prefix="mpp-isolation-") as tmp:
            faults = f"{urls['dukcapil']}/_sandbox/faults"
            async with _running_hub(Path(tmp), urls) as (hub, client), httpx.AsyncClient() as http:
                samples = {code: hub.plugins.sandboxes[code].samples() for code in AGENCIES}
                guard = hub.services["dukcapil"].guard
                policy = guard.policy

                async def lookup() -> Any:
                    with contextlib.suppress(Exception):  # failing is what Dukcapil does in phases 2 and 4
                        return await client.call("identity.lookup", {"nik": samples["dukcapil"]["nik"][0]})

                async def coverage() -> Any:
                    return await client.call("health.coverage", {"nik": samples["bpjs"]["nik"][0]})

                stop = asyncio.Event()

                async def keep_dukcapil_busy() -> None:
                    while not stop.is_set():
                        await lookup()
                        await asyncio.sleep(0.005)

                busy = [asyncio.create_task(keep_dukcapil_busy()) for _ in range(4)]
                figures: dict[str, Any] = {"policy": policy.model_dump()}
                await _timed(50, coverage)  # warm-up: connections, caches
                figures["baseline"] = await _timed(calls, coverage)

                await http.put(faults, json={"error_rate": 1.0})

                async def circuit_open() -> bool:
                    return guard.circuit is CircuitState.OPEN

                figures["circuit_opened_after_s"] = await _until(circuit_open, policy.failure_window)
                figures["during_errors"] = await _timed(calls, coverage)
                figures["latency_ratio_during_errors"] = round(
                    figures["during_errors"]["p50_ms"] / figures["baseline"]["p50_ms"], 2
                )

                await http.delete(faults)

                async def circuit_closed() -> bool:
                    return guard.circuit is CircuitState.CLOSED

                figures["circuit_closed_after_recovery_s"] = await _until(circuit_closed, policy.open_for + 10)

                stop.set()
                await asyncio.gather(*busy)
                await http.put(faults, json={"latency_ms": 5000})
                slow = [asyncio.create_task(lookup()) for _ in range(policy.max_in_flight * 3)]
                await asyncio.sleep(0.5)
                figures["during_slow"] = await _timed(min(calls, 100), coverage)
                figures["latency_ratio_during_slow"] = round(
                    figures["during_slow"]["p50_ms"] / figures["baseline"]["p50_ms"], 2
                )
                figures["slow_agency_max_in_flight"] = (await http.get(faults)).json()["max_in_flight"]
                figures["bulkhead_slots"] = policy.max_in_flight
                await asyncio.gather(*slow)
    finally:
        for child in sandboxes.values():
            child.stop()
    return figures


def _latency(figures: dict[str, Any], phase: str, ratio: str | None = None) -> str:
    text = f"{figures[phase]['p50_ms']} / {figures[phase]['p99_ms']} ms"
    return f"{text} (x{figures[ratio]} of baseline p50)" if ratio else text


def _print(figures: dict[str, Any]) -> None:
    policy = figures["policy"]
    rows = [
        ("BPJS p50 / p99, baseline", _latency(figures, "baseline")),
        ("BPJS p50 / p99, Dukcapil at 100 % errors", _latency(figures, "during_errors", "latency_ratio_during_errors")),
        (
            "Dukcapil circuit opened after",
            f"{figures['circuit_opened_after_s']} s "
            f"(policy: {policy['failure_threshold']} failures in {policy['failure_window']} s)",
        ),
        (
            "Dukcapil circuit closed after recovery",
            f"{figures['circuit_closed_after_recovery_s']} s (open_for {policy['open_for']} s)",
        ),
        ("BPJS p50 / p99, Dukcapil at 5 s", _latency(figures, "during_slow", "latency_ratio_during_slow")),
        (
            "Dukcapil calls held at once, at 5 s",
            f"{figures['slow_agency_max_in_flight']} (bulkhead: {figures['bulkhead_slots']} per worker)",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.isolation", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="BPJS calls measured per phase")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.calls))
    _print(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
