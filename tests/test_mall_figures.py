"""The managers' figures from tickets and applications built by hand, every answer worked out by hand below."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from contracts import (
    Application,
    ApplicationStatus,
    Channel,
    SkmElement,
    SurveyRecord,
    Ticket,
    TicketStatus,
    new_tracking_number,
)
from hub._mall_figures import (
    TOTAL,
    UNCALLED,
    ComplaintRow,
    Durations,
    FrontStandard,
    Grain,
    IkmRow,
    application_rows,
    complaint_rows,
    front_rows,
    ikm_rows,
    mall_figures,
    nearest_rank,
    period_of,
)
from hub._time import WIB
from plugins._synthetic import residents

_numbers: dict[str, int] = {}


def _wib(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=WIB).astimezone(dt.UTC)


def _ticket(
    service: str,
    taken: dt.datetime,
    status: TicketStatus = TicketStatus.DONE,
    *,
    desk: str | None = "loket1",
    wait: dt.timedelta | float | None = 60,
    service_time: dt.timedelta | float | None = 60,
    tracking_no: str | None = None,
) -> Ticket:
    """A ticket as the queue would have left it: called ``wait`` (seconds) after it was taken, sat down at once,
    served for ``service_time``."""
    prefix = "A" if service == "dukcapil" else "C"
    _numbers[prefix] = number = _numbers.get(prefix, 0) + 1
    day = taken.astimezone(WIB).date()
    stamps: dict[str, dt.datetime] = {}
    if status in (TicketStatus.CALLED, TicketStatus.IN_SERVICE, TicketStatus.DONE, TicketStatus.NO_SHOW):
        assert wait is not None
        stamps["called_at"] = taken + (wait if isinstance(wait, dt.timedelta) else dt.timedelta(seconds=wait))
    if status in (TicketStatus.IN_SERVICE, TicketStatus.DONE):
        stamps["started_at"] = stamps["called_at"]
    if status is TicketStatus.DONE:
        assert service_time is not None
        took = service_time if isinstance(service_time, dt.timedelta) else dt.timedelta(seconds=service_time)
        stamps["finished_at"] = stamps["started_at"] + took
    if status is TicketStatus.NO_SHOW:
        stamps["finished_at"] = stamps["called_at"] + dt.timedelta(minutes=2)
    return Ticket(
        id=f"{day:%Y%m%d}-{prefix}{number:03d}", number=f"{prefix}-{number:03d}", service=service, day=day,
        channel=Channel.KIOSK, status=status, taken_at=taken, desk=desk if "called_at" in stamps else None,
        tracking_no=tracking_no, **stamps,
    )  # fmt: skip


TUESDAY = dt.date(2026, 11, 3)  # ISO week 45
STANDARDS = {
    "dukcapil": FrontStandard(waiting=dt.timedelta(minutes=20), service=dt.timedelta(minutes=15)),
    "samsat": FrontStandard(waiting=dt.timedelta(minutes=15), service=dt.timedelta(minutes=10)),
}


def _dukcapil_day() -> list[Ticket]:
    """13 Dukcapil tickets on one Tuesday morning: 10 called (7 served, 2 no-shows, 1 still at the desk),
    2 still waiting, 1 cancelled.

    Waits (s): 300, 60, 1200, 1200.4, 600, 900, 120, 30, 45, 2400. Cut to whole seconds and sorted:
    30 45 60 120 300 600 900 1200 1200 2400. p50 = rank ceil(0.5*10) = 5 -> 300; p90 = rank 9 -> 1200 (the
    1200.4 s, cut down). Within 20 min = 1200 s: the eight up to and including the exact 1200 (1200.4 is over).

    Service times of the 7 served (s): 600, 300, 900, 901, 120, 60, 1800. Sorted: 60 120 300 600 900 901 1800.
    p50 = rank ceil(3.5) = 4 -> 600; p90 = rank ceil(6.3) = 7 -> 1800. Within 15 min = 900 s: five.
    """
    at = _wib(TUESDAY, 8)
    done, no_show = TicketStatus.DONE, TicketStatus.NO_SHOW
    served = [(300, 600, "loket1"), (60, 300, "loket1"), (1200, 900, "loket2"), (1200.4, 901, "loket2"),
              (600, 120, "loket1"), (900, 60, "loket2"), (120, 1800, "loket1")]  # fmt: skip
    tickets = [
        _ticket("dukcapil", at + dt.timedelta(minutes=n), done, desk=desk, wait=wait, service_time=took,
                tracking_no=new_tracking_number() if n < 3 else None)
        for n, (wait, took, desk) in enumerate(served)
    ]  # fmt: skip
    tickets += [
        _ticket("dukcapil", at + dt.timedelta(minutes=10), no_show, desk="loket1", wait=30),
        _ticket("dukcapil", at + dt.timedelta(minutes=11), no_show, desk="loket2", wait=45),
        _ticket("dukcapil", at + dt.timedelta(minutes=12), TicketStatus.CALLED, desk="loket1", wait=2400),
        _ticket("dukcapil", at + dt.timedelta(minutes=13), TicketStatus.WAITING),
        _ticket("dukcapil", at + dt.timedelta(minutes=14), TicketStatus.WAITING),
        _ticket("dukcapil", at + dt.timedelta(minutes=15), TicketStatus.CANCELLED),
    ]
    return tickets


def test_nearest_rank_is_always_a_measured_value() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7], 50) == nearest_rank([7], 90) == 7
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert (nearest_rank(values, 50), nearest_rank(values, 90), nearest_rank(values, 100)) == (50, 90, 100)
    assert nearest_rank([4, 1, 3, 2], 50) == 2  # rank ceil(2.0) = 2 of 1 2 3 4: no interpolation to 2.5
    assert nearest_rank([4, 1, 3, 2], 51) == 3  # rank ceil(2.04) = 3
    assert nearest_rank(range(1, 21), 90) == 18  # rank ceil(18.0) = 18: exact in integers, no 18.000001
    with pytest.raises(ValueError, match="1-100"):
        nearest_rank(values, 0)


def test_a_services_day_tickets_waits_and_service_times() -> None:
    row = {(r.service, r.desk): r for r in front_rows(_dukcapil_day(), Grain.DAY, STANDARDS)}
    dukcapil = row["dukcapil", TOTAL]
    assert dukcapil.period == "2026-11-03"
    assert (dukcapil.taken, dukcapil.served, dukcapil.no_show, dukcapil.cancelled, dukcapil.open) == (13, 7, 2, 1, 3)
    assert dukcapil.waiting == Durations(count=10, p50=300, p90=1200, within_standard=8, standard=1200)
    assert dukcapil.service_time == Durations(count=7, p50=600, p90=1800, within_standard=5, standard=900)
    assert dukcapil.applications == 3

    # loket1: served with waits 300 60 600 120 (service 600 300 120 1800), a no-show after 30, one at the desk
    # after 2400. Waits sorted: 30 60 120 300 600 2400: p50 rank 3 -> 120, p90 rank ceil(5.4) = 6 -> 2400.
    loket1 = row["dukcapil", "loket1"]
    assert (loket1.taken, loket1.served, loket1.no_show, loket1.open) == (6, 4, 1, 1)
    assert (loket1.waiting.p50, loket1.waiting.p90, loket1.waiting.within_standard) == (120, 2400, 5)
    assert (loket1.service_time.p50, loket1.service_time.p90) == (300, 1800)  # 120 300 600 1800: ranks 2, 4
    uncalled = row["dukcapil", UNCALLED]
    assert (uncalled.taken, uncalled.open, uncalled.cancelled, uncalled.waiting.count) == (3, 2, 1, 0)
    assert row[TOTAL, TOTAL].taken == 13 and row[TOTAL, "loket2"].taken == 4


def test_a_row_of_several_services_judges_each_by_its_own_standard() -> None:
    at = _wib(TUESDAY, 9)
    tickets = [
        _ticket("dukcapil", at, wait=1000),  # within dukcapil's 20 minutes
        _ticket("samsat", at, wait=1000),  # over samsat's 15
        _ticket("samsat", at, wait=900, service_time=601),  # exactly 15: within; served 10 min 1 s: over
        _ticket("kantor-baru", at, wait=900),  # no standard given: the default, 15 minutes
    ]
    rows = {(r.service, r.desk): r for r in front_rows(tickets, Grain.DAY, STANDARDS)}
    assert rows[TOTAL, TOTAL].waiting.within_standard == 3
    assert rows[TOTAL, TOTAL].waiting.standard is None  # mixed: no one standard to show
    assert rows["samsat", TOTAL].waiting == Durations(count=2, p50=900, p90=1000, within_standard=1, standard=900)
    assert rows["samsat", TOTAL].service_time.within_standard == 1
    assert rows["kantor-baru", TOTAL].waiting.standard == 900


def test_days_weeks_and_months_are_wib_around_midnight() -> None:
    sunday, monday = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
    last_of_october = dt.date(2026, 10, 31)
    tickets = [
        # 23:59:30 WIB on Saturday 31 October, called after midnight: October's, week 44
        _ticket("samsat", _wib(last_of_october, 23, 59, 30), wait=300),
        # 00:00:00 WIB on Sunday 1 November is 17:00 UTC on 31 October: November's, still week 44
        _ticket("samsat", _wib(sunday, 0)),
        _ticket("samsat", _wib(sunday, 23, 59, 59)),
        _ticket("samsat", _wib(monday, 0)),  # Monday: week 45
    ]
    assert tickets[1].taken_at.date() == last_of_october  # in UTC it is still October: the day must be WIB's
    assert period_of(tickets[0].taken_at, Grain.DAY) == "2026-10-31"

    def taken(grain: Grain) -> dict[str, int]:
        return {r.period: r.taken for r in front_rows(tickets, grain) if (r.service, r.desk) == (TOTAL, TOTAL)}

    assert taken(Grain.DAY) == {"2026-10-31": 1, "2026-11-01": 2, "2026-11-02": 1}
    assert taken(Grain.WEEK) == {"2026-W44": 3, "2026-W45": 1}
    assert taken(Grain.MONTH) == {"2026-10": 1, "2026-11": 3}
    assert period_of(_wib(dt.date(2027, 1, 1), 8), Grain.WEEK) == "2026-W53"  # ISO years, not calendar ones


def _application(created: dt.datetime, minutes: float, status: ApplicationStatus, service: str) -> Application:
    return Application(
        tracking_no=new_tracking_number(), service=service, title=f"Layanan {service}",
        applicant_nik=residents.samples()[0], channel=Channel.DESK, agencies=["samsat"], status=status,
        step="x", history=[], created_at=created, updated_at=created + dt.timedelta(minutes=minutes),
    )  # fmt: skip


def test_applications_finished_within_the_service_standard() -> None:
    """Finished is done or rejected; within: no later than the standard after submission (an hour here)."""
    morning = _wib(TUESDAY, 8)
    apps = [
        _application(morning, 60, ApplicationStatus.DONE, "vehicle-tax-renewal"),  # exactly the hour: within
        _application(morning, 61, ApplicationStatus.DONE, "vehicle-tax-renewal"),  # over
        _application(morning, 5, ApplicationStatus.REJECTED, "vehicle-tax-renewal"),  # within
        _application(morning, 600, ApplicationStatus.EXPIRED, "vehicle-tax-renewal"),  # not the mall's to finish
        _application(morning, 5, ApplicationStatus.DONE, "izin-usaha"),  # no standard: counted, not judged
        _application(_wib(TUESDAY, 23, 59), 1, ApplicationStatus.DONE, "vehicle-tax-renewal"),
        _application(_wib(TUESDAY + dt.timedelta(days=1), 0), 1, ApplicationStatus.DONE, "vehicle-tax-renewal"),
    ]
    rows = {(r.period, r.service): r for r in application_rows(apps, Grain.DAY)}
    tax = rows["2026-11-03", "vehicle-tax-renewal"]
    assert (tax.total, tax.finished, tax.within_standard, tax.standard_minutes) == (5, 4, 3, 60)
    permit = rows["2026-11-03", "izin-usaha"]
    assert (permit.total, permit.finished, permit.within_standard, permit.standard_minutes) == (1, 1, None, None)
    everything = rows["2026-11-03", TOTAL]
    assert (everything.total, everything.finished, everything.within_standard) == (6, 5, 3)
    assert rows["2026-11-04", "vehicle-tax-renewal"].total == 1


def test_the_figures_together_and_as_json() -> None:
    figures = mall_figures(_dukcapil_day(), grain=Grain.WEEK, front_standards=STANDARDS)
    total = figures.front_row("2026-W45")
    assert total is not None and total.taken == 13
    assert figures.front[0] == total  # the totals first
    as_json = figures.to_json()
    assert as_json["grain"] == "week" and as_json["applications"] == as_json["ikm"] == as_json["complaints"] == []
    waiting = {"count": 10, "p50": 300, "p90": 1200, "within_standard": 8, "standard": 1200}  # one service
    assert as_json["front"][0]["waiting"] == waiting


def _survey(service: str, desk: str | None, day: dt.date, scores: list[int]) -> SurveyRecord:
    return SurveyRecord(
        id=uuid.uuid4().hex, ticket_id=f"{day:%Y%m%d}-A001", service=service, agency="dukcapil", desk=desk,
        channel=Channel.DESK, day=day, submitted_at=_wib(day, 12),
        answers=dict(zip(SkmElement, scores, strict=True)),
    )  # fmt: skip


def test_the_satisfaction_index_per_service_and_desk() -> None:
    """Dukcapil at loket1: all 4s and all 3s: NRR 3.5 per element, IKM 3.5, converted 87.5: band B (below 88.31).
    Samsat: all 4s, 100, A. The mall: each element (4 + 3 + 4) / 3 = 11/3, converted 275/3 = 91.666..., shown
    91.66 (truncated, not rounded), A. A survey of no desk counts for its service and the mall, under UNCALLED."""
    surveys = [
        _survey("dukcapil", "loket1", TUESDAY, [4] * 9),
        _survey("dukcapil", "loket1", TUESDAY, [3] * 9),
        _survey("samsat", None, TUESDAY, [4] * 9),
    ]
    rows = {(r.service, r.desk): r for r in ikm_rows(surveys, Grain.DAY)}
    dukcapil = rows["dukcapil", "loket1"]
    assert (dukcapil.respondents, dukcapil.converted, dukcapil.exact, dukcapil.band) == (2, "87.50", "175/2", "B")
    assert rows["dukcapil", TOTAL] == IkmRow("2026-11-03", "dukcapil", TOTAL, 2, "87.50", "175/2", "B", "Baik")
    assert (rows["samsat", UNCALLED].converted, rows["samsat", UNCALLED].band) == ("100.00", "A")
    mall = rows[TOTAL, TOTAL]
    assert (mall.respondents, mall.converted, mall.exact, mall.band, mall.mutu) == (
        3,
        "91.66",
        "275/3",
        "A",
        "Sangat Baik",
    )
    figures = mall_figures([], surveys=surveys, grain=Grain.MONTH)
    assert figures.ikm_row("2026-11") == IkmRow("2026-11", TOTAL, TOTAL, 3, "91.66", "275/3", "A", "Sangat Baik")
    assert ikm_rows([], Grain.DAY) == []  # no surveys, no index (rather than zero)


def _complaint(status: ApplicationStatus, updated: dt.datetime, **moments: dt.datetime) -> Application:
    filed = _wib(dt.date(2026, 11, 2), 8)  # a Monday; no national holiday in early November 2026
    details = {"filed_at": filed.isoformat(), **{key: at.isoformat() for key, at in moments.items()}}
    return Application(
        tracking_no=new_tracking_number(), service="pengaduan", title="Pengaduan", details=details,
        applicant_nik=residents.samples()[0], channel=Channel.DESK, agencies=["lapor"], status=status,
        step="follow", history=[], created_at=filed, updated_at=updated,
    )  # fmt: skip


def test_complaints_open_and_past_their_working_day_deadlines() -> None:
    """Filed Monday 2 November: verification due Thursday 5th (3 working days), follow-up 5 working days after
    verification (or after the 5th while unverified). Judged on Monday 9th."""
    day = dt.date(2026, 11, 1)
    now = _wib(day + dt.timedelta(days=8), 10)
    waiting = ApplicationStatus.SUBMITTED
    complaints = [
        _complaint(waiting, now),  # not verified by the 5th: verification overdue (follow-up due the 12th: pending)
        _complaint(waiting, now, verified_at=_wib(day + dt.timedelta(days=3), 9)),  # verified the 4th; due the 11th
        _complaint(ApplicationStatus.DONE, _wib(day + dt.timedelta(days=5), 9),
                   verified_at=_wib(day + dt.timedelta(days=2), 9), followed_up_at=_wib(day + dt.timedelta(days=5), 9)),
        _complaint(ApplicationStatus.DONE, _wib(day + dt.timedelta(days=8), 9),  # verified the 9th: late
                   verified_at=_wib(day + dt.timedelta(days=8), 9)),
        _application(_wib(day + dt.timedelta(days=1), 8), 5, ApplicationStatus.DONE, "vehicle-tax-renewal"),
    ]  # fmt: skip
    (row,) = complaint_rows(complaints, Grain.MONTH, now)
    assert row == ComplaintRow(period="2026-11", filed=4, open=2, overdue=1, verification_overdue=1,
                               follow_up_overdue=0, closed=2, closed_late=1)  # fmt: skip
    later = complaint_rows(complaints, Grain.MONTH, _wib(day + dt.timedelta(days=12), 10))[0]  # Friday 13th
    assert (later.overdue, later.verification_overdue, later.follow_up_overdue) == (2, 1, 2)
