"""The managers' monthly report (laporan bulanan): the month's figures read from the bus, as a CSV and a PDF with
charts.

Reading: the month's tickets from the front of house bucket, one WIB day at a time (their keys are
``t.<yyyymmdd>.<id>``, so a day is one filtered listing, however long the bucket's history), and, when a store is
given, the applications submitted in the month. The figures are ``hub._mall_figures``'. The PDF is fpdf2's, with
DejaVu Sans embedded from matplotlib's own fonts (nothing fetched, any service name printable); the charts are
matplotlib's, drawn with the Agg backend (no display). Both are imported only when a PDF is made: the CLI's other
commands and the dashboard do not pay for them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from nats.js.kv import KeyValue

from contracts import Application, SurveyRecord, Ticket
from hub._applications import ApplicationStore
from hub._kv_watch import current_entries
from hub._mall_figures import (
    DEFAULT_FRONT_STANDARDS,
    TOTAL,
    UNCALLED,
    ApplicationRow,
    ComplaintRow,
    FrontRow,
    FrontStandard,
    Grain,
    MallFigures,
    mall_figures,
)
from hub._time import WIB
from hub._usage_report import Period

__all__ = [
    "CSV_COLUMNS",
    "MallReport",
    "month_period",
    "read_applications",
    "read_tickets",
    "report_files",
    "write_report",
]

_MONTH = re.compile(r"(\d{4})-(\d{2})")
#: The CSV's columns: ticket rows (``section`` tickets: per service x desk, per service, per desk, the mall) and
#: application rows (``section`` applications: per application service, and all). Seconds are whole seconds; the
#: IKM (25-100, truncated to two places) is of the surveys of that service and desk.
CSV_COLUMNS = (
    "section", "month", "service", "desk", "tickets_taken", "tickets_served", "no_shows", "cancelled", "still_open",
    "waits_measured", "wait_p50_seconds", "wait_p90_seconds", "wait_standard_seconds", "waits_within_standard",
    "services_measured", "service_p50_seconds", "service_p90_seconds", "service_standard_seconds",
    "services_within_standard", "tickets_with_application", "applications", "applications_finished",
    "applications_within_standard", "application_standard_minutes", "ikm", "ikm_band", "ikm_respondents",
)  # fmt: skip
_ALL, _NOT_CALLED = "all", "none"  # how the CSV names TOTAL and UNCALLED
ProgressFn = Callable[[dt.date, int], None]


def month_period(text: str) -> Period:
    """The WIB month ``YYYY-MM`` names, as whole days; ValueError, with what to give instead, for anything else."""
    found = _MONTH.fullmatch(text.strip())
    if found is None or not 1 <= int(found[2]) <= 12:
        raise ValueError(f"{text!r} is not a month: give YYYY-MM, e.g. 2026-11")
    first = dt.date(int(found[1]), int(found[2]), 1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return Period(first, following - dt.timedelta(days=1), WIB)


def _days(period: Period) -> list[dt.date]:
    return [period.first + dt.timedelta(days=n) for n in range((period.last - period.first).days + 1)]


async def read_tickets(kv: KeyValue, period: Period, on_day: ProgressFn | None = None) -> list[Ticket]:
    """Every ticket taken in ``period`` (WIB days), oldest first; ``on_day(day, tickets)`` after each day read."""
    found: list[Ticket] = []
    for day in _days(period):
        entries = await current_entries(kv, f"t.{day:%Y%m%d}.*", meta_only=False)
        tickets = [Ticket.model_validate_json(entry.value) for entry in entries if entry.value]
        found.extend(tickets)
        if on_day is not None:
            on_day(day, len(tickets))
    return sorted(found, key=lambda ticket: ticket.taken_at)


async def read_applications(store: ApplicationStore, period: Period) -> list[Application]:
    """The applications submitted in ``period`` (a listing: no sealed part is opened)."""
    return [app for app in await store.every() if period.contains(app.created_at)]


@dataclass(frozen=True)
class MallReport:
    """One month's figures: ``monthly`` for the tables, ``daily`` for the tickets-per-day chart.
    ``applications_read`` is False when the applications were not read (the CSV then has no application rows)."""

    month: str
    period: Period
    monthly: MallFigures
    daily: MallFigures
    applications_read: bool

    @classmethod
    def of(
        cls,
        month: str,
        tickets: Iterable[Ticket],
        applications: Iterable[Application] | None = None,
        surveys: Iterable[SurveyRecord] = (),
        now: dt.datetime | None = None,
        standards: Mapping[str, FrontStandard] = DEFAULT_FRONT_STANDARDS,
    ) -> MallReport:
        """The report of ``month`` (YYYY-MM) from what was read (anything outside the month is left out);
        complaints' deadlines are judged at ``now`` (default: now); ``standards``: the mall's, per queue service."""
        period = month_period(month)
        tickets = [t for t in tickets if period.contains(t.taken_at)]
        apps = [a for a in applications or () if period.contains(a.created_at)]
        surveys = [s for s in surveys if period.first <= s.day <= period.last]
        monthly = mall_figures(tickets, apps, Grain.MONTH, surveys=surveys, now=now, front_standards=standards)
        return cls(
            month=f"{period.first:%Y-%m}", period=period, monthly=monthly, daily=mall_figures(tickets, (), Grain.DAY),
            applications_read=applications is not None,
        )  # fmt: skip

    def with_figures(self, figures: dict[str, Any]) -> MallReport:
        """This report with the month's application and complaint figures as the edge gave them
        (``GET /ops/figures``: the CLI's bus role does not read the applications themselves)."""
        monthly = replace(
            self.monthly,
            applications=tuple(ApplicationRow(**row) for row in figures["applications"]),
            complaints=tuple(ComplaintRow(**row) for row in figures["complaints"]),
        )
        return replace(self, monthly=monthly, applications_read=True)

    @property
    def total(self) -> FrontRow | None:
        return self.monthly.front_row(self.month)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.monthly.front:
            writer.writerow(_ticket_csv_row(self.month, row) | self._ikm(row.service, row.desk))
        for app in self.monthly.applications:
            writer.writerow({
                "section": "applications", "month": self.month, "service": _name(app.service), "desk": _ALL,
                "applications": app.total, "applications_finished": app.finished,
                "applications_within_standard": _blank(app.within_standard),
                "application_standard_minutes": _blank(app.standard_minutes),
            } | self._ikm(app.service, TOTAL))  # fmt: skip
        return out.getvalue()

    def _ikm(self, service: str, desk: str) -> dict[str, Any]:
        found = self.monthly.ikm_row(self.month, service, desk)
        if found is None:
            return {}
        return {"ikm": found.converted, "ikm_band": found.band, "ikm_respondents": found.respondents}

    def summary(self, files: Iterable[Path] = ()) -> dict[str, Any]:
        """What ``--json`` prints: the month, its totals, and the files written."""
        total = self.total
        return {
            "month": self.month,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "time_zone": "WIB",
            "tickets_taken": total.taken if total else 0,
            "tickets_served": total.served if total else 0,
            "no_shows": total.no_show if total else 0,
            "cancelled": total.cancelled if total else 0,
            "wait_p50_seconds": total.waiting.p50 if total else None,
            "wait_p90_seconds": total.waiting.p90 if total else None,
            "applications_read": self.applications_read,
            "applications": next((a.total for a in self.monthly.applications if a.service == TOTAL), 0),
            "complaints": [asdict(row) for row in self.monthly.complaints],
            "ikm": asdict(ikm) if (ikm := self.monthly.ikm_row(self.month)) else None,
            "files": [str(path) for path in files],
        }


def _name(part: str) -> str:
    return {TOTAL: _ALL, UNCALLED: _NOT_CALLED}.get(part, part)


def _blank(value: int | None) -> int | str:
    return "" if value is None else value


def _ticket_csv_row(month: str, row: FrontRow) -> dict[str, Any]:
    wait, service = row.waiting, row.service_time
    return {
        "section": "tickets", "month": month, "service": _name(row.service), "desk": _name(row.desk),
        "tickets_taken": row.taken, "tickets_served": row.served, "no_shows": row.no_show,
        "cancelled": row.cancelled, "still_open": row.open, "waits_measured": wait.count,
        "wait_p50_seconds": _blank(wait.p50), "wait_p90_seconds": _blank(wait.p90),
        "wait_standard_seconds": _blank(wait.standard), "waits_within_standard": wait.within_standard,
        "services_measured": service.count, "service_p50_seconds": _blank(service.p50),
        "service_p90_seconds": _blank(service.p90), "service_standard_seconds": _blank(service.standard),
        "services_within_standard": service.within_standard, "tickets_with_application": row.applications,
    }  # fmt: skip


def report_files(out_dir: Path, month: str) -> tuple[Path, Path]:
    """Where the report of ``month`` goes: ``mpp-report-<month>.csv`` and ``.pdf`` in ``out_dir``."""
    return out_dir / f"mpp-report-{month}.csv", out_dir / f"mpp-report-{month}.pdf"


def write_report(report: MallReport, out_dir: Path) -> tuple[Path, Path]:
    """Write the CSV and the PDF into ``out_dir`` (made if missing); their paths."""
    from hub._mall_pdf import render_pdf  # fpdf2 and matplotlib: only when a PDF is made

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, pdf_path = report_files(out_dir, report.month)
    csv_path.write_text(report.to_csv(), encoding="utf-8")
    pdf_path.write_bytes(render_pdf(report))
    return csv_path, pdf_path
