"""What the bench measures, one scenario per function; each returns its figures as a flat dict."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from nats.aio.client import Client as NATS

from bench._cpu import CpuProbe
from bench._echo import SUBJECT as ECHO_SUBJECT
from bench._measure import Call, Latency, Throughput, latency, measured_throughput, throughput
from bench._sizes import Sizes
from bench._stack import AUDIT_KEY, Stack
from contracts import OPERATIONS
from hub import CallContext, HubClient, load_plugins
from hub._audit import AuditEntry, AuditLog
from hub._transport import HttpTransport, use_transport
from plugins._synthetic import residents

__all__ = [
    "Portal",
    "audit_append",
    "bus_call",
    "cpu_figures",
    "direct",
    "fanout",
    "nats_floor",
    "portal_throughput",
]

OPERATION = "identity.lookup"
PURPOSE = "layanan-kependudukan"
_PROFILE_PURPOSE = "layanan-terpadu"
_NIKS = residents.samples(50)

Figures = dict[str, Any]


def _latency(prefix: str, found: Latency) -> Figures:
    return {f"{prefix}_p50_ms": found.p50_ms, f"{prefix}_p99_ms": found.p99_ms}


def cpu_figures(run: str, found: Throughput) -> Figures:
    """``cpu_us_<run>_<process>``: CPU µs per completed call of a throughput run, and ``cpu_calls_<run>``, the
    calls they are over (few calls on a smoke run: its CPU figures are only there to prove they exist)."""
    return {f"cpu_us_{run}_{name}": us for name, us in found.cpu_us.items()} | {f"cpu_calls_{run}": found.done}


async def nats_floor(nc: NATS, sizes: Sizes) -> Figures:
    """Raw nats-py request/reply with an echo responder in another process: what one bus hop costs."""
    payload = b'{"nik": "3328080709870001"}'

    async def call(_: int) -> object:
        return await nc.request(ECHO_SUBJECT, payload, timeout=10)

    figures = _latency("nats_rtt", await latency(call, sizes.calls, warmup=sizes.warmup))
    rps, _ = await throughput(call, sizes.in_flight[-1], sizes.seconds)
    return figures | {f"nats_rps_{sizes.in_flight[-1]}": rps}


async def direct(stack: Stack, sizes: Sizes, transport: HttpTransport) -> Figures:
    """The translator calling its sandbox in this process: no bus, no HTTP edge (the hub's work is the rest)."""
    use_transport(transport)
    agency = load_plugins(only={"dukcapil"}).agencies["dukcapil"]
    connector = await agency.connect(agency.settings.model_validate(stack.plugin_settings("dukcapil")))
    served = agency.operations[OPERATION]
    inputs = [OPERATIONS.get(OPERATION).input.model_validate({"nik": nik}) for nik in _NIKS]

    async def call(i: int) -> object:
        ctx = CallContext(OPERATION, uuid.uuid4().hex, time.monotonic() + 10)
        return await served.handler(connector, inputs[i % len(inputs)], ctx)

    # The client here is this process: the plugin's own work and its HTTP client, nothing of the hub's.
    cpu = CpuProbe.of({"client": os.getpid(), "sandbox": stack.sandbox_pids["dukcapil"]})
    try:
        figures = _latency(f"direct_{transport}", await latency(call, sizes.calls, warmup=sizes.warmup))
        found = await measured_throughput(call, sizes.in_flight[-1], sizes.seconds, cpu)
    finally:
        await connector.aclose()
    return (
        figures
        | {f"direct_{transport}_rps_{sizes.in_flight[-1]}": found.rps, f"direct_{transport}_errors": found.errors}
        | cpu_figures(f"direct_{transport}", found)
    )


def bus_call(stack: Stack) -> Call:
    """``mpp-hub call``'s path: a HubClient request on the bus, with a caller assertion signed as the CLI role
    signs it (one per call), answered by whichever hub worker."""
    assert stack.nc is not None and stack.issuer is not None
    client = HubClient(stack.nc, timeout=10, issuer=stack.issuer, consumer=stack.consumer, purpose=PURPOSE)

    async def call(i: int) -> object:
        return await client.call(OPERATION, {"nik": _NIKS[i % len(_NIKS)]})

    return call


class Portal:
    """A portal calling the hub's HTTP API over one pooled aiohttp session (the lightest client we have)."""

    def __init__(self, url: str, api_key: str, purpose: str = PURPOSE) -> None:
        self.url, self.api_key = url, api_key
        self._headers = {"Authorization": f"Bearer {api_key}", "X-Purpose": purpose}
        # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so none is reused as it closes.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=3))

    async def close(self) -> None:
        await self._session.close()

    async def post(self, operation: str, body: dict[str, Any], *, ok: Callable[[int], bool] = (200).__eq__) -> object:
        async with self._session.post(f"{self.url}/v1/{operation}", json=body, headers=self._headers) as response:
            data = await response.read()
            if not ok(response.status):
                raise RuntimeError(f"{operation}: HTTP {response.status}: {data[:300]!r}")
            return data

    async def get(self, path: str) -> object:
        async with self._session.get(f"{self.url}{path}", headers=self._headers) as response:
            data = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status}: {data[:300]!r}")
            return data

    def lookup(self) -> Call:
        async def call(i: int) -> object:
            return await self.post(OPERATION, {"nik": _NIKS[i % len(_NIKS)]})

        return call


async def portal_throughput(
    portal: Portal, sizes: Sizes, label: str = "portal", cpu: CpuProbe | None = None
) -> Figures:
    """Throughput at each of ``sizes.in_flight``; CPU per call (``cpu_us_<label>_*``) at the last, the comparison
    point, where the most calls are made in steady state."""
    figures: Figures = {}
    for n in sizes.in_flight:
        last = n == sizes.in_flight[-1]
        found = await measured_throughput(portal.lookup(), n, sizes.seconds, cpu if last else None)
        figures[f"{label}_rps_{n}"] = found.rps
        if found.errors:
            figures[f"{label}_errors_{n}"] = found.errors
        if last and cpu:
            figures |= cpu_figures(label, found)
    return figures


async def fanout(stack: Stack, portal: Portal, sizes: Sizes) -> Figures:
    """The citizen profile against its three parts called one by one, with a fixed latency in every sandbox."""
    niks = residents.samples(20)
    parts = ("identity.lookup", "health.coverage", "vehicle.list_by_owner")

    def answered(status: int) -> bool:
        return status in (200, 404)  # a resident without a vehicle is a 404, and still a whole call to the agency

    figures: Figures = {"fanout_added_latency_ms": sizes.fanout_latency_ms}
    # A purpose that covers the profile and each of its parts: under a narrower one a part is refused at once.
    portal = Portal(portal.url, portal.api_key, purpose=_PROFILE_PURPOSE)
    await stack.set_latency(sizes.fanout_latency_ms)
    try:
        singles = []
        for operation in parts:

            def part(i: int, operation: str = operation) -> Awaitable[object]:
                return portal.post(operation, {"nik": niks[i % len(niks)]}, ok=answered)

            found = await latency(part, sizes.fanout_calls, warmup=2)
            figures[f"single_{operation}_p50_ms"] = found.p50_ms
            singles.append(found.p50_ms)

        def profile(i: int) -> Awaitable[object]:
            return portal.get(f"/v1/citizens/{niks[i % len(niks)]}/profile")

        found = await latency(profile, sizes.fanout_calls, warmup=2)
    finally:
        await stack.set_latency(0)
        await portal.close()
    return figures | _latency("profile", found) | {"parts_sum_p50_ms": round(sum(singles), 3),
                                                   "parts_max_p50_ms": max(singles)}  # fmt: skip


async def audit_append(nc: NATS, sizes: Sizes) -> Figures:
    """One audit record appended at the head of the log, alone (the audit has no off switch: it fails closed).

    On the hub's own audit stream (the bench's bus is thrown away after the run), with the CLI role's right to
    append, as `mpp-hub dlq replay` does: no role may create a stream of its own.
    """
    audit = AuditLog(nc.jetstream(), AUDIT_KEY.encode())

    async def call(i: int) -> object:
        return await audit.append(
            AuditEntry(
                consumer="bench", operation=OPERATION, purpose=PURPOSE, subject=_NIKS[i % len(_NIKS)],
                subject_kind="nik", outcome="ok", correlation_id=uuid.uuid4().hex,
            )
        )  # fmt: skip

    return _latency("audit_append", await latency(call, sizes.calls, warmup=sizes.warmup))
