"""The survey box on a real bus: one survey per served ticket or application, months listed, and no NIK stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator
from fractions import Fraction

import pytest
from nats.aio.client import Client

from contracts import (
    Application,
    ApplicationStatus,
    Channel,
    ErrorCode,
    HubError,
    IkmGrouping,
    QueueService,
    SkmBand,
    SkmElement,
    SurveyRecord,
    Ticket,
    TicketMove,
    new_tracking_number,
)
from hub._bus_access import BusAccess
from hub._ikm import ikm_report
from hub._kv_watch import current_entries
from hub._queue import TicketQueue
from hub._roles import Role
from hub._survey import SurveyBox, survey_record_for_application, survey_record_for_ticket
from hub._time import WIB
from hub.testing._bus import TestBus
from tests.conftest import connect

NIK = "3328104505900001"


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A bus of this module's own: its tests list whole months, which other modules' tests (the monthly report's
    February 2032) must not fill."""
    server = TestBus(tmp_path_factory.mktemp("survey-bus"))
    yield server.start()
    server.stop()


@pytest.fixture
async def edges(bus: BusAccess) -> AsyncIterator[list[Client]]:
    """Two edges' connections (the edge role takes surveys at kiosks and on the portal)."""
    clients = [await connect(bus, Role.EDGE), await connect(bus, Role.EDGE)]
    yield clients
    for client in clients:
        await client.close()


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=WIB).astimezone(dt.UTC)


def _answers(score: int) -> dict[SkmElement, int]:
    return dict.fromkeys(SkmElement, score)


def _service() -> QueueService:
    # The bucket is shared by the session's tests: each test has a service (and a month) of its own.
    return QueueService(code=f"pkb-{uuid.uuid4().hex[:6]}", prefix="C", name="Samsat: pajak", agency="samsat")


async def _served(queue: TicketQueue, service: str, desk: str = "loket4", tracking_no: str | None = None) -> Ticket:
    """A ticket taken, called, served and finished at ``desk`` (linked to an application when given)."""
    ticket = await queue.take(service, Channel.KIOSK)
    assert await queue.call_next(desk, [service]) is not None
    await queue.move(ticket.id, TicketMove.START, desk)
    if tracking_no:
        await queue.link(ticket.id, tracking_no)
    return await queue.move(ticket.id, TicketMove.FINISH, desk)


def _application(tracking_no: str, at: dt.datetime) -> Application:
    return Application(
        tracking_no=tracking_no, service="vehicle-tax-renewal", title="Perpanjangan pajak kendaraan",
        applicant_nik=NIK, channel=Channel.PORTAL, agencies=["samsat", "bank"], status=ApplicationStatus.DONE,
        step="done", history=[], created_at=at, updated_at=at,
    )  # fmt: skip


async def test_a_served_ticket_is_rated_once_and_listed_in_its_month(edges: list[Client]) -> None:
    day = dt.date(2032, 1, 14)
    service = _service()
    queue = await TicketQueue.open(edges[0].jetstream(), [service], lambda: _at(day))
    box, other_box = [await SurveyBox.open(client.jetstream()) for client in edges]
    ticket = await _served(queue, service.code)
    record = survey_record_for_ticket(ticket, _answers(4), service, at=_at(day, 11))
    assert (record.desk, record.agency, record.channel, record.day) == ("loket4", "samsat", Channel.DESK, day)

    assert await box.submit(record) == record
    assert await other_box.find(ticket_id=ticket.id) == record
    again = survey_record_for_ticket(ticket, _answers(1), service, at=_at(day, 12))
    with pytest.raises(HubError) as refused:
        await other_box.submit(again)  # another edge, a second try: refused all the same
    assert refused.value.code is ErrorCode.CONFLICT
    assert "sudah diisi" in refused.value.error.message and ticket.id not in refused.value.error.message
    assert await box.of_month(2032, 1) == [record]  # the refused one is not counted
    assert await box.of_month(2032, 2) == []
    report = ikm_report(await box.of_month(2032, 1), IkmGrouping.DESK)
    assert [(g.key, g.figure.converted.exact, g.figure.band) for g in report.groups] == [
        ("loket4", Fraction(100), SkmBand.A)
    ]


async def test_racing_surveys_of_one_ticket_keep_exactly_one(edges: list[Client]) -> None:
    day = dt.date(2032, 2, 3)
    service = _service()
    queue = await TicketQueue.open(edges[0].jetstream(), [service], lambda: _at(day))
    boxes = [await SurveyBox.open(client.jetstream()) for client in edges]
    ticket = await _served(queue, service.code)
    records = [survey_record_for_ticket(ticket, _answers(1 + n % 4), service, at=_at(day, 11)) for n in range(8)]
    results = await asyncio.gather(
        *(boxes[n % 2].submit(record) for n, record in enumerate(records)), return_exceptions=True
    )
    kept = [result for result in results if isinstance(result, SurveyRecord)]
    refused = [result for result in results if isinstance(result, HubError)]
    assert len(kept) == 1 and len(refused) == 7, results
    assert all(error.code is ErrorCode.CONFLICT for error in refused)
    assert await boxes[0].of_month(2032, 2) == kept


async def test_a_visit_is_rated_once_by_ticket_or_by_tracking_number(edges: list[Client]) -> None:
    """A ticket that led to an application claims both: the citizen cannot rate the visit twice, once with each
    number. A refused survey gives back what it claimed."""
    day = dt.date(2032, 3, 9)
    service = _service()
    queue = await TicketQueue.open(edges[0].jetstream(), [service], lambda: _at(day))
    box = await SurveyBox.open(edges[0].jetstream())

    linked_no = new_tracking_number()
    ticket = await _served(queue, service.code, tracking_no=linked_no)
    await box.submit(survey_record_for_ticket(ticket, _answers(3), service, at=_at(day)))
    by_number = survey_record_for_application(_application(linked_no, _at(day)), _answers(1), agency="samsat")
    with pytest.raises(HubError) as refused:
        await box.submit(by_number)
    assert refused.value.code is ErrorCode.CONFLICT

    # Rated online first, then at the kiosk with the ticket: the ticket's survey is refused.
    online_no = new_tracking_number()
    online = survey_record_for_application(
        _application(online_no, _at(day)), _answers(2), agency="bank", at=_at(day, 12)
    )
    await box.submit(online)
    second = await _served(queue, service.code, tracking_no=online_no)
    with pytest.raises(HubError):
        await box.submit(survey_record_for_ticket(second, _answers(4), service, at=_at(day, 13)))
    assert await box.find(ticket_id=second.id) is None  # nothing of the refused survey stays...

    # ...and a refused survey of (application, ticket) gives the application back when only the ticket clashed.
    fresh_no = new_tracking_number()
    clash = survey_record_for_ticket(ticket, _answers(4), service, at=_at(day, 14)).model_copy(
        update={"tracking_no": fresh_no}
    )
    with pytest.raises(HubError):
        await box.submit(clash)
    assert await box.find(tracking_no=fresh_no) is None
    later = survey_record_for_application(_application(fresh_no, _at(day)), _answers(4), agency="samsat", at=_at(day))
    assert await box.submit(later) == later
    assert {r.answers[SkmElement.U1] for r in await box.of_month(2032, 3)} == {3, 2, 4}


async def test_a_period_is_listed_by_wib_day_across_months(edges: list[Client]) -> None:
    box = await SurveyBox.open(edges[0].jetstream())
    service = _service()
    queue = await TicketQueue.open(edges[0].jetstream(), [service])
    days = [dt.date(2032, 4, 29), dt.date(2032, 4, 30), dt.date(2032, 5, 1), dt.date(2032, 5, 2)]
    stored = []
    for day in days:
        ticket = await _served(queue, service.code)
        # 00:30 WIB is the day before in UTC: the survey counts for its WIB day.
        at = dt.datetime(day.year, day.month, day.day, 0, 30, tzinfo=WIB)
        stored.append(await box.submit(survey_record_for_ticket(ticket, _answers(3), service, at=at)))
    assert [record.day for record in stored] == days
    assert await box.between(dt.date(2032, 4, 30), dt.date(2032, 5, 1)) == stored[1:3]
    assert await box.of_month(2032, 4) == stored[:2]
    with pytest.raises(HubError) as backwards:
        await box.between(dt.date(2032, 5, 1), dt.date(2032, 4, 30))
    assert backwards.value.code is ErrorCode.INVALID_INPUT
    with pytest.raises(HubError) as month:
        await box.of_month(2032, 13)
    assert month.value.code is ErrorCode.INVALID_INPUT


async def test_no_nik_is_stored(edges: list[Client]) -> None:
    """The application's NIK (full or masked) is nowhere in what the box writes: claims and records alike."""
    day = dt.date(2032, 6, 8)
    box = await SurveyBox.open(edges[0].jetstream())
    tracking_no = new_tracking_number()
    application = _application(tracking_no, _at(day))
    assert application.applicant_nik == "3328**********01"
    record = survey_record_for_application(application, _answers(4), agency="samsat", desk="loket5", at=_at(day))
    await box.submit(record)
    kv = await edges[0].jetstream().key_value("mpp_front")
    entries = await current_entries(kv, "s.>", meta_only=False)
    mine = [e for e in entries if tracking_no in e.key or record.id in e.key]
    assert {e.key.split(".")[1] for e in mine} == {"c", "r"}  # its claim and its record
    for entry in entries:
        assert entry.value is not None
        for secret in (NIK, application.applicant_nik, NIK[4:14], "applicant", "nik"):
            assert secret.encode() not in entry.value and secret not in entry.key, entry.key
