"""What the ops dashboard shows: this edge's live view of the bus traffic, the mall's applications of the day,
the front of house's figures (tickets, waits and service times) of today, this week and this month, how each
site (MPP bergerak: a service van, a kiosk) stands with the hub, and the snapshot that puts them together with
each agency's health.

What it holds is already masked at the source (the traffic records); the mall's view counts applications without
showing anyone's NIK, and a ticket holds no personal data; a site's state counts messages, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.kv import KeyValue
from pydantic import ValidationError

from contracts import AgencyHealth, Application, SiteState, SurveyRecord, Ticket, TrafficRecord
from hub._mall_figures import (
    DEFAULT_FRONT_STANDARDS,
    FINISHED_STATUSES,
    SERVICE_STANDARDS,
    TOTAL,
    FrontStandard,
    Grain,
    MallFigures,
    application_rows,
    complaint_rows,
    mall_figures,
    period_of,
)
from hub._mall_report import month_period, read_tickets
from hub._queue import FRONT_BUCKET
from hub._runtime import Hub
from hub._site_state import SiteBook
from hub._streams import bind_key_value
from hub._survey import SurveyBox
from hub._time import WIB, utcnow
from hub._traffic_stats import RowStats, TrafficStats
from hub._usage_report import Period
from hub._watch import tail_subject

__all__ = [
    "SERVICE_STANDARDS",
    "DashboardState",
    "FrontTickets",
    "SiteStates",
    "TrafficFeed",
    "front_view",
    "mall_view",
]

_LAST_EXCHANGES = 50
_APPLICATIONS_TTL = 10.0  # reading every application is a KV scan: not once a second per viewer
# Tickets of earlier days are read again at most this often: a desk rarely moves yesterday's ticket on.
_EARLIER_DAYS_TTL = 300.0
# The sites' states are read at most this often: a listing and two reads per site, for every viewer's snapshot
# each second; a site reports every few seconds and shows offline after 15 s (hub._site_state.CONNECTED_WITHIN).
_SITES_TTL = 2.0
# SERVICE_STANDARDS (the applications' service standards) live with the figures, hub._mall_figures.

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
        if app.status in FINISHED_STATUSES:
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


def _front_period(figures: MallFigures, period: str) -> dict[str, Any]:
    """One period's part of the front's view: the mall, each service, each desk, and what else was counted."""
    rows = [asdict(row) for row in figures.front if row.period == period]
    ikm = [asdict(row) for row in figures.ikm if row.period == period and row.desk == TOTAL]
    return {
        "period": period,
        "total": next((row for row in rows if (row["service"], row["desk"]) == (TOTAL, TOTAL)), None),
        "services": [row for row in rows if row["service"] != TOTAL and row["desk"] == TOTAL],
        "desks": [row for row in rows if row["service"] == TOTAL and row["desk"] != TOTAL],
        "applications": next(
            (asdict(a) for a in figures.applications if (a.period, a.service) == (period, TOTAL)), None
        ),
        "ikm": next((row for row in ikm if row["service"] == TOTAL), None),
        "ikm_services": [row for row in ikm if row["service"] != TOTAL],
        "complaints": next((asdict(c) for c in figures.complaints if c.period == period), None),
    }


def front_view(
    tickets: Iterable[Ticket],
    applications: Iterable[Application] = (),
    now: dt.datetime | None = None,
    standards: Mapping[str, FrontStandard] = DEFAULT_FRONT_STANDARDS,
    surveys: Iterable[SurveyRecord] = (),
) -> dict[str, Any]:
    """The front of house today, this ISO week and this month (WIB): tickets, waits and service times against
    the standard (seconds; p50 and p90 by nearest rank, see hub._mall_figures), per service and per desk; the
    applications submitted then that finished within their standard; the satisfaction index (IKM) of the surveys
    given then; and the complaints made then, open and past their deadlines now. Other periods are left out."""
    moment = now or utcnow()
    tickets, applications, surveys = list(tickets), list(applications), list(surveys)
    periods = {}
    for name, grain in (("today", Grain.DAY), ("week", Grain.WEEK), ("month", Grain.MONTH)):
        figures = mall_figures(tickets, applications, grain, surveys=surveys, now=moment, front_standards=standards)
        periods[name] = _front_period(figures, period_of(moment, grain))
    return {
        "timezone": "WIB",
        "periods": periods,
        "standards": {
            code: {
                "waiting_seconds": s.waiting // dt.timedelta(seconds=1),
                "service_seconds": s.service // dt.timedelta(seconds=1),
            }
            for code, s in sorted(standards.items())
        },
    }


class FrontTickets:
    """The tickets of a run of WIB days, from the front of house bucket: today's read afresh each time, earlier
    days' at most every few minutes (their tickets are final but for the odd late move)."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._days: dict[dt.date, tuple[float, list[Ticket]]] = {}

    async def between(self, first: dt.date, today: dt.date) -> list[Ticket]:
        clock = asyncio.get_running_loop().time()
        found: list[Ticket] = []
        for offset in range((today - first).days + 1):
            day = first + dt.timedelta(days=offset)
            cached = self._days.get(day)
            if day == today or cached is None or clock - cached[0] >= _EARLIER_DAYS_TTL:
                cached = (clock, await read_tickets(self._kv, Period(day, day, WIB)))
                self._days[day] = cached
            found.extend(cached[1])
        self._days = {day: value for day, value in self._days.items() if day >= first}
        return found


class SiteStates:
    """How each registered site stands with the hub (connected or not, since when, what waits to be synced, the
    last sync), from the ``mpp_sites`` bucket: read afresh at most every couple of seconds, however many ask."""

    def __init__(self, connection: Callable[[], NATS], ttl: float = _SITES_TTL) -> None:
        self._connection = connection  # asked on first use: the hub may not be connected yet when this is made
        self._ttl = ttl
        self._book: SiteBook | None = None
        self._lock = asyncio.Lock()
        self._read: tuple[float, list[SiteState] | None] | None = None
        self._failing = False  # warned once while the bucket cannot be read, not on every snapshot

    async def read(self, now: dt.datetime | None = None) -> list[SiteState]:
        """Every registered site's state, by name; raises when the bucket cannot be read."""
        if self._book is None:
            self._book = await SiteBook.open(self._connection().jetstream())
        return await self._book.states(await self._book.names(), now)

    async def get(self) -> list[dict[str, Any]] | None:
        """The sites' states as JSON (an empty list when no site is registered); None when the bucket cannot be
        read (a bus set up before there were sites: `mpp-hub bus setup` adds the bucket)."""
        async with self._lock:  # one read however many viewers ask at once
            clock = asyncio.get_running_loop().time()
            if self._read is None or clock - self._read[0] >= self._ttl:
                states: list[SiteState] | None
                try:
                    states = await self.read()
                except Exception as exc:  # the rest of the dashboard is still worth showing
                    if not self._failing:
                        _log.warning("sites not read for the dashboard", error=type(exc).__name__)
                    states, self._failing = None, True
                else:
                    self._failing = False
                self._read = (clock, states)
            found = self._read[1]
            return None if found is None else [state.model_dump(mode="json") for state in found]


class DashboardState:
    """The dashboard's state. Traffic figures are in memory and always fresh; agency health is cached by
    each agency's probe; only the applications, a KV scan, are cached here."""

    def __init__(
        self, hub: Hub, feed: TrafficFeed, standards: Mapping[str, FrontStandard] = DEFAULT_FRONT_STANDARDS
    ) -> None:
        self._hub = hub
        self._feed = feed
        self._standards = standards  # the mall's own, from [front.standards]
        self._lock = asyncio.Lock()
        self._mall: tuple[float, dict[str, Any] | None] | None = None
        self._listed: list[Application] = []  # the applications the last scan read, for the front's figures too
        self._front: tuple[float, dict[str, Any] | None] | None = None
        self._tickets: FrontTickets | None = None
        self._surveys: SurveyBox | None = None  # kept beside the tickets, in the same bucket
        self.sites = SiteStates(lambda: hub.nc)

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
            "front": await self._front_view(),
            "sites": await self.sites.get(),
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

    async def month_figures(self, month: str) -> dict[str, Any]:
        """The month's applications and complaints as figures only (no application itself), for `mpp-hub report`:
        the CLI's bus role may not read the applications, whose open ones hold their applicant's NIK sealed."""
        period = month_period(month)
        engine = self._hub.engine
        listed = await engine.store.every() if engine is not None and self._hub.plugins.processes else []
        applications = [app for app in listed if period.contains(app.created_at)]
        return {
            "month": f"{period.first:%Y-%m}",
            "applications": [asdict(row) for row in application_rows(applications, Grain.MONTH)],
            "complaints": [asdict(row) for row in complaint_rows(applications, Grain.MONTH, utcnow())],
        }

    async def _applications(self) -> dict[str, Any] | None:
        engine = self._hub.engine
        if engine is None or not self._hub.plugins.processes:
            return None
        async with self._lock:  # one scan however many viewers ask at once
            now = asyncio.get_running_loop().time()
            if self._mall is None or now - self._mall[0] >= _APPLICATIONS_TTL:
                try:
                    self._listed = await engine.store.every()
                    view: dict[str, Any] | None = mall_view(self._listed)
                except Exception as exc:  # the traffic figures are still worth showing
                    _log.warning("applications not read for the dashboard", error=type(exc).__name__)
                    view = None
                self._mall = (now, view)
            return self._mall[1]

    async def _front_view(self) -> dict[str, Any] | None:
        """The front of house's figures, read at most every few seconds (tickets of today, this week and this
        month: a listing per day); None when the bucket cannot be read."""
        async with self._lock:
            clock = asyncio.get_running_loop().time()
            if self._front is None or clock - self._front[0] >= _APPLICATIONS_TTL:
                try:
                    view: dict[str, Any] | None = await self._read_front()
                except Exception as exc:  # the rest of the dashboard is still worth showing
                    _log.warning("front of house not read for the dashboard", error=type(exc).__name__)
                    view = None
                self._front = (clock, view)
            return self._front[1]

    async def _read_front(self) -> dict[str, Any]:
        now = utcnow()
        today = now.astimezone(WIB).date()
        first = min(today - dt.timedelta(days=today.weekday()), today.replace(day=1))  # the week's Monday, or the 1st
        if self._tickets is None:
            kv = await bind_key_value(self._hub.nc.jetstream(), FRONT_BUCKET)
            self._tickets, self._surveys = FrontTickets(kv), SurveyBox(kv)
        tickets = await self._tickets.between(first, today)
        surveys = await self._surveys.between(first, today) if self._surveys is not None else []
        return front_view(tickets, self._listed, now, self._standards, surveys)
