"""Live figures over the traffic records: rate, latency percentiles and errors per agency and operation.

Pure and synchronous, so ``mpp-hub top`` and the ops dashboard share it and tests drive it with their own clock.
Window figures are computed from the records of the last ``window`` seconds; totals since start never decay,
so they can be compared with the Prometheus counters ``mpp_requests_total``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts import TrafficRecord

__all__ = ["ALL_OPERATIONS", "RowStats", "TrafficStats"]

#: The ``operation`` of a row that sums up every operation of an agency.
ALL_OPERATIONS = "*"
#: Records kept per key at most; past this rate (about 800 a second for a 60 s window) window figures
#: describe the newest records only, which keeps memory bounded under any load.
_MAX_PER_KEY = 50_000
#: Points of the per-agency sparkline over the window.
_SERIES_POINTS = 30

_Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Seen:
    at: float  # seconds since the epoch
    latency_ms: float
    outcome: str


@dataclass(frozen=True, slots=True)
class RowStats:
    """The figures of one agency and operation (or of a whole agency, ``operation == "*"``)."""

    agency: str
    operation: str
    count: int
    rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: dict[str, int]
    error_rate: float
    totals: dict[str, int]
    series: tuple[int, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def total_errors(self) -> int:
        return sum(n for outcome, n in self.totals.items() if outcome != "ok")

    def as_json(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "operation": self.operation,
            "count": self.count,
            "rate": round(self.rate, 3),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "errors": dict(sorted(self.errors.items())),
            "error_rate": round(self.error_rate, 4),
            "totals": dict(sorted(self.totals.items())),
            "total": self.total,
            "total_errors": self.total_errors,
            "series": list(self.series),
        }


def _seconds(moment: dt.datetime) -> float:
    # A naive time would be read in the local zone and shift everything by the UTC offset.
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _percentile(ordered: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: always a latency that was actually seen."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class TrafficStats:
    def __init__(self, window: float = 60.0, *, started: dt.datetime | None = None) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window
        self.started = started or dt.datetime.now(dt.UTC)
        self._recent: dict[_Key, deque[_Seen]] = {}
        self._totals: dict[_Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, record: TrafficRecord) -> None:
        key = (record.provider or record.agency or "hub", record.operation)  # a row per provider (one bank of two)
        seen = _Seen(_seconds(record.at), record.latency_ms, record.outcome)
        recent = self._recent.setdefault(key, deque(maxlen=_MAX_PER_KEY))
        recent.append(seen)
        self._totals[key][record.outcome] += 1
        self._evict(recent, seen.at - self.window)

    def snapshot(self, now: dt.datetime | None = None) -> list[RowStats]:
        """One row per agency and operation ever seen, sorted; idle ones keep their totals."""
        end = self._now(now)
        rows = []
        for key in sorted(self._totals):
            recent = self._recent.get(key, deque())
            self._evict(recent, end - self.window)
            rows.append(self._row(key[0], key[1], [recent], [self._totals[key]], end))
        return rows

    def by_agency(self, now: dt.datetime | None = None, *, include: Iterable[str] = ()) -> list[RowStats]:
        """One row per agency over all its operations (percentiles of the merged latencies), with a sparkline.

        ``include``: agencies to list even before their first record (those the hub serves).
        """
        end = self._now(now)
        agencies = sorted({agency for agency, _ in self._totals} | set(include))
        rows = []
        for agency in agencies:
            keys = [key for key in self._totals if key[0] == agency]
            recents = [self._recent.get(key, deque()) for key in keys]
            for recent in recents:
                self._evict(recent, end - self.window)
            rows.append(self._row(agency, ALL_OPERATIONS, recents, [self._totals[k] for k in keys], end, series=True))
        return rows

    def _now(self, now: dt.datetime | None) -> float:
        return _seconds(now or dt.datetime.now(dt.UTC))

    @staticmethod
    def _evict(recent: deque[_Seen], oldest: float) -> None:
        while recent and recent[0].at < oldest:
            recent.popleft()

    def _row(
        self,
        agency: str,
        operation: str,
        recents: Iterable[deque[_Seen]],
        totals: Iterable[dict[str, int]],
        end: float,
        *,
        series: bool = False,
    ) -> RowStats:
        seen = [s for recent in recents for s in recent if s.at <= end]
        latencies = sorted(s.latency_ms for s in seen)
        errors: dict[str, int] = defaultdict(int)
        for s in seen:
            if s.outcome != "ok":
                errors[s.outcome] += 1
        summed: dict[str, int] = defaultdict(int)
        for per_outcome in totals:
            for outcome, n in per_outcome.items():
                summed[outcome] += n
        # Right after start the window is not full yet; dividing by all of it would understate the rate.
        span = max(1.0, min(self.window, end - _seconds(self.started)))
        return RowStats(
            agency=agency,
            operation=operation,
            count=len(seen),
            rate=len(seen) / span,
            p50_ms=_percentile(latencies, 0.50),
            p95_ms=_percentile(latencies, 0.95),
            p99_ms=_percentile(latencies, 0.99),
            errors=dict(errors),
            error_rate=sum(errors.values()) / len(seen) if seen else 0.0,
            totals=dict(summed),
            series=self._series(seen, end) if series else (),
        )

    def _series(self, seen: list[_Seen], end: float) -> tuple[int, ...]:
        width = self.window / _SERIES_POINTS
        counts = [0] * _SERIES_POINTS
        for s in seen:
            index = _SERIES_POINTS - 1 - int((end - s.at) / width)
            if 0 <= index < _SERIES_POINTS:
                counts[index] += 1
        return tuple(counts)
