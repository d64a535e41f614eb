"""The front of house beyond the ticket: online bookings in time slots, and emergency notices.

A booking holds no personal data: a service, a day, a time slot and a secret code (shown once, as a QR code) that
checks it in at a kiosk. An emergency notice is what every display board, desk screen and citizen page shows
until a manager clears it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from contracts._applications import Channel
from contracts._base import Contract

__all__ = [
    "Booking",
    "BookingCode",
    "BookingReceipt",
    "BookingRequest",
    "BookingSlot",
    "BookingSlots",
    "BookingStatus",
    "EmergencyNotice",
    "NoticeKind",
    "NoticeRequest",
]


class BookingStatus(StrEnum):
    """Where a booking stands."""

    BOOKED = "booked"  # dipesan: the slot is held
    CHECKED_IN = "checked_in"  # sudah hadir: it became a ticket at a kiosk
    CANCELLED = "cancelled"  # dibatalkan: the slot is free again


class BookingRequest(Contract):
    """A time slot asked for, online or at a kiosk, for a day ahead."""

    service: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", examples=["samsat"])
    day: dt.date = Field(description="The day of the visit (WIB).")
    slot: str = Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="The slot's start, WIB, as HH:MM (the slot list's starts_at).",
        examples=["09:30"],
    )

    @property
    def starts(self) -> dt.time:
        """The slot's start as a time of day (WIB)."""
        return dt.time.fromisoformat(self.slot)

    channel: Channel


class Booking(Contract):
    """A booked time slot."""

    id: str = Field(pattern=r"^\d{8}-[A-Z]{1,2}\d{4}-\d{1,3}$", examples=["20261203-C0930-2"])
    service: str
    day: dt.date
    starts_at: dt.datetime
    ends_at: dt.datetime
    channel: Channel
    status: BookingStatus = BookingStatus.BOOKED
    booked_at: dt.datetime
    ticket_id: str | None = Field(default=None, description="The ticket it became at check-in.")


class BookingReceipt(Contract):
    """A new booking with its secret code, given once: the code checks it in or cancels it."""

    booking: Booking
    code: str = Field(description="The booking's secret; the hub keeps only its hash.")
    qr_svg: str = Field(description="The booking id and code as a QR code (inline SVG) for the kiosk's scanner.")


class BookingCode(Contract):
    """The secret code of a booking, to check it in or cancel it."""

    code: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class BookingSlot(Contract):
    """One time slot of a day and how many bookings it still takes."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    free: int = Field(ge=0)


class BookingSlots(Contract):
    """A service's slots on a day (none on a day the mall is closed)."""

    service: str
    day: dt.date
    slots: list[BookingSlot]


class NoticeKind(StrEnum):
    """What kind of emergency a notice is about."""

    EVACUATION = "evacuation"  # evakuasi
    POWER_CUT = "power_cut"  # listrik padam
    LIFT_STOPPED = "lift_stopped"  # lift berhenti
    OTHER = "other"  # keadaan darurat lain


class NoticeRequest(Contract):
    """An emergency notice as a manager raises it: what happened, what to do, where to go, whom to call."""

    kind: NoticeKind
    title: str = Field(min_length=3, max_length=80, examples=["Evakuasi gedung"])
    instructions: str = Field(
        min_length=3, max_length=600, examples=["Tinggalkan gedung melalui tangga darurat. Jangan memakai lift."]
    )
    where_to_go: str | None = Field(default=None, max_length=200, examples=["Titik kumpul di halaman parkir depan"])
    contact: str | None = Field(default=None, max_length=120, examples=["Petugas keamanan: (0283) 000-000"])


class EmergencyNotice(NoticeRequest):
    """The notice every screen shows until it is cleared."""

    raised_at: dt.datetime
