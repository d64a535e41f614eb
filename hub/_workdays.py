"""Working days on the Indonesian calendar, and the national complaint deadlines counted in them.

A working day (hari kerja) is a Monday to Friday that is not a national public holiday (hari libur nasional) as
the maintained ``holidays`` library has them for Indonesia (``holidays.Indonesia``: the fixed days and the
lunar and lunisolar ones, Idul Fitri, Nyepi, Waisak..., year by year). Days are WIB days: a complaint filed at
00:30 WIB on a Saturday is still Friday in UTC, and it counts as filed on the Saturday here.

Collective leave (cuti bersama) is not a national holiday: the library puts it in its ``government`` category,
which this calendar leaves out, so a cuti bersama day counts as a working day (a public service is open on it).

The complaint deadlines are those of SP4N-LAPOR! (see docs/agencies/lapor.md for where the numbers come from):
a complaint is verified within :data:`VERIFY_WITHIN` working days of being filed, and the institution it is
dispositioned to follows it up within :data:`FOLLOW_UP_WITHIN` working days of that verification.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from enum import StrEnum

from holidays.constants import PUBLIC
from holidays.countries.indonesia import Indonesia

from hub._time import WIB

__all__ = [
    "FOLLOW_UP_WITHIN",
    "VERIFY_WITHIN",
    "ComplaintDeadlines",
    "Deadline",
    "DeadlineState",
    "add_working_days",
    "complaint_deadlines",
    "is_working_day",
    "wib_date",
    "working_days_between",
]

#: Working days SP4N-LAPOR! gives its administrators to verify a complaint, from the day it is filed.
VERIFY_WITHIN = 3
#: Working days the institution a complaint was dispositioned to has to follow it up, from its verification.
FOLLOW_UP_WITHIN = 5
_SATURDAY = 5
#: Far enough for any loop over a count of working days: a year has fewer than 30 holidays.
_MAX_STEP = 10_000


@functools.lru_cache(maxsize=1)
def _calendar() -> Indonesia:
    # One calendar, filled in year by year as dates are asked for (the library expands it itself).
    return Indonesia(categories=(PUBLIC,))


def wib_date(moment: dt.date | dt.datetime) -> dt.date:
    """The WIB calendar day of ``moment``: an aware datetime converted, a naive one taken as WIB, a date as is."""
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            return moment.date()
        return moment.astimezone(WIB).date()
    return moment


def is_working_day(day: dt.date | dt.datetime) -> bool:
    """Monday to Friday, and not a national holiday of Indonesia (WIB days)."""
    day = wib_date(day)
    return day.weekday() < _SATURDAY and day not in _calendar()


def add_working_days(start: dt.date | dt.datetime, n: int) -> dt.date:
    """The ``n``-th working day after ``start``'s WIB day (``start`` itself when ``n`` is 0).

    The day of ``start`` never counts, whatever it is: a complaint filed on a Saturday has its first working day
    on the Monday, and one filed on a Monday at 08:00 on the Tuesday. ``n`` below 0 counts back the same way.
    """
    day = wib_date(start)
    step = 1 if n >= 0 else -1
    left = abs(n)
    if left > _MAX_STEP:
        raise ValueError(f"n={n} working days is beyond any deadline this calendar is for")
    while left:
        day += dt.timedelta(days=step)
        if is_working_day(day):
            left -= 1
    return day


def working_days_between(start: dt.date | dt.datetime, end: dt.date | dt.datetime) -> int:
    """How many working days come after ``start``'s WIB day up to and including ``end``'s; negative when ``end``
    is before ``start``. The inverse of :func:`add_working_days`: ``working_days_between(s, add_working_days(s,
    n)) == n``."""
    first, last = wib_date(start), wib_date(end)
    sign = 1
    if last < first:
        first, last, sign = last, first, -1
    count = 0
    day = first
    while day < last:
        day += dt.timedelta(days=1)
        count += is_working_day(day)
    return sign * count


class DeadlineState(StrEnum):
    MET = "met"  # done on or before its due day
    PENDING = "pending"  # not done, and its due day has not passed
    OVERDUE = "overdue"  # not done after its due day, or done after it


@dataclass(frozen=True)
class Deadline:
    """One deadline: its last day (WIB), when it was done (if it was), and where it stands."""

    due: dt.date
    done_at: dt.datetime | None
    state: DeadlineState


@dataclass(frozen=True)
class ComplaintDeadlines:
    verification: Deadline
    follow_up: Deadline


def _deadline(due: dt.date, done_at: dt.datetime | None, now: dt.datetime) -> Deadline:
    if done_at is not None:
        state = DeadlineState.MET if wib_date(done_at) <= due else DeadlineState.OVERDUE
    else:
        state = DeadlineState.PENDING if wib_date(now) <= due else DeadlineState.OVERDUE
    return Deadline(due=due, done_at=done_at, state=state)


def complaint_deadlines(
    filed_at: dt.datetime,
    verified_at: dt.datetime | None,
    followed_up_at: dt.datetime | None,
    now: dt.datetime,
) -> ComplaintDeadlines:
    """Where a complaint's two national deadlines stand at ``now``.

    Verification is due :data:`VERIFY_WITHIN` working days after filing; follow-up :data:`FOLLOW_UP_WITHIN`
    working days after the verification, and, while the complaint is not verified yet, that many after the day
    verification is due (the latest the institution can be given it without LAPOR! being late first).
    """
    verify_by = add_working_days(filed_at, VERIFY_WITHIN)
    follow_up_from: dt.date | dt.datetime = verified_at if verified_at is not None else verify_by
    return ComplaintDeadlines(
        verification=_deadline(verify_by, verified_at, now),
        follow_up=_deadline(add_working_days(follow_up_from, FOLLOW_UP_WITHIN), followed_up_at, now),
    )
