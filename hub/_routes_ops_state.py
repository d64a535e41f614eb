"""What the ops dashboard shows: this edge's live view of the bus traffic, the mall's applications of the day,
and the snapshot that puts them together with each agency's health.

What it holds is already masked at the source (the traffic records); the mall's view counts applications without
showing anyone's NIK.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import ValidationError

from contracts import AgencyHealth, Application, ApplicationStatus, TrafficRecord
from hub._runtime import Hub
from hub._time import WIB
from hub._traffic_stats import RowStats, TrafficStats
from hub._watch import tail_subject

__all__ = ["SERVICE_STANDARDS", "DashboardState", "TrafficFeed", "mall_view"]

_LAST_EXCHANGES = 50
_APPLICATIONS_TTL = 10.0  # reading every application is a KV scan: not once a second per viewer
#: The service standard (standar pelayanan) the mall publishes per service: how long a finished
#: application may take from submission. A service missing here is counted but not judged.
SERVICE_STANDARDS: dict[str, dt.timedelta] = {
    "vehicle-tax-renewal": dt.timedelta(hours=1),
}
# An application is finished when the mall has answered it; an expired one waited on the citizen, not the mall.
_FINISHED = (ApplicationStatus.DONE, ApplicationStatus.REJECTED)

_log = structlog.get_logger("hub.ops")


class TrafficFeed:
    """This edge's view of the bus traffic: the live figures, the last exchanges, and a wake-up for streams."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self.stats = TrafficStats()
        self.exchanges: deque[dict[str, Any]] = deque(maxlen=_LAST_EXCHANGES)
        self.seq = 0
        self._arrived = asyncio.Event()
        self._sub: Subscription | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Subscribe on first use; figures count from then (compare with Prometheus from then too)."""
        if self._sub is not None:
            return
        async with self._lock:
            nc = self._nc
            if self._sub is not None or not nc.is_connected:
                return
            self.stats = TrafficStats()
            self._sub = await nc.subscribe(tail_subject(), cb=self._on_message)
            await nc.flush()  # from here on nothing published is missed

    async def _on_message(self, msg: Msg) -> None:
        try:
            record = TrafficRecord.model_validate_json(msg.data)
        except ValidationError:
            return  # not ours to judge here; `mpp-hub tail` skips it the same way
        self.stats.add(record)
        self.seq += 1
        self.exchanges.append({"seq": self.seq, **record.model_dump(mode="json")})
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    def after(self, seq: int) -> list[dict[str, Any]]:
        return [e for e in self.exchanges if e["seq"] > seq]

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout)):
                await self._arrived.wait()


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def mall_view(applications: Iterable[Application], now: dt.datetime | None = None) -> dict[str, Any]:
    """Today's applications by status, channel and agency, and how many finished within their service standard.

    The mall's day is Western Indonesian Time (Tegal; no daylight saving)."""
    today = (now or dt.datetime.now(dt.UTC)).astimezone(WIB).date()
    todays = [a for a in applications if a.created_at.astimezone(WIB).date() == today]
    services: dict[str, dict[str, Any]] = {}
    for app in todays:
        standard = SERVICE_STANDARDS.get(app.service)
        row = services.setdefault(
            app.service,
            {
                "title": app.title,
                "total": 0,
                "finished": 0,
                "within_standard": 0,
                "standard_minutes": standard.total_seconds() / 60 if standard else None,
            },
        )
        row["total"] += 1
        if app.status in _FINISHED:
            row["finished"] += 1
            if standard is not None and app.updated_at - app.created_at <= standard:
                row["within_standard"] += 1
    return {
        "date": today.isoformat(),
        "timezone": "WIB",
        "total": len(todays),
        "by_status": _count(a.status.value for a in todays),
        "by_channel": _count(a.channel.value for a in todays),
        "by_agency": _count(agency for a in todays for agency in a.agencies),
        "finished": sum(s["finished"] for s in services.values()),
        "within_standard": sum(s["within_standard"] for s in services.values()),
        "services": dict(sorted(services.items())),
    }


class DashboardState:
    """The dashboard's state. Traffic figures are in memory and always fresh; agency health is cached by
    each agency's probe; only the applications, a KV scan, are cached here."""

    def __init__(self, hub: Hub, feed: TrafficFeed) -> None:
        self._hub = hub
        self._feed = feed
        self._lock = asyncio.Lock()
        self._mall: tuple[float, dict[str, Any] | None] | None = None

    async def get(self) -> dict[str, Any]:
        hub, now = self._hub, dt.datetime.now(dt.UTC)
        health = await hub.agency_health() if hub.services else {}
        stats = self._feed.stats
        operations: dict[str, list[RowStats]] = {}
        for row in stats.snapshot(now):
            operations.setdefault(row.agency, []).append(row)
        agencies = [
            self._agency(row, health.get(row.agency), operations.get(row.agency, []))
            for row in stats.by_agency(now, include=hub.services)
        ]
        return {
            "generated_at": now.isoformat(),
            "since": stats.started.isoformat(),
            "window_seconds": stats.window,
            "nats_connected": hub.nats_connected,
            "agencies": agencies,
            "exchanges": list(reversed(self._feed.exchanges)),
            "applications": await self._applications(),
        }

    def _agency(self, row: RowStats, health: AgencyHealth | None, operations: list[RowStats]) -> dict[str, Any]:
        """One row per provider (``agency`` is its name: an agency's own provider is named by its code)."""
        service = self._hub.services.get(row.agency)
        agency = service.agency if service else self._hub.plugins.agencies.get(row.agency)
        name = agency.name if agency else row.agency
        return {
            **row.as_json(),
            "of": agency.code if agency else row.agency,
            "name": name if agency is None or agency.code == row.agency else f"{name}: {row.agency}",
            "health": health.model_dump(mode="json") if health else None,
            "circuit": service.guard.circuit.value if service else "unknown",
            "operations": [op.as_json() for op in operations],
        }

    async def _applications(self) -> dict[str, Any] | None:
        engine = self._hub.engine
        if engine is None or not self._hub.plugins.processes:
            return None
        async with self._lock:  # one scan however many viewers ask at once
            now = asyncio.get_running_loop().time()
            if self._mall is None or now - self._mall[0] >= _APPLICATIONS_TTL:
                try:
                    view: dict[str, Any] | None = mall_view(await engine.store.every())
                except Exception as exc:  # the traffic figures are still worth showing
                    _log.warning("applications not read for the dashboard", error=type(exc).__name__)
                    view = None
                self._mall = (now, view)
            return self._mall[1]
