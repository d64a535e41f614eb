"""Online bookings (antrian online): a time slot per service and day, held in the shared ``mpp_front`` bucket.

A slot takes ``per_slot`` bookings per service. The count of a slot is one record moved by compare-and-set,
so two citizens booking the last place at once cannot both get it. A booking's secret code is given once, with
a QR code of it; the hub keeps only the code's hash. At a kiosk the code checks the booking in: it becomes a
ticket queued at its slot's start, ahead of walk-ins who came later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable

import holidays
import segno
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from contracts import (
    Booking,
    BookingReceipt,
    BookingRequest,
    BookingSlot,
    BookingSlots,
    BookingStatus,
    ErrorCode,
    FieldIssue,
    HubError,
    Ticket,
    TicketMove,
)
from hub._queue import TicketQueue
from hub._time import WIB

__all__ = ["BookingBook", "BookingSettings", "qr_payload"]


class BookingSettings(BaseModel):
    """``[front.booking]``: when the mall takes bookings, and how many per slot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    opens: dt.time = Field(default=dt.time(8, 0), description="The first slot's start (WIB).")
    closes: dt.time = Field(default=dt.time(15, 0), description="No slot ends after this (WIB).")
    slot_minutes: int = Field(default=30, ge=5, le=240)
    per_slot: int = Field(default=4, ge=1, le=1000, description="Bookings a slot takes, per service.")
    days_ahead: int = Field(default=14, ge=0, le=90, description="How far ahead a slot may be booked.")
    weekdays: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4), description="Days open, 0 = Monday.")
    check_in_before: int = Field(default=30, ge=0, description="Minutes before its slot a booking may check in.")
    check_in_after: int = Field(default=15, ge=0, description="Minutes after its slot's start it still may.")


class _Stored(BaseModel):
    booking: Booking
    code_hash: str


class BookingBook:
    """Slots, bookings, cancellations and check-ins; ``clock`` is now in UTC."""

    def __init__(
        self, kv: KeyValue, queue: TicketQueue, settings: BookingSettings, clock: Callable[[], dt.datetime]
    ) -> None:
        self._kv = kv
        self._queue = queue
        self._settings = settings
        self._clock = clock

    async def slots(self, service: str, day: dt.date) -> BookingSlots:
        """The service's slots on ``day`` and how many places each has left (none on a closed day)."""
        self._queue_service(service)
        free = []
        for start in self._starts(day):
            held, _ = await self._count(day, service, start)
            free.append(self._slot(day, start, max(self._settings.per_slot - held["held"], 0)))
        return BookingSlots(service=service, day=day, slots=free)

    async def book(self, request: BookingRequest) -> BookingReceipt:
        """Hold a place in a slot; ``conflict`` when the slot is full, ``invalid_input`` when it is not one."""
        prefix = self._queue_service(request.service)
        starts = request.starts
        self._check_bookable(request.day, starts)
        seq = await self._hold(request.day, request.service, starts)
        slot = self._slot(request.day, starts, 0)
        booking = Booking(
            id=f"{request.day:%Y%m%d}-{prefix}{starts:%H%M}-{seq}", service=request.service, day=request.day,
            starts_at=slot.starts_at, ends_at=slot.ends_at, channel=request.channel, booked_at=self._clock(),
        )  # fmt: skip
        code = secrets.token_urlsafe(12)
        await self._kv.create(
            _key(booking.id), _Stored(booking=booking, code_hash=_hash(code)).model_dump_json().encode()
        )
        qr = segno.make(qr_payload(booking.id, code), error="m").svg_inline(scale=4, title=f"Booking {booking.id}")
        return BookingReceipt(booking=booking, code=code, qr_svg=qr)

    async def get(self, booking_id: str) -> Booking:
        return (await self._read(booking_id))[0].booking

    async def cancel(self, booking_id: str, code: str) -> Booking:
        """Cancel a booking not yet checked in, freeing its place."""
        stored, revision = await self._unlocked(booking_id, code)
        cancelled = stored.booking.model_copy(update={"status": BookingStatus.CANCELLED})
        await self._replace(stored, cancelled, revision)
        start = cancelled.starts_at.astimezone(WIB).time()
        await self._release(cancelled.day, cancelled.service, start)
        return cancelled

    async def check_in(self, booking_id: str, code: str) -> Ticket:
        """The booking's ticket, queued at its slot's start: only on its day, from ``check_in_before`` minutes
        before the slot until ``check_in_after`` minutes after its start."""
        stored, revision = await self._unlocked(booking_id, code)
        booking = stored.booking
        self._check_window(booking)
        ticket = await self._queue.take(
            booking.service, booking.channel, booking_id=booking.id, queued_at=booking.starts_at
        )
        checked = booking.model_copy(update={"status": BookingStatus.CHECKED_IN, "ticket_id": ticket.id})
        try:
            await self._replace(stored, checked, revision)
        except HubError:
            await self._queue.move(ticket.id, TicketMove.CANCEL)  # checked in elsewhere meanwhile: one ticket stands
            raise
        return ticket

    # --- rules ---

    def _queue_service(self, service: str) -> str:
        if service not in self._queue.services:
            known = ", ".join(sorted(self._queue.services))
            raise HubError.of(ErrorCode.NOT_FOUND, f"No queue for service {service!r}; the mall's are: {known}")
        return self._queue.services[service].prefix

    def _open(self, day: dt.date) -> bool:
        return day.weekday() in self._settings.weekdays and day not in holidays.country_holidays("ID", years=day.year)

    def _starts(self, day: dt.date) -> list[dt.time]:
        if not self._open(day):
            return []
        step = dt.timedelta(minutes=self._settings.slot_minutes)
        start = dt.datetime.combine(day, self._settings.opens)
        last = dt.datetime.combine(day, self._settings.closes) - step
        starts = []
        while start <= last:
            starts.append(start.time())
            start += step
        return starts

    def _slot(self, day: dt.date, start: dt.time, free: int) -> BookingSlot:
        begins = dt.datetime.combine(day, start, WIB)
        return BookingSlot(
            starts_at=begins, ends_at=begins + dt.timedelta(minutes=self._settings.slot_minutes), free=free
        )

    def _check_bookable(self, day: dt.date, start: dt.time) -> None:
        now = self._clock().astimezone(WIB)
        if not now.date() <= day <= now.date() + dt.timedelta(days=self._settings.days_ahead):
            raise _refused(
                ErrorCode.INVALID_INPUT,
                "day",
                f"Slots can be booked from today up to {self._settings.days_ahead} days ahead, not for {day}",
            )
        starts = self._starts(day)
        if not starts:
            raise _refused(ErrorCode.INVALID_INPUT, "day", f"The mall is closed on {day}: choose another day")
        if start not in starts:
            listed = ", ".join(f"{s:%H:%M}" for s in starts)
            raise _refused(ErrorCode.INVALID_INPUT, "slot", f"{start:%H:%M} is not a slot; the slots are {listed}")
        if dt.datetime.combine(day, start, WIB) <= now:
            raise _refused(ErrorCode.INVALID_INPUT, "slot", f"The {start:%H:%M} slot has begun: choose a later one")

    def _check_window(self, booking: Booking) -> None:
        now = self._clock()
        opens = booking.starts_at - dt.timedelta(minutes=self._settings.check_in_before)
        closes = booking.starts_at + dt.timedelta(minutes=self._settings.check_in_after)
        if now < opens:
            raise HubError.of(
                ErrorCode.CONFLICT,
                f"Check-in for booking {booking.id} opens at {opens.astimezone(WIB):%d-%m-%Y %H:%M} WIB",
            )
        if now > closes:
            raise HubError.of(
                ErrorCode.CONFLICT,
                f"Booking {booking.id}'s slot began at {booking.starts_at.astimezone(WIB):%H:%M} WIB and check-in "
                "has closed: take a walk-in ticket",
            )

    # --- the bucket ---

    async def _count(self, day: dt.date, service: str, start: dt.time) -> tuple[dict[str, int], int | None]:
        try:
            entry = await self._kv.get(_count_key(day, service, start))
        except KeyNotFoundError:
            return {"held": 0, "issued": 0}, None
        return json.loads(entry.value or b"{}"), entry.revision

    async def _hold(self, day: dt.date, service: str, start: dt.time) -> int:
        """Count one more booking in the slot; its sequence number there (never given twice)."""
        while True:
            count, revision = await self._count(day, service, start)
            if count["held"] >= self._settings.per_slot:
                raise _refused(ErrorCode.CONFLICT, "slot", f"The {start:%H:%M} slot on {day} is full: choose another")
            moved = {"held": count["held"] + 1, "issued": count["issued"] + 1}
            if await self._write_count(day, service, start, moved, revision):
                return moved["issued"]

    async def _release(self, day: dt.date, service: str, start: dt.time) -> None:
        while True:
            count, revision = await self._count(day, service, start)
            moved = {**count, "held": max(count["held"] - 1, 0)}
            if await self._write_count(day, service, start, moved, revision):
                return

    async def _write_count(
        self, day: dt.date, service: str, start: dt.time, count: dict[str, int], revision: int | None
    ) -> bool:
        key, value = _count_key(day, service, start), json.dumps(count).encode()
        try:
            if revision is None:
                await self._kv.create(key, value)
            else:
                await self._kv.update(key, value, last=revision)
        except KeyWrongLastSequenceError:
            return False  # another booking or cancellation moved it: count again
        return True

    async def _read(self, booking_id: str) -> tuple[_Stored, int]:
        try:
            entry = await self._kv.get(_key(booking_id))
        except KeyNotFoundError:
            entry = None
        if entry is None or entry.value is None or entry.revision is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"No booking {booking_id!r}; check the number on the booking")
        return _Stored.model_validate_json(entry.value), entry.revision

    async def _unlocked(self, booking_id: str, code: str) -> tuple[_Stored, int]:
        """The booking, if ``code`` is its code and it still holds its place."""
        stored, revision = await self._read(booking_id)
        if not hmac.compare_digest(stored.code_hash, _hash(code)):
            raise HubError.of(ErrorCode.FORBIDDEN, f"That is not the code of booking {booking_id}")
        if stored.booking.status is not BookingStatus.BOOKED:
            raise HubError.of(ErrorCode.CONFLICT, f"Booking {booking_id} is {stored.booking.status.value}")
        return stored, revision

    async def _replace(self, stored: _Stored, booking: Booking, revision: int) -> None:
        value = _Stored(booking=booking, code_hash=stored.code_hash).model_dump_json().encode()
        try:
            await self._kv.update(_key(booking.id), value, last=revision)
        except KeyWrongLastSequenceError:
            raise HubError.of(ErrorCode.CONFLICT, f"Booking {booking.id} was changed meanwhile: try again") from None


def qr_payload(booking_id: str, code: str) -> str:
    """What a booking's QR code says, for the kiosk's scanner: ``MPPB1:<booking id>:<code>``."""
    return f"MPPB1:{booking_id}:{code}"


def _refused(code: ErrorCode, field: str, message: str) -> HubError:
    return HubError.of(code, message, issues=[FieldIssue(field=field, message=message)])


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _key(booking_id: str) -> str:
    day, _, rest = booking_id.partition("-")
    if not (booking_id.isascii() and day.isdigit() and rest.replace("-", "").isalnum()):
        raise HubError.of(ErrorCode.INVALID_INPUT, f"{booking_id!r} is not a booking id (like 20261203-C0930-2)")
    return f"b.{day}.{rest}"


def _count_key(day: dt.date, service: str, start: dt.time) -> str:
    return f"bn.{day:%Y%m%d}.{service}.{start:%H%M}"
