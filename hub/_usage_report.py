"""The usage report an institution using an agency's data owes that agency, from the audit log.

Permendagri 102/2019 asks every institution granted access to Dukcapil's population data to report its use
every semester. This module counts, over one period and for one agency's operations, per consumer, purpose
(with the legal basis recorded with it), operation and reply field, how many records were read; and,
separately, the calls that released nothing (refused, or failed at the agency), by outcome.

A read whose right released every field (``fields`` is None in the record) counts for every field of the
operation's reply model; one a right cut short counts only for the fields it released.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from hub._audit import AuditRecord
from hub._rights import reply_fields
from hub._time import WIB

__all__ = ["CSV_COLUMNS", "Period", "ReadRow", "RefusalRow", "UsageReport", "usage_report"]

#: The CSV's columns: one table of reads and refusals, each row saying which it is (``section``).
CSV_COLUMNS = (
    "agency", "from", "to", "section", "consumer", "purpose", "legal_basis", "operation", "field", "outcome", "records",
)  # fmt: skip
_EVERY_FIELD = "*"  # an operation without a reply model in the contract (none is an agency's today)


@dataclass(frozen=True)
class Period:
    """Whole days from ``first`` to ``last``, both included, in the mall's time zone (WIB unless told)."""

    first: dt.date
    last: dt.date
    zone: dt.tzinfo = WIB

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the period ends ({self.last}) before it begins ({self.first})")

    def contains(self, moment: dt.datetime) -> bool:
        start = dt.datetime.combine(self.first, dt.time.min, self.zone)
        end = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, self.zone)
        return start <= moment < end


@dataclass(frozen=True)
class ReadRow:
    consumer: str | None
    purpose: str | None
    legal_basis: str | None
    operation: str
    field: str
    records: int


@dataclass(frozen=True)
class RefusalRow:
    consumer: str | None
    purpose: str | None
    legal_basis: str | None
    operation: str
    outcome: str
    records: int


@dataclass(frozen=True)
class UsageReport:
    agency: str
    period: Period
    reads: list[ReadRow]
    refusals: list[RefusalRow]
    total_reads: int  # calls that released data (a call counts once, whatever its fields)
    total_refusals: int

    def to_json(self) -> dict[str, Any]:
        return {
            "agency": self.agency,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "time_zone": str(self.period.zone),
            "total_reads": self.total_reads,
            "total_refusals": self.total_refusals,
            "reads": [asdict(row) for row in self.reads],
            "refusals": [asdict(row) for row in self.refusals],
        }

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        head = [self.agency, self.period.first.isoformat(), self.period.last.isoformat()]
        for read in self.reads:
            who = [read.consumer or "", read.purpose or "", read.legal_basis or "", read.operation]
            writer.writerow([*head, "read", *who, read.field, "ok", read.records])
        for refusal in self.refusals:
            who = [refusal.consumer or "", refusal.purpose or "", refusal.legal_basis or "", refusal.operation]
            writer.writerow([*head, "refusal", *who, "", refusal.outcome, refusal.records])
        return out.getvalue()


_Who = tuple[str | None, str | None, str | None, str]  # consumer, purpose, legal basis, operation


async def usage_report(records: AsyncIterator[AuditRecord], agency: str, period: Period) -> UsageReport:
    """Count ``agency``'s records in ``period`` (e.g. ``AuditLog.records()``), reads by field, refusals apart."""
    reads: Counter[tuple[_Who, str]] = Counter()
    refusals: Counter[tuple[_Who, str]] = Counter()
    counted: dict[int, tuple[_Who, tuple[str, ...]]] = {}  # the reads counted so far, by record index
    async for record in records:
        if record.agency != agency or not period.contains(record.time):
            continue
        who: _Who = (record.consumer, record.purpose, record.legal_basis, record.operation)
        # A call recorded as let through, that then ended otherwise, is no read (hub._audit.settled).
        amended = counted.pop(record.amends, None) if record.amends is not None else None
        if amended is not None:
            reads.subtract((amended[0], field) for field in amended[1])
        if record.outcome != "ok":
            refusals[who, record.outcome] += 1
            continue
        counted[record.index] = (who, _released(record))
        reads.update((who, field) for field in counted[record.index][1])
    reads = +reads  # without the counts an amendment brought to zero
    return UsageReport(
        agency=agency, period=period, reads=_read_rows(reads), refusals=_refusal_rows(refusals),
        total_reads=len(counted), total_refusals=sum(refusals.values()),
    )  # fmt: skip


def _released(record: AuditRecord) -> tuple[str, ...]:
    if record.fields is not None:
        return record.fields
    return reply_fields(record.operation) or (_EVERY_FIELD,)


def _sort_key(who: _Who) -> tuple[str, str, str]:
    return (who[0] or "", who[1] or "", who[3])


def _read_rows(counts: Counter[tuple[_Who, str]]) -> list[ReadRow]:
    def order(item: tuple[tuple[_Who, str], int]) -> tuple[tuple[str, str, str], int]:
        (who, field), _ = item
        known = reply_fields(who[3])
        return _sort_key(who), known.index(field) if field in known else len(known)

    return [ReadRow(*who, field, n) for (who, field), n in sorted(counts.items(), key=order)]


def _refusal_rows(counts: Counter[tuple[_Who, str]]) -> list[RefusalRow]:
    ordered = sorted(counts.items(), key=lambda item: (_sort_key(item[0][0]), item[0][1]))
    return [RefusalRow(*who, outcome, n) for (who, outcome), n in ordered]
