"""Queue tickets (antrian): a number per service, read out in the hall and shown on the display board.

A ticket carries no personal data: it names a service, a channel and, once called, a desk. Its number has the
service's prefix and restarts at 1 every day in Western Indonesian Time (``A-007``); its id adds the day, so a
ticket is never mistaken for yesterday's (``20261202-A007``).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from contracts._applications import Channel, TrackingNumber
from contracts._base import Contract

__all__ = ["QueueService", "Ticket", "TicketLink", "TicketMove", "TicketPlace", "TicketRequest", "TicketStatus"]


class TicketStatus(StrEnum):
    """Where a ticket stands; done, no-show and cancelled are final."""

    WAITING = "waiting"  # menunggu
    CALLED = "called"  # dipanggil: a desk has called it and waits for the citizen
    IN_SERVICE = "in_service"  # dilayani
    DONE = "done"  # selesai
    NO_SHOW = "no_show"  # tidak hadir: called, and nobody came
    CANCELLED = "cancelled"  # dibatalkan, before it was called

    @property
    def final(self) -> bool:
        return self in (TicketStatus.DONE, TicketStatus.NO_SHOW, TicketStatus.CANCELLED)


class TicketMove(StrEnum):
    """What a desk (or the citizen, for ``cancel``) does to a ticket after calling it."""

    START = "start"  # called -> in service: the citizen sat down
    FINISH = "finish"  # in service -> done
    NO_SHOW = "no_show"  # called -> no-show
    CANCEL = "cancel"  # waiting -> cancelled


class QueueService(Contract):
    """A service with a queue of its own: tickets are numbered per service, each with its prefix."""

    code: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", examples=["samsat-pkb"])
    prefix: str = Field(pattern=r"^[A-Z]{1,2}$", examples=["C"])
    name: str = Field(min_length=1, max_length=80, examples=["Samsat: pajak kendaraan bermotor"])
    agency: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["samsat"])


class Ticket(Contract):
    """One ticket and where it stands."""

    id: str = Field(pattern=r"^\d{8}-[A-Z]{1,2}\d{3,}$", examples=["20261202-C007"])
    number: str = Field(examples=["C-007"], description="As read out and shown on the display board.")
    service: str
    day: dt.date = Field(description="The day it was taken, in WIB.")
    channel: Channel
    status: TicketStatus = TicketStatus.WAITING
    taken_at: dt.datetime
    desk: str | None = Field(default=None, description="The desk that called it.")
    called_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    tracking_no: str | None = Field(default=None, description="The application it led to, once linked.")
    booking_id: str | None = Field(default=None, description="The online booking it was checked in from.")
    queued_at: dt.datetime | None = Field(
        default=None, description="Its place in the queue, when not its taking: a booking queues at its slot's start."
    )

    @property
    def order_at(self) -> dt.datetime:
        """When it joined the queue: tickets are called in this order."""
        return self.queued_at or self.taken_at


class TicketRequest(Contract):
    """A ticket asked for at a kiosk, a desk or online."""

    service: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$", examples=["samsat"])
    channel: Channel


class TicketPlace(Contract):
    """A ticket and how many of its service's tickets wait ahead of it."""

    ticket: Ticket
    ahead: int
    code: str | None = Field(
        default=None,
        pattern=r"^[A-Z2-7]{8}$",
        description="The ticket's own code, given only when it is taken (printed on the slip): it rates the visit "
        "in the satisfaction survey, so nobody else can rate it by guessing its number.",
    )


class TicketLink(Contract):
    """The application a ticket led to."""

    tracking_no: TrackingNumber = Field(examples=["9AKY-WS6R-D"])
