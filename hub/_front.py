"""The front of house's configuration (``[front]`` in mpp-hub.toml) and its parts, opened together.

A mall names its queue services (each with its ticket prefix), its desks (each with the services it calls
from), its booking hours, each queue's published standard and the process complaints are filed with. The
embedded defaults are one queue per built-in agency, five desks, placeholder standards and SP4N-LAPOR!'s
``pengaduan``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Self

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nats.js.client import JetStreamContext
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from contracts import QueueService
from hub._bookings import BookingBook, BookingSettings
from hub._mall_figures import DEFAULT_FRONT_STANDARDS, FrontStandard
from hub._notices import NoticeBoard
from hub._queue import DEFAULT_DESKS, DEFAULT_QUEUE_SERVICES, FRONT_BUCKET, TicketQueue
from hub._streams import bind_key_value
from hub._survey import SurveyBox
from hub._time import utcnow

__all__ = ["DeskCode", "Front", "FrontSettings", "ServiceStandard", "ticket_code_key"]

_MINUTE = dt.timedelta(minutes=1)

DeskCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class ServiceStandard(BaseModel):
    """``[front.standards.<service>]``: what a queue promises at the desk (the mall's published standard)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    waiting_minutes: int = Field(ge=1, le=24 * 60, description="The longest wait from a ticket to its call.")
    service_minutes: int = Field(ge=1, le=24 * 60, description="The longest service, from sitting down to done.")

    def standard(self) -> FrontStandard:
        return FrontStandard(
            waiting=dt.timedelta(minutes=self.waiting_minutes), service=dt.timedelta(minutes=self.service_minutes)
        )


def _default_standards() -> dict[str, ServiceStandard]:
    return {
        code: ServiceStandard(waiting_minutes=s.waiting // _MINUTE, service_minutes=s.service // _MINUTE)
        for code, s in DEFAULT_FRONT_STANDARDS.items()
    }


class FrontSettings(BaseModel):
    """``[front]``: the mall's queue services, desks, booking hours, standards and complaint process."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: tuple[QueueService, ...] = Field(
        default=DEFAULT_QUEUE_SERVICES, min_length=1, description="The queues: code, ticket prefix, name, agency."
    )
    desks: dict[DeskCode, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_DESKS), description="Each desk and the services it calls from."
    )
    booking: BookingSettings = Field(default_factory=BookingSettings, description="Online booking in time slots.")
    complaint_service: str | None = Field(
        default="pengaduan",
        pattern=r"^[a-z][a-z0-9-]{0,31}$",
        description="The process the citizen page files complaints with (none: the page takes no complaint).",
    )
    standards: dict[str, ServiceStandard] = Field(
        default_factory=_default_standards,
        description="Per queue service, the waiting and service time it promises (placeholders until set).",
    )

    def front_standards(self) -> Mapping[str, FrontStandard]:
        """The standards as the managers' figures judge them; a service not listed gets the figures' default."""
        served = {service.code for service in self.services}
        return {code: standard.standard() for code, standard in self.standards.items() if code in served}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        codes = Counter(service.code for service in self.services)
        prefixes = Counter(service.prefix for service in self.services)
        if twice := sorted(code for code, n in codes.items() if n > 1):
            raise ValueError(f"front.services lists {', '.join(twice)} more than once")
        if shared := sorted(prefix for prefix, n in prefixes.items() if n > 1):
            raise ValueError(f"front.services share the ticket prefix {', '.join(shared)}: give each its own")
        for desk, served in self.desks.items():
            if unknown := sorted(set(served) - set(codes)):
                raise ValueError(
                    f"front.desks.{desk} calls from {', '.join(unknown)}, which front.services does not list "
                    f"(it lists {', '.join(sorted(codes))})"
                )
            if not served:
                raise ValueError(f"front.desks.{desk} calls from no service: list at least one")
        if "standards" in self.model_fields_set and (unknown := sorted(set(self.standards) - set(codes))):
            raise ValueError(f"front.standards names {', '.join(unknown)}, which front.services does not list")
        return self


def ticket_code_key(audit_key: bytes) -> bytes:
    """The key of the tickets' codes, derived from the audit key every edge already holds."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mpp-hub ticket codes").derive(audit_key)


@dataclass(frozen=True)
class Front:
    """The queue, the bookings, the emergency notice and the surveys of one mall, over the shared ``mpp_front``
    bucket."""

    settings: FrontSettings
    queue: TicketQueue
    bookings: BookingBook
    notices: NoticeBoard
    surveys: SurveyBox

    @property
    def desks(self) -> Mapping[str, tuple[str, ...]]:
        return self.settings.desks

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        settings: FrontSettings,
        code_key: bytes | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> Front:
        """``code_key``: the key of the tickets' codes, the same on every edge (see ``TicketQueue``)."""
        kv = await bind_key_value(js, FRONT_BUCKET)
        queue = TicketQueue(kv, settings.services, clock, code_key)
        bookings = BookingBook(kv, queue, settings.booking, clock)
        return cls(settings, queue, bookings, NoticeBoard(kv, clock), SurveyBox(kv))
