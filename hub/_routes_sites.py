"""The sites' schedule on the edge (MPP bergerak): ``GET /v1/sites/schedule?days=14``, public.

It holds no personal data (where and when a service van serves, and which services), so it needs no API key, as
the citizen page's routes need none; the citizen page shows it as "Jadwal MPP Keliling". As they are, it is
limited per client address, and the schedule is read from the bus at most once every few seconds per edge
(however many citizens ask), so strangers cannot make the edge read the bucket at will.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from contracts import SiteVisit
from hub._routes_common import ERRORS, EdgeContext
from hub._site_schedule import SiteSchedule
from hub._time import WIB, utcnow
from hub.front._web import AddressLimit

__all__ = ["MAX_DAYS", "sites_router"]

#: The furthest ahead the route answers, in days.
MAX_DAYS = 60
#: How long an edge answers from the schedule it last read, in seconds.
_FRESH_FOR = 5.0
_READS_PER_MINUTE = 120

Days = Annotated[
    int, Query(ge=1, le=MAX_DAYS, description=f"How many WIB days from today, today included (1 to {MAX_DAYS}).")
]


class _Ahead:
    """The schedule from today (WIB) for ``MAX_DAYS`` days, read at most once every ``_FRESH_FOR`` seconds."""

    def __init__(self, context: EdgeContext) -> None:
        self._context = context
        self._schedule: SiteSchedule | None = None
        self._lock = asyncio.Lock()
        self._read: tuple[float, dt.date, list[SiteVisit]] | None = None

    async def visits(self, today: dt.date) -> list[SiteVisit]:
        loop = asyncio.get_running_loop()
        async with self._lock:  # citizens asking at once wait for one read
            if self._read is None or self._read[1] != today or loop.time() - self._read[0] > _FRESH_FOR:
                if self._schedule is None:
                    self._schedule = await SiteSchedule.open(self._context.edge.nc.jetstream())
                self._read = (loop.time(), today, await self._schedule.upcoming(today, MAX_DAYS))
            return self._read[2]


def sites_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(prefix="/v1/sites", tags=["sites"], responses=ERRORS)
    ahead = _Ahead(context)
    limit = AddressLimit(_READS_PER_MINUTE)

    @router.get("/schedule", response_model=list[SiteVisit])
    async def schedule(request: Request, days: Days = 14) -> Response:
        """Where and when each site of the mall (a service van, a kiosk: MPP keliling) serves, and which queue
        services, from today (WIB) for `days` days, by day then site. Public: no API key (it holds no personal
        data); limited per client address."""
        limit.admit(request)
        today = utcnow().astimezone(WIB).date()
        end = today + dt.timedelta(days=days)
        visits = [visit.model_dump(mode="json") for visit in await ahead.visits(today) if visit.day < end]
        return JSONResponse(visits, headers={"Cache-Control": "no-store"})

    return router
