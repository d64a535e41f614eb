"""One bench run: bring the stack up, measure every scenario in turn, take it down."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable

from bench import audit_cost, bus_security
from bench._cpu import CpuProbe, Watched, descendants
from bench._measure import Call, Latency, latency, measured_throughput
from bench._scenarios import (
    Figures,
    Portal,
    audit_append,
    bus_call,
    cpu_figures,
    direct,
    fanout,
    nats_floor,
    portal_throughput,
)
from bench._sizes import Sizes
from bench._stack import MPP_HUB, HubProcess, Stack, rss_mb
from hub._transport import DEFAULT_TRANSPORT, HttpTransport

__all__ = ["run"]

_TRANSPORTS: tuple[HttpTransport, ...] = ("httpcore", "aiohttp")


def _machine() -> Figures:
    return {
        "cpus": os.cpu_count() or 0,
        "python": platform.python_version(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
        "hub_transport": DEFAULT_TRANSPORT,
    }


async def _tap(stack: Stack, sizes: Sizes, say: Callable[[str], None]) -> Figures:
    """The traffic tap off and on, in worker processes started in turn (interleaved, so noise hits both alike)."""
    p50: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(sizes.tap_rounds):
        for state in p50:
            say(f"traffic tap {state}: one `mpp-hub worker`")
            worker = await stack.start_hub(portal=False, env={"MPP_HUB_TRAFFIC_TAP": str(state == "on").lower()})
            p50[state].append((await latency(bus_call(stack), sizes.calls, warmup=sizes.warmup)).p50_ms)
            await stack.stop_hub(worker)
    on, off = statistics.median(p50["on"]), statistics.median(p50["off"])
    return {"tap_off_p50_ms": off, "tap_on_p50_ms": on, "tap_cost_p50_ms": round(on - off, 3)}


async def run(sizes: Sizes, say: Callable[[str], None] = lambda _: None) -> Figures:
    """Every figure of one run (raw; :func:`bench._report.ratios` derives the comparisons)."""
    started = time.monotonic()
    figures = _machine() | {"sizes": dataclasses.asdict(sizes)}
    n = sizes.in_flight[-1]
    stack = Stack()
    portal: Portal | None = None
    say("starting nats-server, four sandboxes and the echo responder")
    await stack.start()
    assert stack.nc is not None
    try:
        say("floor: raw NATS request/reply")
        figures |= await nats_floor(stack.nc, sizes)
        for transport in _TRANSPORTS:
            say(f"direct plugin calls over {transport}")
            figures |= await direct(stack, sizes, transport)
        # The agency's own cost of a call, as the hub's is judged against: the hub's transport's client.
        figures["cpu_us_direct_client"] = figures[f"cpu_us_direct_{DEFAULT_TRANSPORT}_client"]
        figures["cpu_us_direct_sandbox"] = figures[f"cpu_us_direct_{DEFAULT_TRANSPORT}_sandbox"]
        say("audit append alone")
        figures |= await audit_append(stack.nc, sizes)
        figures |= await _tap(stack, sizes, say)
        say("bus security: the secure default against plain NATS without users, side by side")
        figures |= _security(await bus_security.measure(sizes.calls, sizes.seconds, warmup=sizes.warmup))
        say("audit checkpoints: records only against records, a signing checkpointer and a witness, side by side")
        figures |= _audit_cost(await audit_cost.measure(sizes.calls, sizes.seconds, warmup=sizes.warmup))

        say("`mpp-hub up` with the four plugins (portal API, serving the bus)")
        hub = await stack.start_hub(portal=True)
        await asyncio.sleep(1.0)  # let start-up garbage settle before reading the idle footprint
        figures["idle_rss_mb"] = rss_mb(hub.pid)
        assert hub.http_url is not None
        portal = Portal(hub.http_url, stack.api_key)
        say("latency through the bus and through the portal API")
        figures |= _named("bus", await latency(bus_call(stack), sizes.calls, warmup=sizes.warmup))
        figures |= _named("portal", await latency(portal.lookup(), sizes.calls, warmup=sizes.warmup))
        say(f"throughput through the portal API at {', '.join(map(str, sizes.in_flight))} in flight")
        figures |= await portal_throughput(portal, sizes, cpu=stack.cpu_probe({"hub": hub}))
        # The same process serves the bus here, its edge idle: what it spends per call is the worker's part.
        figures |= await _timed(bus_call(stack), sizes, stack.cpu_probe({"hub": hub}), f"bus_rps_{n}_1w", "bus")
        figures |= _edge_cpu(figures)
        figures["loaded_rss_mb"] = rss_mb(hub.pid)
        say("citizen profile fan-out against its parts")
        figures |= await fanout(stack, portal, sizes)

        say("a second worker process")
        figures |= await _two_workers(stack, hub, portal, sizes)

        if sizes.compare_transports:
            other = next(t for t in _TRANSPORTS if t != DEFAULT_TRANSPORT)
            say(f"the whole hub again on {other}")
            await portal.close()
            await stack.stop_hub(hub)
            hub = await stack.start_hub(portal=True, env={"MPP_HUB_HTTP_TRANSPORT": other})
            assert hub.http_url is not None
            portal = Portal(hub.http_url, stack.api_key)
            figures |= _named(f"bus_{other}", await latency(bus_call(stack), sizes.calls, warmup=sizes.warmup))
            cpu = stack.cpu_probe({"hub": hub})
            figures |= await _timed(portal.lookup(), sizes, cpu, f"portal_{other}_rps_{n}", f"portal_{other}")

        await portal.close()
        portal = None
        await stack.stop_hub(hub)  # one hub per data directory
        if _serves_edges():
            say(f"`mpp-hub up` with {_EDGES} edge processes on one port")
            figures |= await _two_edges(stack, sizes)
        else:
            say("this hub has no `mpp-hub up --edges` (an older one, measured for comparison): no 2-edge run")
    finally:
        if portal is not None:
            await portal.close()
        await stack.stop()
    figures["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    figures["duration_s"] = round(time.monotonic() - started, 1)
    return figures


async def _timed(call: Call, sizes: Sizes, cpu: CpuProbe, rps_key: str, run: str) -> Figures:
    """Throughput at the comparison point as ``rps_key``, with CPU per call by process as ``cpu_us_<run>_*``."""
    found = await measured_throughput(call, sizes.in_flight[-1], sizes.seconds, cpu)
    return {rps_key: found.rps} | cpu_figures(run, found)


async def _two_workers(stack: Stack, hub: HubProcess, portal: Portal, sizes: Sizes) -> Figures:
    """Bus and portal throughput with one more ``mpp-hub worker`` beside ``hub``; CPU per call of each."""
    n = sizes.in_flight[-1]
    worker = await stack.start_hub(portal=False)
    try:
        # worker_a: `mpp-hub up`'s own worker (its edge idle); worker_b: the `mpp-hub worker` process.
        cpu = stack.cpu_probe({"worker_a": hub, "worker_b": worker})
        figures = await _timed(bus_call(stack), sizes, cpu, f"bus_rps_{n}_2w", "bus_2w")
        cpu = stack.cpu_probe({"hub": hub, "worker_b": worker})
        return figures | await _timed(portal.lookup(), sizes, cpu, f"portal_2w_rps_{n}", "portal_2w")
    finally:
        await stack.stop_hub(worker)


#: Edge processes of the "2 edge processes" run (``mpp-hub up --edges``, each process a bus worker too).
_EDGES = 2


def _serves_edges() -> bool:
    return "--edges" in subprocess.run([MPP_HUB, "up", "--help"], capture_output=True, text=True, check=False).stdout


async def _two_edges(stack: Stack, sizes: Sizes) -> Figures:
    """Portal throughput of an ``mpp-hub up`` with two edge processes on one port (SO_REUSEPORT; up's own and a
    child), and CPU per call: of the hub's processes together (``hub``), of up's own (``hub_main``), of each child."""
    n = sizes.in_flight[-1]
    hub = await stack.start_hub(portal=True, env={"MPP_HUB_EDGE_PROCESSES": str(_EDGES)}, workers=_EDGES)
    assert hub.http_url is not None
    portal = Portal(hub.http_url, stack.api_key)
    try:
        cpu = stack.cpu_probe({"hub": hub})
        cpu.watched["hub_main"] = Watched(hub.pid)
        for i, child in enumerate(sorted(descendants(hub.pid)), 1):
            cpu.watched[f"hub_child_{i}"] = Watched(child, children=True)
        return await _timed(portal.lookup(), sizes, cpu, f"portal_2e_rps_{n}", "portal_2e")
    finally:
        await portal.close()
        await stack.stop_hub(hub)


def _edge_cpu(figures: Figures) -> Figures:
    """The edge's CPU per portal call. A derivation, not a reading: in `mpp-hub up` the edge and the worker share
    one process, so it is that process per portal call less the same process per bus call (edge idle)."""
    return {"cpu_us_portal_edge": round(figures["cpu_us_portal_hub"] - figures["cpu_us_bus_hub"], 1)}


def _security(found: Figures) -> Figures:
    return {
        "security_secure_p50_ms": found["secure"]["p50_ms"], "security_secure_p99_ms": found["secure"]["p99_ms"],
        "security_plain_p50_ms": found["plain"]["p50_ms"], "security_plain_p99_ms": found["plain"]["p99_ms"],
        "security_secure_rps_16": found["secure"]["calls_per_s_16_in_flight"],
        "security_plain_rps_16": found["plain"]["calls_per_s_16_in_flight"],
        "security_cost_p50_ms": found["cost"]["p50_ms"], "security_cost_p99_ms": found["cost"]["p99_ms"],
        "security_throughput_ratio": found["cost"]["throughput_ratio"],
    }  # fmt: skip


def _audit_cost(found: Figures) -> Figures:
    checkpointer = found["checkpointer"]
    return {
        "audit_records_p50_ms": found["before"]["p50_ms"], "audit_records_p99_ms": found["before"]["p99_ms"],
        "audit_checkpoints_p50_ms": found["after"]["p50_ms"], "audit_checkpoints_p99_ms": found["after"]["p99_ms"],
        "audit_records_rps_16": found["before"]["calls_per_s_16_in_flight"],
        "audit_checkpoints_rps_16": found["after"]["calls_per_s_16_in_flight"],
        "audit_cost_p50_ms": found["cost"]["p50_ms"], "audit_cost_p99_ms": found["cost"]["p99_ms"],
        "audit_cost_p50_paired_ms": found["cost"]["p50_paired_ms"],
        "audit_cost_cpu_us_per_call": found["cost"]["cpu_us_per_call"],
        "audit_cost_throughput_ratio": found["cost"]["throughput_ratio"],
        "audit_checkpoint_interval_s": checkpointer["interval_s"],
        "audit_checkpoints_signed": checkpointer["checkpoints_signed"],
        "audit_checkpoints_cosigned": checkpointer["checkpoints_cosigned"],
        "audit_checkpoint_ms_p50": checkpointer["checkpoint_ms_p50"],
        "audit_checkpoint_keep_ms_p50": checkpointer["keep_ms_p50"],
        "audit_checkpoint_sign_us": checkpointer["sign_us"],
        "audit_follow_record_us": checkpointer["follow_record_us"],
        "audit_tree_append_us": checkpointer["tree_append_us"],
    }  # fmt: skip


def _named(prefix: str, found: Latency) -> Figures:
    return {f"{prefix}_p50_ms": found.p50_ms, f"{prefix}_p99_ms": found.p99_ms}
