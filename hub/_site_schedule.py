"""The sites' schedule (MPP bergerak): where and when each site (a service van, a kiosk) serves, and which services.

One entry per site and WIB day, at ``visit.<site>.<YYYYMMDD>`` in the ``mpp_sites`` bucket (see
:mod:`hub._site_state`), holding a :class:`contracts.SiteVisit` as JSON. The admin writes it (`mpp-hub site
schedule add`); workers, edges, the CLI and ops read it: the citizen page publishes the days ahead
(``GET /v1/sites/schedule``) and a site asks what it offers today. Nothing in it is personal, so past days are
kept; a listing shows from the day it is asked from.
"""

from __future__ import annotations

import datetime as dt

import structlog
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import ValidationError

from contracts import SiteVisit
from hub._kv_watch import current_entries
from hub._site_state import SITES_BUCKET
from hub._streams import bind_key_value, kv_value

__all__ = ["SiteSchedule", "visit_key"]

_log = structlog.get_logger("hub.sites")


def visit_key(site: str, day: dt.date) -> str:
    """The key of a site's entry for a day: ``visit.van-1.20260504``."""
    return f"visit.{site}.{day:%Y%m%d}"


class SiteSchedule:
    """Read and write the sites' schedule."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> SiteSchedule:
        return cls(await bind_key_value(js, SITES_BUCKET))

    async def put(self, visit: SiteVisit) -> None:
        """Set ``visit`` as its site's entry for its day, replacing any entry the site had that day."""
        await self._kv.put(visit_key(visit.site, visit.day), visit.model_dump_json().encode())

    async def remove(self, site: str, day: dt.date) -> bool:
        """Drop the site's entry for ``day``; whether there was one."""
        if await self.on(site, day) is None:
            return False
        await self._kv.delete(visit_key(site, day))
        return True

    async def on(self, site: str, day: dt.date) -> SiteVisit | None:
        """The site's entry for ``day`` (where it serves, when, and which services), or None."""
        key = visit_key(site, day)
        return _visit(key, await kv_value(self._kv, key))

    async def upcoming(self, start: dt.date, days: int = 14, site: str | None = None) -> list[SiteVisit]:
        """The entries from ``start`` for ``days`` days (``start`` included), of every site or of ``site``, by day
        then site."""
        if days < 1:
            raise ValueError("days must be at least 1")
        end = start + dt.timedelta(days=days)
        entries = await current_entries(self._kv, f"visit.{site or '*'}.*", meta_only=False)
        visits = [found for entry in entries if (found := _visit(entry.key, entry.value)) is not None]
        return sorted((v for v in visits if start <= v.day < end), key=lambda v: (v.day, v.site))


def _visit(key: str, raw: bytes | None) -> SiteVisit | None:
    if not raw:
        return None
    try:
        return SiteVisit.model_validate_json(raw)
    except ValidationError:
        # Only the admin writes the schedule, through SiteVisit: an entry that does not read is left out, not fatal.
        _log.warning("unreadable schedule entry left out", key=key)
        return None
