"""Online bookings on a real bus: the day's slots, a full slot under a race, check-in near the slot, the QR code."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import pytest
import segno
from nats.aio.client import Client

from contracts import BookingRequest, BookingStatus, Channel, ErrorCode, HubError, QueueService
from hub._bookings import BookingBook, BookingSettings, qr_payload
from hub._bus_access import BusAccess
from hub._queue import TicketQueue
from hub._roles import Role
from hub._streams import bind_key_value
from hub._time import WIB
from tests.conftest import connect
from tests.test_queue import Clock

MONDAY = dt.date(2026, 12, 7)
CHRISTMAS = dt.date(2026, 12, 25)  # a Friday, and a national holiday on the library's Indonesian calendar


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=WIB).astimezone(dt.UTC)


@pytest.fixture
async def edges(bus: BusAccess) -> AsyncIterator[list[Client]]:
    clients = [await connect(bus, Role.EDGE), await connect(bus, Role.EDGE)]
    yield clients
    for client in clients:
        await client.close()


async def _books(edges: list[Client], clock: Clock, prefix: str, **settings: object) -> list[BookingBook]:
    # The bucket is shared by every test, and a ticket's key is its day and number: each test has a service of
    # its own code and its own prefix.
    services = [QueueService(code=f"pkb-{uuid.uuid4().hex[:6]}", prefix=prefix, name="Samsat", agency="samsat")]
    books = []
    for client in edges:
        kv = await bind_key_value(client.jetstream(), "mpp_front")
        books.append(BookingBook(kv, TicketQueue(kv, services, clock), BookingSettings.model_validate(settings), clock))
    return books


def _request(book: BookingBook, day: dt.date, hour: int, minute: int = 0) -> BookingRequest:
    service = next(iter(book._queue.services))
    return BookingRequest(service=service, day=day, slot=f"{hour:02d}:{minute:02d}", channel=Channel.PORTAL)


async def test_a_day_has_its_slots_and_a_closed_day_has_none(edges: list[Client]) -> None:
    book = (await _books(edges, Clock(_at(MONDAY, 7)), "BA"))[0]
    service = next(iter(book._queue.services))
    monday = await book.slots(service, MONDAY)
    assert [f"{slot.starts_at.astimezone(WIB):%H:%M}" for slot in monday.slots][:3] == ["08:00", "08:30", "09:00"]
    assert len(monday.slots) == 14 and {slot.free for slot in monday.slots} == {4}  # 08:00 to 14:30, 30 minutes
    for closed in (MONDAY + dt.timedelta(days=5), CHRISTMAS):  # a Saturday, a holiday
        assert (await book.slots(service, closed)).slots == []
        with pytest.raises(HubError) as refused:
            await book.book(_request(book, closed, 9))
        assert refused.value.error.code is ErrorCode.INVALID_INPUT and refused.value.error.issues[0].field == "day"


async def test_bad_slots_are_refused_with_the_field_to_mend(edges: list[Client]) -> None:
    book = (await _books(edges, Clock(_at(MONDAY, 9, 10)), "BB"))[0]
    for day, hour, minute, field in (
        (MONDAY, 9, 15, "slot"),  # not a slot's start
        (MONDAY, 9, 0, "slot"),  # begun already
        (MONDAY, 15, 0, "slot"),  # the mall closes at 15:00
        (MONDAY - dt.timedelta(days=7), 10, 0, "day"),  # the past
        (MONDAY + dt.timedelta(days=15), 10, 0, "day"),  # beyond 14 days ahead
    ):
        with pytest.raises(HubError) as refused:
            await book.book(_request(book, day, hour, minute))
        assert refused.value.error.code is ErrorCode.INVALID_INPUT, (day, hour, minute)
        assert refused.value.error.issues[0].field == field


async def test_a_slot_never_takes_more_than_its_places_even_when_citizens_race(edges: list[Client]) -> None:
    first, second = await _books(edges, Clock(_at(MONDAY, 7)), "BC", per_slot=3)
    results = await asyncio.gather(
        *(book.book(_request(book, MONDAY, 10)) for book in (first, second) * 4), return_exceptions=True
    )
    booked = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, HubError)]
    assert len(booked) == 3 and len(refused) == 5
    assert {r.error.code for r in refused} == {ErrorCode.CONFLICT}
    assert len({receipt.booking.id for receipt in booked}) == 3
    service = booked[0].booking.service
    assert (await first.slots(service, MONDAY)).slots[4].free == 0  # 10:00 is the fifth slot

    cancelled = await second.cancel(booked[0].booking.id, booked[0].code)
    assert cancelled.status is BookingStatus.CANCELLED
    assert (await first.slots(service, MONDAY)).slots[4].free == 1
    again = await first.book(_request(first, MONDAY, 10))
    assert again.booking.id not in {receipt.booking.id for receipt in booked}  # an id is never given twice


async def test_a_checked_in_booking_is_queued_at_its_slot_ahead_of_later_walk_ins(edges: list[Client]) -> None:
    clock = Clock(_at(MONDAY, 7))
    book, other = await _books(edges, clock, "BD")
    receipt = await book.book(_request(book, MONDAY, 9, 30))
    service = receipt.booking.service

    clock.at = _at(MONDAY, 8, 59)
    with pytest.raises(HubError) as early:
        await book.check_in(receipt.booking.id, receipt.code)
    assert early.value.error.code is ErrorCode.CONFLICT and "opens at 07-12-2026 09:00" in early.value.error.message

    clock.at = _at(MONDAY, 9, 35)
    walk_in = await book._queue.take(service, Channel.KIOSK)
    clock.at = _at(MONDAY, 9, 40)  # late, within the 15 minutes' grace
    with pytest.raises(HubError) as wrong:
        await book.check_in(receipt.booking.id, "not-the-code-at-all")
    assert wrong.value.error.code is ErrorCode.FORBIDDEN
    ticket = await other.check_in(receipt.booking.id, receipt.code)
    assert ticket.booking_id == receipt.booking.id and ticket.order_at == receipt.booking.starts_at
    assert await book._queue.ahead(walk_in) == 1 and await book._queue.ahead(ticket) == 0
    called = await book._queue.call_next("loket4", [service])
    assert called is not None and called.id == ticket.id
    assert (await book.get(receipt.booking.id)).ticket_id == ticket.id

    for attempt in (book.check_in, book.cancel):  # a booking is used once
        with pytest.raises(HubError) as used:
            await attempt(receipt.booking.id, receipt.code)
        assert used.value.error.code is ErrorCode.CONFLICT


async def test_check_in_closes_after_the_grace_and_two_check_ins_make_one_ticket(edges: list[Client]) -> None:
    clock = Clock(_at(MONDAY, 7))
    book, other = await _books(edges, clock, "BE")
    late = await book.book(_request(book, MONDAY, 8))
    raced = await book.book(_request(book, MONDAY, 8))
    clock.at = _at(MONDAY, 8, 16)
    with pytest.raises(HubError) as closed:
        await book.check_in(late.booking.id, late.code)
    assert "walk-in" in closed.value.error.message

    clock.at = _at(MONDAY, 8, 10)
    results = await asyncio.gather(
        book.check_in(raced.booking.id, raced.code), other.check_in(raced.booking.id, raced.code),
        return_exceptions=True,
    )  # fmt: skip
    tickets = [r for r in results if not isinstance(r, BaseException)]
    assert len(tickets) == 1, results
    waiting = [t for t in await book._queue.day(MONDAY) if t.booking_id == raced.booking.id and not t.status.final]
    assert [t.id for t in waiting] == [tickets[0].id]  # the loser's ticket was cancelled, not left waiting


async def test_the_receipt_qr_code_carries_the_booking_and_its_code(edges: list[Client]) -> None:
    book = (await _books(edges, Clock(_at(MONDAY, 7)), "BF"))[0]
    receipt = await book.book(_request(book, MONDAY, 11))
    expected = segno.make(qr_payload(receipt.booking.id, receipt.code), error="m")
    assert receipt.qr_svg.startswith("<svg") and expected.svg_inline(scale=4).split('d="')[1] in receipt.qr_svg
    stored = (
        await (await bind_key_value(edges[0].jetstream(), "mpp_front")).get(
            f"b.{receipt.booking.id[:8]}.{receipt.booking.id[9:]}"
        )
    ).value
    assert stored is not None and receipt.code.encode() not in stored  # only its hash is kept
