"""The survey box: citizens' satisfaction surveys (SKM), one per served ticket or application, in ``mpp_front``.

Two kinds of key, both under ``s.``:

- ``s.c.t.<ticket id>`` and ``s.c.a.<tracking no>``: the claims. A survey claims what it rates with the bucket's
  create, which succeeds once per key, so a second survey of the same ticket or application is refused however
  many edges take it at once. A survey of a ticket that led to an application claims both, so a visit is rated
  once whether the citizen gives the ticket or the tracking number. A claim holds the key of its record.
- ``s.r.<yyyy>.<mm>.<dd>.<id>``: the records, by the WIB day the survey was given, so a month is listed with one
  filter on the server (``s.r.2026.12.>``).

The claims are taken first and the record written last, so a listing never counts a survey that was refused; a
hub that dies between the two loses that one survey (its claims stay, and the citizen is told it was given).

Whether a ticket or an application may be rated at all (served, finished) is the caller's to decide: the box
keeps surveys, it does not know the queue's or the processes' rules.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

from nats.js.client import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts import (
    Application,
    Channel,
    ErrorCode,
    HubError,
    QueueService,
    SkmElement,
    SurveyRecord,
    Ticket,
)
from hub._kv_watch import current_entries
from hub._queue import FRONT_BUCKET
from hub._streams import bind_key_value, kv_value
from hub._time import WIB, utcnow

__all__ = ["SurveyBox", "survey_record_for_application", "survey_record_for_ticket"]

_ALREADY = (
    "Survei untuk layanan ini sudah diisi: satu survei untuk setiap tiket atau permohonan. "
    "Terima kasih atas penilaian Anda."
)


class SurveyBox:
    """Keep surveys and list them by period; ``kv`` is the front of house's bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> SurveyBox:
        """The box over the bus's existing ``mpp_front`` bucket (the edge and worker roles may write it)."""
        return cls(await bind_key_value(js, FRONT_BUCKET))

    async def submit(self, record: SurveyRecord) -> SurveyRecord:
        """Keep ``record``; ``conflict`` when what it rates already has a survey (nothing of it is kept then)."""
        location = _record_key(record).encode()
        taken: list[tuple[str, int]] = []
        for claim in _claims(record):
            try:
                taken.append((claim, await self._kv.create(claim, location)))
            except KeyWrongLastSequenceError:
                await self._release(taken)
                raise HubError.of(ErrorCode.CONFLICT, _ALREADY) from None
        try:
            await self._kv.create(_record_key(record), record.model_dump_json().encode())
        except BaseException:
            await self._release(taken)  # not kept: what it rates may be rated again
            raise
        return record

    async def find(self, *, ticket_id: str | None = None, tracking_no: str | None = None) -> SurveyRecord | None:
        """The survey of a ticket or an application (give one), None when it has none yet."""
        if (ticket_id is None) == (tracking_no is None):
            raise ValueError("give exactly one of ticket_id or tracking_no")
        claim = _claim("t", ticket_id) if ticket_id is not None else _claim("a", tracking_no or "")
        location = await kv_value(self._kv, claim)
        if location is None:
            return None
        value = await kv_value(self._kv, location.decode())
        return SurveyRecord.model_validate_json(value) if value is not None else None

    async def of_month(self, year: int, month: int) -> list[SurveyRecord]:
        """Every survey given in a month (WIB), oldest first."""
        if not (1 <= month <= 12 and 1 <= year <= 9999):
            raise HubError.of(ErrorCode.INVALID_INPUT, f"{year}-{month:02d} is not a month (month 1-12, year 1-9999)")
        entries = await current_entries(self._kv, f"s.r.{year:04d}.{month:02d}.>", meta_only=False)
        return _ordered(SurveyRecord.model_validate_json(entry.value) for entry in entries if entry.value)

    async def between(self, start: dt.date, end: dt.date) -> list[SurveyRecord]:
        """Every survey given from ``start`` to ``end`` (WIB days, both included), oldest first."""
        if end < start:
            raise HubError.of(ErrorCode.INVALID_INPUT, f"the period ends ({end}) before it starts ({start})")
        found: list[SurveyRecord] = []
        year, month = start.year, start.month
        while (year, month) <= (end.year, end.month):
            found.extend(record for record in await self.of_month(year, month) if start <= record.day <= end)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return _ordered(found)

    async def _release(self, taken: list[tuple[str, int]]) -> None:
        """Give back the claims this submit took (only if still its own: ``last`` is the revision it wrote)."""
        for claim, revision in taken:
            try:
                await self._kv.delete(claim, last=revision)
            except KeyWrongLastSequenceError:
                continue


def _claim(kind: str, subject: str) -> str:
    # Ticket ids (20261202-C007) and tracking numbers (K7Q3-9XH2-9) are ASCII letters, digits and dashes by
    # their contract patterns: every character is one a NATS KV key may hold, and neither holds a dot.
    if not (subject.isascii() and subject.replace("-", "").isalnum()):
        raise HubError.of(ErrorCode.INVALID_INPUT, f"{subject!r} is neither a ticket id nor a tracking number")
    return f"s.c.{kind}.{subject}"


def _claims(record: SurveyRecord) -> list[str]:
    """What a survey claims: its application first (the one a ticket and a tracking number share), its ticket."""
    claims = [_claim("a", record.tracking_no)] if record.tracking_no else []
    return claims + ([_claim("t", record.ticket_id)] if record.ticket_id else [])


def _record_key(record: SurveyRecord) -> str:
    return f"s.r.{record.day:%Y.%m.%d}.{record.id}"


def _ordered(records: Iterable[SurveyRecord]) -> list[SurveyRecord]:
    return sorted(records, key=lambda record: (record.submitted_at, record.id))


def survey_record_for_ticket(
    ticket: Ticket,
    answers: Mapping[SkmElement, int],
    service: QueueService,
    *,
    at: dt.datetime | None = None,
) -> SurveyRecord:
    """The survey of a visit by its queue ticket: the desk that served it, and its application when it led to one.
    ``at``: when it was given (default now). A ticket's visit is served at a desk (channel ``desk``), or in the
    mobile van when the ticket was taken there (``mobile``)."""
    if service.code != ticket.service:
        raise ValueError(f"ticket {ticket.number} is of service {ticket.service!r}, not {service.code!r}")
    when = at or utcnow()
    return SurveyRecord(
        id=uuid.uuid4().hex, ticket_id=ticket.id, tracking_no=ticket.tracking_no, service=ticket.service,
        agency=service.agency, desk=ticket.desk,
        channel=Channel.MOBILE if ticket.channel is Channel.MOBILE else Channel.DESK,
        day=when.astimezone(WIB).date(), submitted_at=when, answers=dict(answers),
    )  # fmt: skip


def survey_record_for_application(
    application: Application,
    answers: Mapping[SkmElement, int],
    *,
    agency: str,
    desk: str | None = None,
    at: dt.datetime | None = None,
) -> SurveyRecord:
    """The survey of an application by its tracking number; ``agency``: the one the survey counts for (of the
    agencies the service involves); ``desk``: the desk that took it, if the caller knows one; ``at``: when the
    survey was given (default now)."""
    if agency not in application.agencies:
        raise ValueError(f"{application.service} involves {', '.join(application.agencies)}, not {agency!r}")
    when = at or utcnow()
    return SurveyRecord(
        id=uuid.uuid4().hex, tracking_no=application.tracking_no, service=application.service, agency=agency,
        desk=desk, channel=application.channel, day=when.astimezone(WIB).date(), submitted_at=when,
        answers=dict(answers),
    )  # fmt: skip
