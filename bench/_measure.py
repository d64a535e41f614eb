"""Timing primitives: latencies of calls one after the other, and throughput with N calls in flight."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench._cpu import CpuProbe

__all__ = ["Call", "Latency", "Throughput", "latency", "measured_throughput", "throughput"]

#: One call of the operation measured; the argument is the call's number (to vary the input).
Call = Callable[[int], Awaitable[object]]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    count: int


def _summary(timings: list[float]) -> Latency:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return Latency(round(statistics.median(ordered), 3), round(p99, 3), len(ordered))


async def latency(call: Call, count: int, *, warmup: int = 20) -> Latency:
    """Milliseconds per call, calls made one after the other (after ``warmup`` untimed ones)."""
    for i in range(warmup):
        await call(i)
    timings = []
    for i in range(count):
        started = time.perf_counter()
        await call(i)
        timings.append((time.perf_counter() - started) * 1000)
    return _summary(timings)


@dataclass(frozen=True)
class Throughput:
    rps: float
    errors: int
    done: int  # calls completed while timed (failures not counted)
    cpu_us: dict[str, float] = field(default_factory=dict)  # CPU per completed call, by process (see bench._cpu)


async def throughput(call: Call, in_flight: int, seconds: float) -> tuple[float, int]:
    """Calls per second with ``in_flight`` calls kept going for ``seconds`` (after a short untimed warm-up),
    and how many failed (not counted as done: a failing hub must not look fast)."""
    found = await measured_throughput(call, in_flight, seconds)
    return found.rps, found.errors


async def measured_throughput(call: Call, in_flight: int, seconds: float, cpu: CpuProbe | None = None) -> Throughput:
    """:func:`throughput`, with the calls completed and, given a probe, each process's CPU per completed call
    (read around the timed part only: the warm-up's CPU is not in it)."""
    await asyncio.gather(*(call(i) for i in range(in_flight)))
    done = errors = 0
    before = cpu.snapshot() if cpu else {}
    started = time.perf_counter()
    stop_at = started + seconds

    async def loop(lane: int) -> None:
        nonlocal done, errors
        i = lane
        while time.perf_counter() < stop_at:
            try:
                await call(i)
                done += 1
            except Exception:  # counted and reported, so one refusal does not throw away the whole run
                errors += 1
            i += in_flight

    await asyncio.gather(*(loop(lane) for lane in range(in_flight)))
    elapsed = time.perf_counter() - started
    cpu_us = CpuProbe.per_call_us(before, cpu.snapshot(), done) if cpu else {}
    return Throughput(round(done / elapsed, 1), errors, done, cpu_us)
