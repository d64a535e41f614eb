"""The hall as this edge sees it: today's tickets and the emergency notice, followed live on the bus.

One watch per edge, however many boards and phones follow it: the board's stream and the citizen's ticket stream
read this, not the bucket. Tickets are watched on ``$KV.mpp_front.t.<today>.*`` (today's part of ``t.>``: a
board has no use for yesterday's, and a watch of ``t.>`` would reload every day the bucket still holds); the
watch is made again when the WIB day turns. The notice is watched on ``$KV.mpp_front.e.>``.

Every change bumps :attr:`Hall.version` and wakes :meth:`Hall.wait`, so a stream sends a change within
milliseconds of it reaching the bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Mapping

import structlog
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue
from pydantic import ValidationError

from contracts import EmergencyNotice, QueueService, Ticket, TicketStatus
from hub._kv_watch import KvWatcher, watch_from_current
from hub._notices import NOTICE_KEY
from hub._queue import FRONT_BUCKET
from hub._streams import bind_key_value
from hub._time import WIB, utcnow

__all__ = ["Hall", "notice_from"]

_START_TIMEOUT = 10.0
_POLL = 1.0  # how often a follower looks up from its watch: the day turning, the connection closing
_RETRY = 1.0
_DELETED = ("DEL", "PURGE")

_log = structlog.get_logger("hub.front")


def notice_from(value: bytes | None) -> EmergencyNotice | None:
    """The notice a value of ``e.notice`` holds (as ``hub._notices`` writes it); None for none (absent, deleted,
    or unreadable, which is logged): the one place the board reads the notice's format."""
    if not value:
        return None
    try:
        return EmergencyNotice.model_validate_json(value)
    except ValidationError as exc:
        _log.warning("emergency notice unreadable", errors=exc.error_count())
        return None


class Hall:
    """Today's tickets and the notice, kept up to date by a watch started on first use."""

    def __init__(
        self,
        nc: NATS,
        services: Mapping[str, QueueService],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        read_notice: Callable[[bytes | None], EmergencyNotice | None] = notice_from,
    ) -> None:
        self._nc = nc
        self.services = services
        self._clock = clock
        self._read_notice = read_notice
        self.day = clock().astimezone(WIB).date()
        self._tickets: dict[str, tuple[int, Ticket]] = {}  # by key: the newest revision seen, and the ticket
        self.notice: EmergencyNotice | None = None
        self.version = 0
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start following the bucket (once), and wait until what it holds now has been read."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hall-watch")
        async with asyncio.timeout(_START_TIMEOUT):
            await self._ready.wait()

    def tickets(self) -> list[Ticket]:
        """Today's tickets, in the order they are called (a booking's at its slot)."""
        return sorted((ticket for _, ticket in self._tickets.values()), key=lambda t: t.order_at)

    def ahead(self, ticket: Ticket) -> int:
        """How many of the same service wait ahead of ``ticket`` (0 once it no longer waits)."""
        if ticket.status is not TicketStatus.WAITING:
            return 0
        return sum(
            1
            for _, other in self._tickets.values()
            if other.service == ticket.service and other.status is TicketStatus.WAITING
            and other.order_at < ticket.order_at
        )  # fmt: skip

    def ticket(self, ticket_id: str) -> Ticket | None:
        """Today's ticket with this id, as the watch has it (None before it arrives)."""
        return next((t for _, t in self._tickets.values() if t.id == ticket_id), None)

    async def wait(self, seen: int, timeout: float) -> None:
        """Return once :attr:`version` is past ``seen``, or after ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout)):
                while self.version <= seen:
                    await self._changed.wait()

    # --- following the bucket ---

    def _bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _on_ticket(self, entry: KeyValue.Entry) -> None:
        revision = entry.revision or 0
        held = self._tickets.get(entry.key)
        if held is not None and held[0] >= revision:
            return  # a record the watch delivers twice (reloaded after a reconnect)
        if entry.operation in _DELETED or not entry.value:
            self._tickets.pop(entry.key, None)
        else:
            try:
                self._tickets[entry.key] = (revision, Ticket.model_validate_json(entry.value))
            except ValidationError:
                return  # not a ticket this hub can read; the queue's own reads refuse it too
        self._bump()

    def _on_notice(self, entry: KeyValue.Entry) -> None:
        if entry.key != NOTICE_KEY:
            return
        self.notice = None if entry.operation in _DELETED else self._read_notice(entry.value)
        self._bump()

    async def _run(self) -> None:
        while not self._nc.is_closed:
            try:
                kv = await bind_key_value(self._nc.jetstream(), FRONT_BUCKET)
                await asyncio.gather(self._follow_notice(kv), self._follow_tickets(kv))
            except Exception as exc:  # the bus went away or the watch broke: watch again from what is there
                _log.warning("hall watch interrupted", error=type(exc).__name__)
                await asyncio.sleep(_RETRY)

    async def _follow_notice(self, kv: KeyValue) -> None:
        watcher = await watch_from_current(kv, "e.>", on_entry=self._on_notice)
        try:
            await self._follow(watcher, self._on_notice, lambda: True)
        finally:
            await watcher.stop()

    async def _follow_tickets(self, kv: KeyValue) -> None:
        while not self._nc.is_closed:
            day = self._clock().astimezone(WIB).date()
            if day != self.day:
                self.day, self._tickets = day, {}
                self._bump()
            watcher = await watch_from_current(kv, f"t.{day:%Y%m%d}.*", on_entry=self._on_ticket)
            self._ready.set()
            try:
                await self._follow(watcher, self._on_ticket, functools.partial(self._is_today, day))
            finally:
                await watcher.stop()

    def _is_today(self, day: dt.date) -> bool:
        return self._clock().astimezone(WIB).date() == day

    async def _follow(
        self, watcher: KvWatcher, apply: Callable[[KeyValue.Entry], None], still: Callable[[], bool]
    ) -> None:
        while still() and not self._nc.is_closed:
            try:
                entry = await watcher.updates(timeout=_POLL)
            except TimeoutError:
                continue
            if entry is not None:
                apply(entry)
