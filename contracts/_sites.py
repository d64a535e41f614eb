"""MPP bergerak: the sites that serve away from the mall (a service van, a kiosk in a sub-district office), their
schedule, and how each stands with the hub.

A site is named by a short lowercase name (``van-1``); the tracking numbers it mints begin with its two-character
prefix. Nothing here is personal: a schedule says where and when a site serves which services, a site's state
counts what waits to be synced.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field, model_validator

from contracts._base import Contract

__all__ = ["SITE_NAME_PATTERN", "SiteInfo", "SiteState", "SiteVisit"]

#: A site's name: lowercase letters, digits and hyphens, as in NATS subjects and JetStream domains.
SITE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"


class SiteVisit(Contract):
    """One day of a site's schedule: where it serves, from when to when (WIB), and which services."""

    site: str = Field(pattern=SITE_NAME_PATTERN, examples=["van-1"])
    day: dt.date = Field(description="The day, in WIB.")
    place: str = Field(min_length=1, max_length=120, examples=["Balai Desa Kedungbanteng"])
    opens: dt.time = Field(description="WIB, as 08:00.")
    closes: dt.time = Field(description="WIB, as 14:00.")
    services: tuple[str, ...] = Field(
        min_length=1, description="The queue services offered that day (codes of the hub's `front.services`)."
    )

    @model_validator(mode="after")
    def _opens_before_closing(self) -> SiteVisit:
        if self.closes <= self.opens:
            raise ValueError("closes must be later than opens (both WIB, on the same day)")
        return self


class SiteState(Contract):
    """How a site stands with the hub, as `/ops` and `top` show it."""

    site: str = Field(pattern=SITE_NAME_PATTERN)
    connected: bool = Field(description="Whether the site reported within the last few seconds.")
    since: dt.datetime | None = Field(
        default=None, description="When the site last connected, or, if it is offline, when it was last seen."
    )
    waiting: int = Field(ge=0, description="Messages the site holds that the hub has not processed yet.")
    synced: int = Field(ge=0, description="Messages from the site the hub has processed, ever.")
    last_sync: dt.datetime | None = Field(default=None, description="When the hub last processed one of them.")


class SiteInfo(Contract):
    """What a site's own edge says of itself (``GET /v1/site`` on the site)."""

    site: str = Field(pattern=SITE_NAME_PATTERN)
    online: bool = Field(description="Whether the link to the hub is up now.")
    waiting: int = Field(ge=0, description="Intake taken here and not yet processed by the hub.")
    today: SiteVisit | None = Field(default=None, description="Today's entry of the schedule, as last heard.")
