"""The mall's performance figures for its managers: tickets, waiting and service times against the service
standard, and applications finished within theirs, per service and desk, by day, ISO week or month.

Everything here is pure: the figures are computed from tickets and applications already read (``hub._mall_report``
reads them from the bus). Days, weeks and months are the mall's, in Western Indonesian Time: a ticket taken at
23:59 WIB counts on that day even when it is called after midnight, and in UTC it was taken the same day at 16:59.

**Durations** are whole seconds, cut down (``timedelta // 1 s``, integer arithmetic, no float anywhere): the
stamps are to the microsecond and a manager reads seconds. Whether a duration is within its standard is decided
on the exact duration, before it is cut: a wait of 15 min 0.4 s is over a 15-minute standard.

**Percentiles** are nearest-rank (the textbook definition, with no interpolation): the p-th percentile of n
values sorted ascending is the value at rank ``ceil(p * n / 100)`` (counting from 1), so it is always one of the
values measured. With 10 waits, p50 is the 5th shortest and p90 the 9th; with 1 wait both are that wait.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any

from contracts import Application, ApplicationStatus, SurveyRecord, Ticket, TicketStatus
from hub._ikm import ikm_of
from hub._time import WIB
from hub._workdays import DeadlineState, complaint_deadlines

__all__ = [
    "COMPLAINT_SERVICE",
    "DEFAULT_FRONT_STANDARD",
    "DEFAULT_FRONT_STANDARDS",
    "FINISHED_STATUSES",
    "SERVICE_STANDARDS",
    "TOTAL",
    "UNCALLED",
    "ApplicationRow",
    "ComplaintRow",
    "Durations",
    "FrontRow",
    "FrontStandard",
    "Grain",
    "IkmRow",
    "MallFigures",
    "application_rows",
    "complaint_rows",
    "front_rows",
    "ikm_rows",
    "mall_figures",
    "nearest_rank",
    "period_of",
]

#: The service standard (standar pelayanan) the mall publishes per application service: how long a finished
#: application may take from submission. A service missing here is counted but not judged.
SERVICE_STANDARDS: dict[str, dt.timedelta] = {
    "vehicle-tax-renewal": dt.timedelta(hours=1),
}
#: An application is finished when the mall has answered it; an expired one waited on the citizen, not the mall.
FINISHED_STATUSES = (ApplicationStatus.DONE, ApplicationStatus.REJECTED)

#: The row of every service (``service``) or every desk (``desk``).
TOTAL = "*"
#: The desk of tickets no desk called (still waiting, or cancelled).
UNCALLED = "-"
_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class FrontStandard:
    """What a queue service promises at the desk: the longest wait from taking a ticket to being called, and the
    longest service from sitting down to being done."""

    waiting: dt.timedelta
    service: dt.timedelta


#: PLACEHOLDERS, not any mall's published standard: each mall sets its own per queue service (the codes of
#: hub._queue.DEFAULT_QUEUE_SERVICES); a service not listed is judged by DEFAULT_FRONT_STANDARD.
DEFAULT_FRONT_STANDARD = FrontStandard(waiting=dt.timedelta(minutes=15), service=dt.timedelta(minutes=15))
DEFAULT_FRONT_STANDARDS: Mapping[str, FrontStandard] = MappingProxyType({
    "dukcapil": FrontStandard(waiting=dt.timedelta(minutes=20), service=dt.timedelta(minutes=15)),
    "bpjs": FrontStandard(waiting=dt.timedelta(minutes=15), service=dt.timedelta(minutes=15)),
    "samsat": FrontStandard(waiting=dt.timedelta(minutes=15), service=dt.timedelta(minutes=10)),
    "bank": FrontStandard(waiting=dt.timedelta(minutes=10), service=dt.timedelta(minutes=5)),
})  # fmt: skip


class Grain(enum.StrEnum):
    """How figures are grouped in time: by WIB day (``2026-11-03``), ISO week (``2026-W45``) or month
    (``2026-11``)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def period_of(moment: dt.datetime | dt.date, grain: Grain) -> str:
    """The WIB day, ISO week or month ``moment`` (an aware datetime, or a WIB day) falls in, as the figures name
    it."""
    day = moment.astimezone(WIB).date() if isinstance(moment, dt.datetime) else moment
    if grain is Grain.DAY:
        return day.isoformat()
    if grain is Grain.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day:%Y-%m}"


def nearest_rank(values: Iterable[int], percent: int) -> int | None:
    """The nearest-rank ``percent``-th percentile of ``values`` (1-100): the value at rank ceil(percent * n / 100)
    of the values sorted ascending, in integer arithmetic; None when there are none."""
    if not 1 <= percent <= 100:
        raise ValueError(f"a percentile is 1-100, not {percent}")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = -(-percent * len(ordered) // 100)  # ceil, exactly
    return ordered[rank - 1]


@dataclass(frozen=True)
class Durations:
    """Durations measured (whole seconds, cut down), their p50 and p90 by nearest rank, and how many were within
    their standard. ``standard`` is the standard's seconds when every duration had the same one (one service's
    row); None on a row that mixes services, each judged by its own."""

    count: int
    p50: int | None
    p90: int | None
    within_standard: int
    standard: int | None

    @classmethod
    def of(cls, measured: Iterable[tuple[dt.timedelta, dt.timedelta]]) -> Durations:
        """From (duration, its standard) pairs."""
        pairs = list(measured)
        seconds = [duration // _SECOND for duration, _ in pairs]
        standards = {standard for _, standard in pairs}
        return cls(
            count=len(pairs),
            p50=nearest_rank(seconds, 50),
            p90=nearest_rank(seconds, 90),
            within_standard=sum(1 for duration, standard in pairs if duration <= standard),
            standard=standards.pop() // _SECOND if len(standards) == 1 else None,
        )


@dataclass(frozen=True)
class FrontRow:
    """One period's tickets of one service at one desk (``TOTAL``: of every service, or at every desk;
    ``UNCALLED``: tickets no desk called). ``open``: still waiting, called or in service."""

    period: str
    service: str
    desk: str
    taken: int
    served: int
    no_show: int
    cancelled: int
    open: int
    waiting: Durations  # taken -> called, of every ticket a desk called
    service_time: Durations  # started -> finished, of every ticket served
    applications: int  # tickets that led to an application (linked at the desk)


@dataclass(frozen=True)
class ApplicationRow:
    """One period's applications of one application service (``TOTAL``: of all), and how many finished within
    the service standard (None on a service without one: counted, not judged)."""

    period: str
    service: str
    title: str
    total: int
    finished: int
    within_standard: int | None
    standard_minutes: int | None


@dataclass(frozen=True)
class IkmRow:
    """One period's community satisfaction index (IKM, exact: hub._ikm) of one service at one desk (``TOTAL`` and
    ``UNCALLED`` as for tickets; ``UNCALLED``: surveys of no desk, an application rated online). ``converted``
    is the index on 25-100 as people read it (truncated to two places, so it lies in its band), ``exact`` the
    same as a fraction (``659/8``); ``band`` A-D and its words (``mutu``)."""

    period: str
    service: str
    desk: str
    respondents: int
    converted: str
    exact: str
    band: str
    mutu: str


@dataclass(frozen=True)
class ComplaintRow:
    """One period's complaints (applications of the ``pengaduan`` process, by the WIB day they were made): how
    many, how many are still open and, of those, how many are past a national deadline at the time of the figures
    (verified within 3 working days of filing, followed up within 5 of verification: hub._workdays); finished
    ones that missed a deadline are ``closed_late``."""

    period: str
    filed: int
    open: int
    overdue: int
    verification_overdue: int
    follow_up_overdue: int
    closed: int
    closed_late: int


@dataclass(frozen=True)
class MallFigures:
    """The figures of one grouping: tickets, applications, the satisfaction index and the complaints."""

    grain: Grain
    front: tuple[FrontRow, ...]
    applications: tuple[ApplicationRow, ...]
    ikm: tuple[IkmRow, ...] = ()
    complaints: tuple[ComplaintRow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "grain": self.grain.value,
            "front": [asdict(row) for row in self.front],
            "applications": [asdict(row) for row in self.applications],
            "ikm": [asdict(row) for row in self.ikm],
            "complaints": [asdict(row) for row in self.complaints],
        }

    def front_row(self, period: str, service: str = TOTAL, desk: str = TOTAL) -> FrontRow | None:
        return next((r for r in self.front if (r.period, r.service, r.desk) == (period, service, desk)), None)

    def ikm_row(self, period: str, service: str = TOTAL, desk: str = TOTAL) -> IkmRow | None:
        return next((r for r in self.ikm if (r.period, r.service, r.desk) == (period, service, desk)), None)


def _groups(ticket: Ticket, grain: Grain) -> tuple[tuple[str, str, str], ...]:
    period, desk = period_of(ticket.taken_at, grain), ticket.desk or UNCALLED
    return ((period, ticket.service, desk), (period, ticket.service, TOTAL), (period, TOTAL, desk),
            (period, TOTAL, TOTAL))  # fmt: skip


def _front_row(key: tuple[str, str, str], tickets: list[Ticket], standards: Mapping[str, FrontStandard]) -> FrontRow:
    statuses = [ticket.status for ticket in tickets]
    waits = [
        (t.called_at - t.taken_at, standards[t.service].waiting) for t in tickets if t.called_at is not None
    ]  # fmt: skip
    services = [
        (t.finished_at - t.started_at, standards[t.service].service)
        for t in tickets
        if t.status is TicketStatus.DONE and t.started_at is not None and t.finished_at is not None
    ]
    return FrontRow(
        *key,
        taken=len(tickets),
        served=statuses.count(TicketStatus.DONE),
        no_show=statuses.count(TicketStatus.NO_SHOW),
        cancelled=statuses.count(TicketStatus.CANCELLED),
        open=sum(1 for status in statuses if not status.final),
        waiting=Durations.of(waits),
        service_time=Durations.of(services),
        applications=sum(1 for t in tickets if t.tracking_no is not None),
    )


def front_rows(
    tickets: Iterable[Ticket],
    grain: Grain,
    standards: Mapping[str, FrontStandard] = DEFAULT_FRONT_STANDARDS,
    default: FrontStandard = DEFAULT_FRONT_STANDARD,
) -> list[FrontRow]:
    """A row per period, service and desk, per period and service (every desk), per period and desk (every
    service) and per period (everything), sorted by period, service and desk (the totals first)."""
    grouped: defaultdict[tuple[str, str, str], list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        for key in _groups(ticket, grain):
            grouped[key].append(ticket)
    known = _StandardsOf(standards, default)
    return [_front_row(key, grouped[key], known) for key in sorted(grouped, key=_row_order)]


class _StandardsOf(dict[str, FrontStandard]):
    """The mall's standards, with the default for a service it did not list."""

    def __init__(self, standards: Mapping[str, FrontStandard], default: FrontStandard) -> None:
        super().__init__(standards)
        self._default = default

    def __missing__(self, service: str) -> FrontStandard:
        return self._default


def _row_order(key: tuple[str, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((part != TOTAL, part) for part in key)  # within a period, the totals come first


def application_rows(
    applications: Iterable[Application], grain: Grain, standards: Mapping[str, dt.timedelta] = SERVICE_STANDARDS
) -> list[ApplicationRow]:
    """A row per period and application service, and per period for all (``TOTAL``), by the day each was
    submitted (WIB). Finished within standard: done or rejected no later than the standard after submission."""
    grouped: defaultdict[tuple[str, str], list[Application]] = defaultdict(list)
    for app in applications:
        period = period_of(app.created_at, grain)
        grouped[period, app.service].append(app)
        grouped[period, TOTAL].append(app)
    return [_application_row(key, grouped[key], standards) for key in sorted(grouped, key=_row_order)]


def _application_row(
    key: tuple[str, str], apps: list[Application], standards: Mapping[str, dt.timedelta]
) -> ApplicationRow:
    period, service = key
    finished = [app for app in apps if app.status in FINISHED_STATUSES]
    judged = [app for app in finished if app.service in standards]
    standard = standards.get(service)
    within = sum(1 for app in judged if app.updated_at - app.created_at <= standards[app.service])
    return ApplicationRow(
        period=period,
        service=service,
        title=apps[0].title if service != TOTAL else "Semua layanan",
        total=len(apps),
        finished=len(finished),
        within_standard=within if judged or standard is not None else None,
        standard_minutes=standard // dt.timedelta(minutes=1) if standard is not None else None,
    )


def ikm_rows(surveys: Iterable[SurveyRecord], grain: Grain) -> list[IkmRow]:
    """The index per period (the WIB day each survey was given), service and desk, with the totals as for
    tickets; a group without surveys has no row (no index, rather than zero)."""
    grouped: defaultdict[tuple[str, str, str], list[SurveyRecord]] = defaultdict(list)
    for survey in surveys:
        period, desk = period_of(survey.day, grain), survey.desk or UNCALLED
        for key in ((period, survey.service, desk), (period, survey.service, TOTAL), (period, TOTAL, desk),
                    (period, TOTAL, TOTAL)):  # fmt: skip
            grouped[key].append(survey)
    rows = []
    for key in sorted(grouped, key=_row_order):
        figure = ikm_of(survey.answers for survey in grouped[key])
        if figure is not None:
            converted = figure.converted
            rows.append(IkmRow(*key, respondents=figure.respondents, converted=converted.decimal,
                               exact=str(converted.exact), band=figure.band.value, mutu=figure.mutu))  # fmt: skip
    return rows


#: The process whose applications are complaints (the SP4N-LAPOR! agency's ``pengaduan``).
COMPLAINT_SERVICE = "pengaduan"


def _moment(details: Mapping[str, Any], key: str) -> dt.datetime | None:
    value = details.get(key)
    try:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None  # not the process's own writing: the deadline is judged as if nothing happened yet


def _late(complaint: Application, now: dt.datetime) -> tuple[bool, bool]:
    """Whether the complaint missed (or, while open, is past) its verification and its follow-up deadline."""
    details = complaint.details
    filed = _moment(details, "filed_at") or complaint.created_at
    until = now if not complaint.status.final else complaint.updated_at
    deadlines = complaint_deadlines(filed, _moment(details, "verified_at"), _moment(details, "followed_up_at"), until)
    return (deadlines.verification.state is DeadlineState.OVERDUE,
            deadlines.follow_up.state is DeadlineState.OVERDUE)  # fmt: skip


def complaint_rows(
    applications: Iterable[Application], grain: Grain, now: dt.datetime, service: str = COMPLAINT_SERVICE
) -> list[ComplaintRow]:
    """The complaints among ``applications`` per period, judged against their deadlines at ``now``."""
    grouped: defaultdict[str, list[Application]] = defaultdict(list)
    for app in applications:
        if app.service == service:
            grouped[period_of(app.created_at, grain)].append(app)
    rows = []
    for period, complaints in sorted(grouped.items()):
        late = {app.tracking_no: _late(app, now) for app in complaints}
        still_open = [app for app in complaints if not app.status.final]
        rows.append(ComplaintRow(
            period=period, filed=len(complaints), open=len(still_open),
            overdue=sum(1 for app in still_open if any(late[app.tracking_no])),
            verification_overdue=sum(1 for app in still_open if late[app.tracking_no][0]),
            follow_up_overdue=sum(1 for app in still_open if late[app.tracking_no][1]),
            closed=len(complaints) - len(still_open),
            closed_late=sum(1 for app in complaints if app.status.final and any(late[app.tracking_no])),
        ))  # fmt: skip
    return rows


def mall_figures(
    tickets: Iterable[Ticket],
    applications: Iterable[Application] = (),
    grain: Grain = Grain.MONTH,
    *,
    surveys: Iterable[SurveyRecord] = (),
    now: dt.datetime | None = None,
    front_standards: Mapping[str, FrontStandard] = DEFAULT_FRONT_STANDARDS,
    application_standards: Mapping[str, dt.timedelta] = SERVICE_STANDARDS,
) -> MallFigures:
    """Every figure of ``tickets``, ``applications`` (complaints among them) and ``surveys``, grouped by
    ``grain`` (the caller chooses the period they cover: ``hub._mall_report`` reads one); complaints' deadlines
    are judged at ``now`` (default: now)."""
    applications = list(applications)
    return MallFigures(
        grain=grain,
        front=tuple(front_rows(tickets, grain, front_standards)),
        applications=tuple(application_rows(applications, grain, application_standards)),
        ikm=tuple(ikm_rows(surveys, grain)),
        complaints=tuple(complaint_rows(applications, grain, now or dt.datetime.now(dt.UTC))),
    )
