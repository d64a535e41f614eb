"""The queue on a real bus: numbering per service and WIB day, moves, and two desks racing for the next ticket."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from nats.aio.client import Client

from contracts import Channel, ErrorCode, HubError, QueueService, Ticket, TicketMove, TicketStatus
from hub._bus_access import BusAccess
from hub._queue import TicketQueue
from hub._roles import Role
from hub._time import WIB
from tests.conftest import connect


class Clock:
    """A clock the test moves by hand (UTC, as the hub's)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def tick(self, seconds: float = 1) -> None:
        self.at += dt.timedelta(seconds=seconds)


def _services() -> list[QueueService]:
    # A fresh day per test is not possible on a shared bucket, so every test gets services of its own codes.
    tag = uuid.uuid4().hex[:6]
    return [
        QueueService(code=f"ktp-{tag}", prefix="A", name="Dukcapil: KTP-el", agency="dukcapil"),
        QueueService(code=f"pkb-{tag}", prefix="C", name="Samsat: pajak kendaraan", agency="samsat"),
    ]


@pytest.fixture
async def desks(bus: BusAccess) -> AsyncIterator[list[Client]]:
    """Two edges' connections (the edge role takes and calls tickets), standing in for two desks' hubs."""
    clients = [await connect(bus, Role.EDGE), await connect(bus, Role.EDGE)]
    yield clients
    for client in clients:
        await client.close()


async def _queues(desks: list[Client], clock: Callable[[], dt.datetime]) -> tuple[TicketQueue, TicketQueue]:
    services = _services()
    first, second = [await TicketQueue.open(client.jetstream(), services, clock) for client in desks]
    return first, second


def _at(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=WIB).astimezone(dt.UTC)


async def test_numbers_count_per_service_and_restart_at_midnight_wib(desks: list[Client]) -> None:
    day = dt.date(2031, 3, 4)  # a day no other test takes tickets on
    clock = Clock(_at(day, 23, 59, 58))
    queue, _ = await _queues(desks, clock)
    ktp, pkb = list(queue.services)
    first = await queue.take(ktp, Channel.DESK)
    clock.tick()
    second = await queue.take(ktp, Channel.KIOSK)
    other = await queue.take(pkb, Channel.PORTAL)
    assert (first.number, second.number, other.number) == ("A-001", "A-002", "C-001")
    assert first.id == "20310304-A001" and first.day == day

    clock.at = _at(day, 23, 59, 59) + dt.timedelta(seconds=1)  # 00:00:00 WIB: 17:00 UTC, the day before in UTC
    assert clock.at.date() == day  # in UTC it is still the 4th: the day must come from WIB
    after_midnight = await queue.take(ktp, Channel.DESK)
    assert (after_midnight.number, after_midnight.day) == ("A-001", day + dt.timedelta(days=1))
    assert await queue.get(first.id) == first  # yesterday's A-001 is still its own ticket


async def test_two_desks_racing_never_get_the_same_ticket(desks: list[Client]) -> None:
    clock = Clock(_at(dt.date(2031, 3, 10), 8))
    one, two = await _queues(desks, clock)
    ktp, pkb = list(one.services)
    taken = []
    for n in range(24):
        taken.append(await one.take(ktp if n % 3 else pkb, Channel.DESK))
        clock.tick()

    async def desk(queue: TicketQueue, name: str) -> list[Ticket]:
        called = []
        while (ticket := await queue.call_next(name, [ktp, pkb])) is not None:
            called.append(ticket)
        return called

    # Four desks on two connections, all calling at once until the queue is empty.
    results = await asyncio.gather(desk(one, "01"), desk(two, "02"), desk(one, "03"), desk(two, "04"))
    calls = Counter(ticket.id for called in results for ticket in called)
    assert calls == Counter(ticket.id for ticket in taken)  # every ticket called, and each exactly once
    for name, called in zip(("01", "02", "03", "04"), results, strict=True):
        for ticket in called:
            stored = await one.get(ticket.id)
            assert (stored.status, stored.desk) == (TicketStatus.CALLED, name)


async def test_calls_go_oldest_first_and_ahead_counts_the_queue(desks: list[Client]) -> None:
    clock = Clock(_at(dt.date(2031, 3, 12), 9))
    queue, _ = await _queues(desks, clock)
    ktp, pkb = list(queue.services)
    tickets = []
    for service in (ktp, pkb, ktp, ktp):
        tickets.append(await queue.take(service, Channel.KIOSK))
        clock.tick(30)
    assert [await queue.ahead(t) for t in tickets] == [0, 0, 1, 2]  # per service
    called = await queue.call_next("07", [ktp])
    assert called is not None and called.id == tickets[0].id
    assert await queue.ahead(await queue.get(tickets[3].id)) == 1
    assert await queue.call_next("07", [pkb, ktp]) == await queue.get(tickets[1].id)  # the older, whatever service


async def test_a_ticket_moves_only_along_its_states_and_only_at_its_desk(desks: list[Client]) -> None:
    clock = Clock(_at(dt.date(2031, 3, 14), 10))
    queue, _ = await _queues(desks, clock)
    ktp, _ = list(queue.services)
    ticket = await queue.take(ktp, Channel.DESK)
    with pytest.raises(HubError) as early:
        await queue.move(ticket.id, TicketMove.FINISH, "05")
    assert early.value.code is ErrorCode.CONFLICT and "waiting" in str(early.value)

    called = await queue.call_next("05", [ktp])
    assert called is not None
    with pytest.raises(HubError) as elsewhere:
        await queue.move(ticket.id, TicketMove.START, "06")
    assert elsewhere.value.code is ErrorCode.FORBIDDEN
    clock.tick(60)
    started = await queue.move(ticket.id, TicketMove.START, "05")
    linked = await queue.link(ticket.id, "9AKY-WS6R-D")
    clock.tick(300)
    done = await queue.move(ticket.id, TicketMove.FINISH, "05")
    assert (started.status, done.status, done.tracking_no) == (
        TicketStatus.IN_SERVICE,
        TicketStatus.DONE,
        linked.tracking_no,
    )
    assert done.finished_at is not None and started.started_at is not None
    assert done.finished_at - started.started_at == dt.timedelta(seconds=300)
    with pytest.raises(HubError) as again:
        await queue.link(ticket.id, "0000-0000-0")
    assert again.value.code is ErrorCode.CONFLICT

    walk_away = await queue.take(ktp, Channel.KIOSK)
    assert (await queue.move(walk_away.id, TicketMove.CANCEL)).status is TicketStatus.CANCELLED
    assert await queue.call_next("05", [ktp]) is None  # a cancelled ticket is never called


async def test_bad_service_and_ticket_ids_are_typed_errors(desks: list[Client]) -> None:
    """(Each test takes tickets on days of its own: a ticket id is its day, prefix and number.)"""
    queue, _ = await _queues(desks, Clock(_at(dt.date(2031, 3, 16), 8)))
    with pytest.raises(HubError) as service:
        await queue.take("no-such-service", Channel.DESK)
    assert service.value.code is ErrorCode.NOT_FOUND and "ktp-" in str(service.value)
    twins = [QueueService(code=code, prefix="A", name=code, agency="dukcapil") for code in ("ktp", "kk")]
    with pytest.raises(ValueError, match="share the ticket prefix A"):
        TicketQueue(queue._kv, twins)
    for bad, code in (
        ("20310316-A999", ErrorCode.NOT_FOUND),
        ("A001", ErrorCode.INVALID_INPUT),
        ("x.y-*", ErrorCode.INVALID_INPUT),
    ):
        with pytest.raises(HubError) as refused:
            await queue.get(bad)
        assert refused.value.code is code, bad
