"""Working days on the Indonesian calendar, checked against the ``holidays`` library's own calendar of 2026 (never a
hand-written list), and the complaint deadlines counted in them."""

from __future__ import annotations

import datetime as dt

import pytest
from holidays.constants import PUBLIC
from holidays.countries.indonesia import Indonesia

from hub._time import WIB
from hub._workdays import (
    DeadlineState,
    add_working_days,
    complaint_deadlines,
    is_working_day,
    wib_date,
    working_days_between,
)

INDONESIA = Indonesia(years=(2026, 2027), categories=(PUBLIC,))


def _named(name: str) -> dt.date:
    """The library's 2026 date of the holiday called ``name`` (its English name)."""
    found: list[dt.date] = [day for day, names in INDONESIA.items() if day.year == 2026 and name in names.split("; ")]
    assert len(found) == 1, (name, found)
    return found[0]


def _by_hand(start: dt.date, n: int) -> dt.date:
    """The n-th weekday after ``start`` that is not in the library's calendar, counted day by day here."""
    day = start
    while n:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in INDONESIA:
            n -= 1
    return day


def test_every_2026_national_holiday_on_a_weekday_is_not_a_working_day() -> None:
    on_weekdays = [day for day in INDONESIA if day.weekday() < 5]
    assert len(on_weekdays) >= 10  # the library knows the year
    assert not any(is_working_day(day) for day in on_weekdays)
    assert is_working_day(dt.date(2026, 12, 3)) and not is_working_day(dt.date(2026, 12, 5))


def test_a_complaint_filed_the_day_before_nyepi_and_idul_fitri_skips_them() -> None:
    nyepi, fitri = _named("Day of Silence"), _named("Eid al-Fitr")
    assert (nyepi.weekday(), fitri - nyepi) == (3, dt.timedelta(days=2))  # Thursday; Idul Fitri that Saturday
    filed = nyepi - dt.timedelta(days=1)
    due = add_working_days(filed, 3)
    assert due == _by_hand(filed, 3) == nyepi + dt.timedelta(days=5)  # Fri, Mon, Tue: the next Tuesday
    assert working_days_between(filed, due) == 3


def test_independence_day_is_skipped() -> None:
    merdeka = _named("Independence Day")
    assert merdeka == dt.date(2026, 8, 17) and merdeka.weekday() == 0  # a Monday in 2026
    friday = merdeka - dt.timedelta(days=3)
    assert add_working_days(friday, 1) == merdeka + dt.timedelta(days=1)
    assert add_working_days(friday, 5) == _by_hand(friday, 5) == dt.date(2026, 8, 24)
    # The Prophet's birthday falls eight days later, a Tuesday: five working days from the 19th skip it too.
    assert add_working_days(dt.date(2026, 8, 19), 5) == _by_hand(dt.date(2026, 8, 19), 5) == dt.date(2026, 8, 27)


def test_christmas_and_new_year_are_skipped() -> None:
    christmas = _named("Christmas Day")
    filed = christmas - dt.timedelta(days=2)  # a Wednesday
    assert add_working_days(filed, 3) == _by_hand(filed, 3) == dt.date(2026, 12, 29)
    assert add_working_days(filed, 5) == dt.date(2026, 12, 31)
    assert add_working_days(filed, 6) == _by_hand(filed, 6) == dt.date(2027, 1, 4)  # past 1 January and a weekend


def test_the_day_counted_from_is_the_wib_day() -> None:
    # 00:30 WIB on Saturday 5 December is Friday 17:30 UTC: the complaint is filed on the Saturday.
    saturday_night = dt.datetime(2026, 12, 4, 17, 30, tzinfo=dt.UTC)
    assert wib_date(saturday_night) == dt.date(2026, 12, 5)
    assert add_working_days(saturday_night, 1) == dt.date(2026, 12, 7)
    assert add_working_days(dt.datetime(2026, 12, 4, 16, 59, tzinfo=dt.UTC), 1) == dt.date(2026, 12, 7)
    assert add_working_days(dt.datetime(2026, 12, 4, 9, 0, tzinfo=WIB), 0) == dt.date(2026, 12, 4)


@pytest.mark.parametrize("n", [0, 1, 3, 5, 20, 250])
def test_between_is_the_inverse_of_add(n: int) -> None:
    for start in (dt.date(2026, 3, 18), dt.date(2026, 8, 14), dt.date(2026, 12, 23), dt.date(2026, 5, 30)):
        assert working_days_between(start, add_working_days(start, n)) == n
        assert add_working_days(start, n) == _by_hand(start, n)
    assert working_days_between(dt.date(2026, 12, 29), dt.date(2026, 12, 23)) == -3
    assert add_working_days(dt.date(2026, 12, 29), -3) == dt.date(2026, 12, 23)


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=WIB)


def test_deadlines_met_pending_and_overdue() -> None:
    filed = _at(dt.date(2026, 12, 23))  # verification due Tue 29 Dec, past Christmas
    fresh = complaint_deadlines(filed, None, None, now=_at(dt.date(2026, 12, 28)))
    assert (fresh.verification.due, fresh.verification.state) == (dt.date(2026, 12, 29), DeadlineState.PENDING)
    # Not verified yet: follow-up counted from the day verification is due, five working days on; 1 January and
    # Isra' Mi'raj (5 January 2027, the library's date) are off.
    assert dt.date(2027, 1, 5) in INDONESIA
    assert (fresh.follow_up.due, fresh.follow_up.state) == (_by_hand(dt.date(2026, 12, 29), 5), DeadlineState.PENDING)
    assert fresh.follow_up.due == dt.date(2027, 1, 7)

    late = complaint_deadlines(filed, None, None, now=_at(dt.date(2026, 12, 30)))
    assert late.verification.state is DeadlineState.OVERDUE

    verified = _at(dt.date(2026, 12, 29), 16)  # on the last day: met
    done = complaint_deadlines(filed, verified, _at(dt.date(2027, 1, 5)), now=_at(dt.date(2027, 2, 1)))
    assert done.verification.state is DeadlineState.MET
    assert (done.follow_up.due, done.follow_up.state) == (dt.date(2027, 1, 7), DeadlineState.MET)

    followed_late = complaint_deadlines(filed, verified, _at(dt.date(2027, 1, 8)), now=_at(dt.date(2027, 1, 8)))
    assert followed_late.follow_up.state is DeadlineState.OVERDUE
    waiting = complaint_deadlines(filed, verified, None, now=_at(dt.date(2027, 1, 8)))
    assert waiting.follow_up.state is DeadlineState.OVERDUE
