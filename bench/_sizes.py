"""How much the bench measures: full (docs/performance.md's figures), --quick, and --smoke (CI: only that it runs)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "QUICK", "SMOKE", "Sizes"]


@dataclass(frozen=True)
class Sizes:
    calls: int  # sequential calls per latency figure
    warmup: int
    seconds: float  # per throughput figure
    in_flight: tuple[int, ...]  # throughput through the portal at these; the last one is the comparison point
    fanout_calls: int
    fanout_latency_ms: float  # added in every sandbox for the fan-out comparison
    tap_rounds: int  # tap off, tap on: this many times, interleaved
    compare_transports: bool  # also run the whole hub on the other transport


FULL = Sizes(calls=1000, warmup=50, seconds=4.0, in_flight=(1, 16, 64), fanout_calls=40, fanout_latency_ms=50,
             tap_rounds=2, compare_transports=True)  # fmt: skip
QUICK = Sizes(calls=300, warmup=30, seconds=2.0, in_flight=(1, 16, 64), fanout_calls=15, fanout_latency_ms=50,
              tap_rounds=1, compare_transports=False)  # fmt: skip
SMOKE = Sizes(calls=20, warmup=3, seconds=0.2, in_flight=(1, 4), fanout_calls=3, fanout_latency_ms=20,
              tap_rounds=1, compare_transports=False)  # fmt: skip
