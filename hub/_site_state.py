"""How each site stands with the hub, kept in the ``mpp_sites`` bucket every worker and edge shares.

Per site the bucket holds:

- ``site.<site>``, its registration (public keys, prefix, consumers), written by the admin when the hub starts,
  from the sites `mpp-hub site add` registered;
- ``seen.<site>``, when the site last reported and how much it held then;
- ``synced.<site>``, the site's stream sequence the hub has processed up to, how many, and when;
- ``visit.<site>.<YYYYMMDD>``, the schedule's entries (see :mod:`hub._site_schedule`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import BaseModel

from contracts import SiteState
from hub._kv_watch import current_entries
from hub._streams import bind_key_value, kv_value
from hub._time import utcnow

__all__ = ["CONNECTED_WITHIN", "SITES_BUCKET", "SITES_KV", "SiteBook", "Synced"]

SITES_BUCKET = "mpp_sites"
SITES_KV = KeyValueConfig(bucket=SITES_BUCKET, history=1, storage=StorageType.FILE)
#: A site that has not reported for this long is shown offline (it reports every few seconds while linked).
CONNECTED_WITHIN = dt.timedelta(seconds=15)


class _Seen(BaseModel):
    at: dt.datetime
    connected_at: dt.datetime
    waiting: int


class Synced(BaseModel):
    """What the hub has processed of one site's stream."""

    seq: int = 0  # the site stream's sequence processed up to (in order, so everything below it too)
    count: int = 0
    at: dt.datetime | None = None


class SiteBook:
    """Read and record the sites' state."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> SiteBook:
        return cls(await bind_key_value(js, SITES_BUCKET))

    async def register(self, site: str, record: bytes) -> None:
        await self._kv.put(f"site.{site}", record)

    async def registration(self, site: str) -> bytes | None:
        return await kv_value(self._kv, f"site.{site}")

    async def names(self) -> list[str]:
        """Every registered site, by name."""
        entries = await current_entries(self._kv, "site.*")
        return sorted(entry.key.removeprefix("site.") for entry in entries)

    async def synced(self, site: str) -> Synced:
        raw = await kv_value(self._kv, f"synced.{site}")
        return Synced.model_validate_json(raw) if raw else Synced()

    async def record_synced(self, site: str, seq: int, at: dt.datetime | None = None) -> Synced:
        """Mark ``seq`` processed: one sync worker per hub moves it (the consumer is ordered, one at a time)."""
        before = await self.synced(site)
        after = Synced(seq=max(seq, before.seq), count=before.count + 1, at=at or utcnow())
        await self._kv.put(f"synced.{site}", after.model_dump_json().encode())
        return after

    async def record_seen(self, site: str, waiting: int, at: dt.datetime | None = None) -> None:
        now = at or utcnow()
        raw = await kv_value(self._kv, f"seen.{site}")
        before = _Seen.model_validate_json(raw) if raw else None
        # A gap longer than CONNECTED_WITHIN since the last report means the site (re)connected now.
        linked = before is not None and now - before.at <= CONNECTED_WITHIN
        seen = _Seen(at=now, connected_at=before.connected_at if linked and before else now, waiting=waiting)
        await self._kv.put(f"seen.{site}", seen.model_dump_json().encode())

    async def state(self, site: str, now: dt.datetime | None = None) -> SiteState:
        now = now or utcnow()
        raw = await kv_value(self._kv, f"seen.{site}")
        seen = _Seen.model_validate_json(raw) if raw else None
        synced = await self.synced(site)
        connected = seen is not None and now - seen.at <= CONNECTED_WITHIN
        since = None if seen is None else (seen.connected_at if connected else seen.at)
        return SiteState(
            site=site, connected=connected, since=since, waiting=seen.waiting if seen else 0,
            synced=synced.count, last_sync=synced.at,
        )  # fmt: skip

    async def states(self, sites: Iterable[str], now: dt.datetime | None = None) -> list[SiteState]:
        return [await self.state(site, now) for site in sorted(sites)]
