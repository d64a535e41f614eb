"""Applications (permohonan): one citizen's request for a service, followed across agencies.

A tracking number is read out at a desk and typed on a phone: Crockford's base-32 alphabet (no I, L, O
or U, so nothing looks alike), grouped for reading, with a Luhn mod 32 check character so that any single
mistyped character, and most swapped neighbours, are caught before anything is looked up.
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from contracts._base import Contract
from contracts._identity import BirthDate
from contracts._values import NIK, MaskedNIK

__all__ = [
    "TRACKING_NUMBER_ALPHABET",
    "TRACKING_NUMBER_FORMAT",
    "Application",
    "ApplicationEvent",
    "ApplicationLookup",
    "ApplicationRequest",
    "ApplicationStatus",
    "Channel",
    "PublicApplication",
    "StatusStep",
    "TrackingNumber",
    "new_tracking_number",
    "tracking_number_of",
]

#: The characters of a tracking number: Crockford's base 32, digits and A-Z without I, L, O and U.
TRACKING_NUMBER_ALPHABET = _ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_BODY = 8


def _check_character(body: str) -> str:
    """Luhn mod 32 over Crockford digits."""
    total, factor = 0, 2
    for char in reversed(body):
        addend = factor * _ALPHABET.index(char)
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return _ALPHABET[(32 - total % 32) % 32]


def tracking_number_of(body: str) -> str:
    """The tracking number of 8 characters of the alphabet, grouped, check character added: ``K7Q3-9XH2-9``."""
    return f"{body[:4]}-{body[4:]}-{_check_character(body)}"


def new_tracking_number(prefix: str = "") -> str:
    """A fresh random tracking number, e.g. ``K7Q3-9XH2-9`` (40 random bits); with ``prefix`` (a site's, two
    characters of the alphabet), it begins with the prefix and the rest is random (30 bits for two)."""
    if len(prefix) >= _BODY or any(char not in _ALPHABET for char in prefix):
        raise ValueError(f"a tracking number prefix is up to {_BODY - 1} characters of {_ALPHABET}")
    return tracking_number_of(prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_BODY - len(prefix))))


def _check_tracking(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("tracking_type", "tracking number must be text such as K7Q3-9XH2-9")
    text = value.strip().upper().replace("-", "").replace(" ", "").translate(_LOOKALIKES)
    if len(text) != _BODY + 1:
        raise PydanticCustomError(
            "tracking_length", "tracking number has 9 characters, written like K7Q3-9XH2-9; check the receipt"
        )
    if any(char not in _ALPHABET for char in text):
        raise PydanticCustomError(
            "tracking_characters", "tracking number uses digits and the letters A-Z except I, L, O and U"
        )
    if _check_character(text[:_BODY]) != text[_BODY]:
        raise PydanticCustomError(
            "tracking_check",
            "tracking number does not add up (its last character is a check): a character was mistyped; "
            "check the number on the receipt",
        )
    return tracking_number_of(text[:_BODY])


_CHARACTER = f"[{_ALPHABET}]"
#: The JSON Schema ``format`` of a tracking number. A regular expression cannot check the check character, so
#: the schema names this format for it; a client (or a test generator) that knows the format can keep to it.
TRACKING_NUMBER_FORMAT = "mpp-tracking-number"

#: An application's tracking number (nomor pelacakan), normalised to ``K7Q3-9XH2-9``.
TrackingNumber = Annotated[
    str,
    BeforeValidator(_check_tracking),
    Field(
        examples=["K7Q3-9XH2-9"],
        description="An application's tracking number: 8 characters of Crockford's base 32 (digits and A-Z "
        "without I, L, O, U) in two groups, then a check character: Luhn mod 32 over the 8, which is "
        "checked too (a mistyped character is refused before anything is looked up).",
        json_schema_extra={
            "pattern": f"^{_CHARACTER}{{4}}-{_CHARACTER}{{4}}-{_CHARACTER}$",
            "format": TRACKING_NUMBER_FORMAT,
            "minLength": 11,
            "maxLength": 11,
        },
    ),
]


class Channel(StrEnum):
    """Where the application came in: the four service models of an MPP."""

    DESK = "desk"  # langsung: at a service desk
    PORTAL = "portal"  # elektronik: the e-service portal
    KIOSK = "kiosk"  # mandiri: a self-service kiosk
    MOBILE = "mobile"  # bergerak: the mobile service van


class ApplicationStatus(StrEnum):
    """Where an application stands; done, rejected and expired are final."""

    PENDING_SYNC = "pending_sync"  # taken at a site while offline: kept there, processed once the hub has it
    SUBMITTED = "submitted"
    IN_PROGRESS = "in_progress"
    AWAITING_PAYMENT = "awaiting_payment"
    DONE = "done"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        """Whether nothing more happens to an application in this status."""
        return self in (ApplicationStatus.DONE, ApplicationStatus.REJECTED, ApplicationStatus.EXPIRED)


class StatusStep(Contract):
    """One entry of the history, in words a citizen understands (Indonesian)."""

    at: dt.datetime = Field(description="When this step was taken.")
    status: ApplicationStatus
    step: str = Field(description="The process step, by its code.")
    agency: str | None = Field(default=None, description="The agency the step was with, if any.")
    message: str = Field(description="What the citizen is told, in Indonesian.")


class ApplicationRequest(Contract):
    """A citizen's application for one of the mall's services, as a desk, portal, kiosk or van files it."""

    service: str = Field(
        pattern=r"^[a-z][a-z0-9-]{2,63}$",
        examples=["vehicle-tax-renewal"],
        description="The service applied for, by its code (the services this hub runs are in its catalogue).",
    )
    applicant_nik: NIK = Field(description="The applicant's NIK, personal data.")
    channel: Channel = Field(description="Where the application came in: desk, portal, kiosk or mobile van.")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="What the service needs, e.g. {'plate': 'G 1234 AB'}; each service checks its own.",
        examples=[{"plate": "G 1150 YD"}],
    )


class Application(Contract):
    """An application as a desk or portal sees it. The hub keeps the applicant's NIK only as a keyed hash (to
    find a citizen's applications) and, while the application is open, sealed for the process's own steps; so
    the application itself carries it masked. A desk that asks by NIK already has it."""

    tracking_no: TrackingNumber
    service: str = Field(description="The service applied for, by its code.")
    title: str = Field(description="The service's name, in Indonesian.")
    applicant_nik: MaskedNIK = Field(description="The applicant's NIK, masked: first 4 and last 2 digits.")
    channel: Channel
    agencies: list[str] = Field(description="Codes of the agencies the service involves.")
    status: ApplicationStatus
    step: str = Field(description="The process step the application is at.")
    details: dict[str, str] = Field(default_factory=dict, description="What the citizen needs to know, e.g. the bill.")
    history: list[StatusStep] = Field(description="Every status step so far, oldest first.")
    created_at: dt.datetime = Field(description="When the application was filed.")
    updated_at: dt.datetime = Field(description="When it last changed.")


class ApplicationEvent(Contract):
    """Event on ``mpp.events.application.<status>``: an application reached a status. Published once per status
    change. It carries ids and masked values only, never the application's personal data: the events stream is
    kept for 90 days. A portal that wants the details asks ``GET /v1/applications/{tracking_no}`` with its key."""

    tracking_no: TrackingNumber
    service: str = Field(description="The service applied for, by its code.")
    status: ApplicationStatus
    at: dt.datetime = Field(description="When the application reached this status.")
    step: str = Field(description="The process step it reached this status at.")
    agency: str | None = Field(default=None, description="The agency that step was with, if any.")
    message: str = Field(description="What the citizen was told when it reached this status, in Indonesian.")
    channel: Channel
    applicant_nik: MaskedNIK = Field(description="The applicant's NIK, masked: first 4 and last 2 digits.")

    @classmethod
    def of(cls, application: Application) -> ApplicationEvent:
        """The event of ``application``'s current status, as the history entry where that status began tells it."""
        began: StatusStep | None = None
        for entry in reversed(application.history):
            if entry.status is not application.status:
                break
            began = entry
        return cls(
            tracking_no=application.tracking_no, service=application.service, status=application.status,
            at=began.at if began else application.updated_at, step=began.step if began else application.step,
            agency=began.agency if began else None, message=began.message if began else "",
            channel=application.channel, applicant_nik=application.applicant_nik,
        )  # fmt: skip


class ApplicationLookup(Contract):
    """A citizen's own lookup: the number alone is not enough, so numbers cannot be tried one after another."""

    tracking_no: TrackingNumber
    birth_date: BirthDate = Field(description="The applicant's date of birth, personal data.")


class PublicApplication(Contract):
    """What a citizen sees of their application: no NIK, no internal state."""

    tracking_no: TrackingNumber
    service: str = Field(description="The service applied for, by its code.")
    title: str = Field(description="The service's name, in Indonesian.")
    status: ApplicationStatus
    details: dict[str, str] = Field(description="What the citizen needs to know, e.g. the bill.")
    history: list[StatusStep] = Field(description="Every status step so far, oldest first.")
    updated_at: dt.datetime = Field(description="When it last changed.")
