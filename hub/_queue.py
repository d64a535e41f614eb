"""The mall's queue: tickets taken, called and moved on, kept in a JetStream KV bucket every edge and worker shares.

Every change is a compare-and-set on the ticket's revision, so two desks calling at once can never both win the
same ticket: the loser finds it called and tries the next. A day's numbering is a counter per service and WIB
day, also moved by compare-and-set, so numbers restart at 1 at midnight WIB and are never given twice. Displays
follow the bucket's subjects (``$KV.mpp_front.t.<day>.<number>``): every change of a ticket is a message there.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts import Channel, ErrorCode, HubError, QueueService, Ticket, TicketMove, TicketStatus
from hub._kv_watch import current_entries
from hub._streams import bind_key_value
from hub._time import WIB, utcnow

__all__ = ["DEFAULT_DESKS", "DEFAULT_QUEUE_SERVICES", "FRONT_BUCKET", "FRONT_KV", "TicketQueue", "desk_right"]

#: The front of house's state: tickets (``t.``), the day's counters (``n.``).
FRONT_BUCKET = "mpp_front"
FRONT_KV = KeyValueConfig(bucket=FRONT_BUCKET, history=1, storage=StorageType.FILE)

# A move: the states it may start from, and where it leaves the ticket.
_MOVES: dict[TicketMove, tuple[frozenset[TicketStatus], TicketStatus]] = {
    TicketMove.START: (frozenset({TicketStatus.CALLED}), TicketStatus.IN_SERVICE),
    TicketMove.FINISH: (frozenset({TicketStatus.IN_SERVICE}), TicketStatus.DONE),
    TicketMove.NO_SHOW: (frozenset({TicketStatus.CALLED}), TicketStatus.NO_SHOW),
    TicketMove.CANCEL: (frozenset({TicketStatus.WAITING}), TicketStatus.CANCELLED),
}
_STAMPS = {TicketStatus.IN_SERVICE: "started_at", TicketStatus.DONE: "finished_at", TicketStatus.NO_SHOW: "finished_at"}


class TicketQueue:
    """Take, call and move tickets of the services given; ``clock`` is now in UTC (tests pass their own).

    ``code_key``: the key of the tickets' codes (:meth:`code_of`), the same on every edge; a random one when
    none is given, so that codes from another queue never pass."""

    def __init__(
        self,
        kv: KeyValue,
        services: Iterable[QueueService],
        clock: Callable[[], dt.datetime] = utcnow,
        code_key: bytes | None = None,
    ) -> None:
        self._kv = kv
        self._code_key = code_key or secrets.token_bytes(32)
        self.services: Mapping[str, QueueService] = {service.code: service for service in services}
        self._clock = clock
        prefixes = Counter(service.prefix for service in self.services.values())
        if shared := sorted(prefix for prefix, count in prefixes.items() if count > 1):
            raise ValueError(f"Two queue services share the ticket prefix {', '.join(shared)}: give each its own")

    @classmethod
    async def open(
        cls, js: JetStreamContext, services: Iterable[QueueService], clock: Callable[[], dt.datetime] = utcnow
    ) -> TicketQueue:
        return cls(await bind_key_value(js, FRONT_BUCKET), services, clock)

    async def take(
        self, service: str, channel: Channel, *, booking_id: str | None = None, queued_at: dt.datetime | None = None
    ) -> Ticket:
        """A new ticket of ``service`` for today: at the back of its queue, or at ``queued_at`` (a booking's slot)."""
        queue_service = self._service(service)
        now = self._clock()
        day = now.astimezone(WIB).date()
        number = await self._next_number(day, queue_service)
        ticket = Ticket(
            id=f"{day:%Y%m%d}-{queue_service.prefix}{number:03d}",
            number=f"{queue_service.prefix}-{number:03d}",
            service=service, day=day, channel=channel, taken_at=now, booking_id=booking_id, queued_at=queued_at,
        )  # fmt: skip
        await self._kv.create(_key(ticket.id), ticket.model_dump_json().encode())
        return ticket

    def code_of(self, ticket_id: str) -> str:
        """The ticket's code: a keyed hash of its id, so the hub stores none and any edge can check one."""
        digest = hmac.new(self._code_key, ticket_id.encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode()[:8]

    def check_code(self, ticket_id: str, code: str) -> None:
        """``forbidden`` unless ``code`` is the ticket's code."""
        if not hmac.compare_digest(self.code_of(ticket_id), code.upper()):
            raise HubError.of(ErrorCode.FORBIDDEN, "Kode tiket tidak cocok; lihat kode pada tiket Anda")

    async def get(self, ticket_id: str) -> Ticket:
        """The ticket; ``not_found`` for an id no ticket has."""
        return (await self._read(ticket_id))[0]

    async def ahead(self, ticket: Ticket) -> int:
        """How many tickets of the same service wait ahead of this one (0 once it is no longer waiting)."""
        if ticket.status is not TicketStatus.WAITING:
            return 0
        waiting = await self._waiting(ticket.day, {ticket.service})
        return sum(1 for other, _ in waiting if other.order_at < ticket.order_at)

    async def day(self, day: dt.date) -> list[Ticket]:
        """Every ticket of a WIB day, oldest first."""
        return [ticket for ticket, _ in await self._tickets(day)]

    async def call_next(self, desk: str, services: Iterable[str]) -> Ticket | None:
        """Call the longest-waiting ticket of ``services`` to ``desk``; None when nobody waits.

        Candidates are tried oldest first, each with a compare-and-set: one another desk took meanwhile is
        passed over, so no ticket is ever called to two desks."""
        wanted = {self._service(service).code for service in services}
        today = self._clock().astimezone(WIB).date()
        for ticket, revision in await self._waiting(today, wanted):
            called = ticket.model_copy(update={"status": TicketStatus.CALLED, "desk": desk, "called_at": self._clock()})
            try:
                await self._kv.update(_key(ticket.id), called.model_dump_json().encode(), last=revision)
            except KeyWrongLastSequenceError:
                continue  # another desk called it (or it was cancelled) since the listing
            return called
        return None

    async def move(self, ticket_id: str, move: TicketMove, desk: str | None = None) -> Ticket:
        """Move a ticket on; ``desk``: the desk that moves it, which must be the one that called it (None only
        for ``cancel``, the citizen's own)."""
        allowed_from, to = _MOVES[move]
        while True:
            ticket, revision = await self._read(ticket_id)
            if ticket.status not in allowed_from:
                raise HubError.of(
                    ErrorCode.CONFLICT,
                    f"Ticket {ticket.number} is {ticket.status.value}: it cannot be moved by {move.value!r} "
                    f"(only from {', '.join(sorted(s.value for s in allowed_from))})",
                )
            if ticket.desk != desk:
                raise HubError.of(ErrorCode.FORBIDDEN, f"Ticket {ticket.number} was called to another desk")
            stamp = _STAMPS.get(to)
            moved = ticket.model_copy(update={"status": to, **({stamp: self._clock()} if stamp else {})})
            if await self._replace(moved, revision):
                return moved

    async def link(self, ticket_id: str, tracking_no: str) -> Ticket:
        """Record the application a ticket led to (a ticket leads to one at most)."""
        while True:
            ticket, revision = await self._read(ticket_id)
            if ticket.tracking_no not in (None, tracking_no):
                raise HubError.of(ErrorCode.CONFLICT, f"Ticket {ticket.number} already led to another application")
            linked = ticket.model_copy(update={"tracking_no": tracking_no})
            if await self._replace(linked, revision):
                return linked

    # --- the bucket ---

    def _service(self, code: str) -> QueueService:
        try:
            return self.services[code]
        except KeyError:
            known = ", ".join(sorted(self.services)) or "none"
            raise HubError.of(ErrorCode.NOT_FOUND, f"No queue for service {code!r}; the mall's are: {known}") from None

    async def _next_number(self, day: dt.date, service: QueueService) -> int:
        key = f"n.{day:%Y%m%d}.{service.code}"
        while True:
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                try:
                    await self._kv.create(key, b"1")
                    return 1
                except KeyWrongLastSequenceError:
                    continue  # the day's first ticket was taken at the same moment elsewhere
            number = int(entry.value or b"0") + 1
            try:
                await self._kv.update(key, str(number).encode(), last=entry.revision)
                return number
            except KeyWrongLastSequenceError:
                continue

    async def _read(self, ticket_id: str) -> tuple[Ticket, int]:
        try:
            entry = await self._kv.get(_key(ticket_id))
        except KeyNotFoundError:
            entry = None
        if entry is None or entry.value is None or entry.revision is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"No ticket {ticket_id!r}; check the number on the ticket")
        return Ticket.model_validate_json(entry.value), entry.revision

    async def _replace(self, ticket: Ticket, revision: int) -> bool:
        try:
            await self._kv.update(_key(ticket.id), ticket.model_dump_json().encode(), last=revision)
        except KeyWrongLastSequenceError:
            return False  # moved meanwhile: read again and decide again
        return True

    async def _tickets(self, day: dt.date) -> list[tuple[Ticket, int]]:
        entries = await current_entries(self._kv, f"t.{day:%Y%m%d}.*", meta_only=False)
        found = [(Ticket.model_validate_json(e.value), e.revision or 0) for e in entries if e.value]
        return sorted(found, key=lambda pair: pair[0].order_at)

    async def _waiting(self, day: dt.date, services: set[str]) -> list[tuple[Ticket, int]]:
        return [
            (ticket, revision)
            for ticket, revision in await self._tickets(day)
            if ticket.status is TicketStatus.WAITING and ticket.service in services
        ]


def _key(ticket_id: str) -> str:
    day, _, number = ticket_id.partition("-")
    if not (ticket_id.isascii() and day.isdigit() and number.isalnum()):
        raise HubError.of(ErrorCode.INVALID_INPUT, f"{ticket_id!r} is not a ticket id (like 20261202-C007)")
    return f"t.{day}.{number}"


#: The embedded mall's queues: one per agency the hub ships with, each with its own prefix.
DEFAULT_QUEUE_SERVICES = (
    QueueService(code="dukcapil", prefix="A", name="Dukcapil: KTP-el, KK, akta", agency="dukcapil"),
    QueueService(code="bpjs", prefix="B", name="BPJS Kesehatan", agency="bpjs"),
    QueueService(code="samsat", prefix="C", name="Samsat: pajak kendaraan bermotor", agency="samsat"),
    QueueService(code="bank", prefix="D", name="Bank: pembayaran", agency="bank"),
)
#: The embedded mall's desks and the queues each calls from (a desk calls only these).
DEFAULT_DESKS: Mapping[str, tuple[str, ...]] = {
    "loket1": ("dukcapil",), "loket2": ("dukcapil",), "loket3": ("bpjs",), "loket4": ("samsat",),
    "loket5": ("samsat", "bank"),
}  # fmt: skip


def desk_right(desk: str) -> str:
    """The right that works ``desk`` (call and move its tickets); ``queue.desk.*`` works every desk."""
    return f"queue.desk.{desk}"
