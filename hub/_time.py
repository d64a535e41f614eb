"""The hub's clocks: UTC for what machines compare, Western Indonesian Time for what people read."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

#: Waktu Indonesia Barat (UTC+7, no daylight saving), from the IANA database (the ``tzdata`` wheel
#: where the system has none): the zone of every date a desk officer or citizen reads, and of the
#: agencies' own clocks.
WIB = ZoneInfo("Asia/Jakarta")

__all__ = ["WIB", "utcnow"]


def utcnow() -> dt.datetime:
    """Now, as an aware UTC datetime (what every contract timestamp is)."""
    return dt.datetime.now(dt.UTC)
