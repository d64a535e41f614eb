"""The mall's clock: Western Indonesian Time, the zone every date a desk officer or citizen reads is in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

#: Waktu Indonesia Barat (UTC+7, no daylight saving), from the IANA database (the ``tzdata`` wheel
#: where the system has none).
WIB = ZoneInfo("Asia/Jakarta")

__all__ = ["WIB"]
