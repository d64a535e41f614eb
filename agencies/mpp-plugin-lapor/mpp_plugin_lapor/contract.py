"""The ``complaint`` contract package: complaints about public services filed with SP4N-LAPOR!, and their status.

The core contract has no complaints, so this distribution brings its own two operations, the personal-data
categories they need (the text a citizen writes, their e-mail address, LAPOR!'s tracking id, which leads to the
complaint and through it to the reporter) and the purpose of access that covers them. The hub checks the package
like the core before serving any of it.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Self

from contracts import (
    NIK,
    Contract,
    ContractPackage,
    Mask,
    Operation,
    Personal,
    PersonalCategory,
    PersonalData,
    PurposeDeclaration,
    TrackingNumber,
)
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "COMPLAINT_EMAIL",
    "COMPLAINT_TEXT",
    "COMPLAINT_TRACKING",
    "CONTRACT",
    "PACKAGE_VERSION",
    "ComplaintFiling",
    "ComplaintReceipt",
    "ComplaintState",
    "ComplaintStatus",
    "ComplaintStatusQuery",
    "Reporter",
]

#: The package's own version (semver): its major part names the subjects, ``mpp.v1.complaint.file``.
PACKAGE_VERSION = "1.0.0"

COMPLAINT_TEXT = PersonalCategory(
    code="complaint_text",
    description="What a citizen writes in a complaint (isi laporan): free text that may name them, officials, "
    "neighbours, places and what happened to them",
)
COMPLAINT_EMAIL = PersonalCategory(
    code="email",
    description="A person's e-mail address, given so that a complaint system can reach them",
)
COMPLAINT_TRACKING = PersonalCategory(
    code="lapor_tracking",
    description="SP4N-LAPOR!'s tracking id of a complaint: it leads to the complaint, and through it to the "
    "person who filed it",
    identifies_subject=True,
)

#: LAPOR!'s tracking id: digits (seven in the public examples of 2017-2019, e.g. #1916449).
TrackingId = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{5,12}$",
        examples=["1916449"],
        description="SP4N-LAPOR!'s tracking id of the complaint (digits), as the reporter can follow it at "
        "lapor.go.id; personal data.",
    ),
    Personal(COMPLAINT_TRACKING, Mask(keep_start=2, keep_end=2)),
]
ComplaintText = Annotated[
    str,
    Field(
        min_length=20,
        max_length=4000,
        description="What happened, in the reporter's words (isi laporan): what, where, when, who was involved; "
        "20 to 4,000 characters; personal data.",
    ),
    Personal(COMPLAINT_TEXT),
]
FullName = Annotated[
    str,
    Field(min_length=1, max_length=200, description="The reporter's full name; personal data."),
    Personal(PersonalData.NAME, Mask(initials=True)),
]
Phone = Annotated[
    str,
    Field(pattern=r"^\+?[0-9]{8,15}$", description="The reporter's phone number, digits; personal data."),
    Personal(PersonalData.PHONE, Mask(keep_start=4, keep_end=2)),
]
Email = Annotated[
    str,
    Field(
        pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$",
        max_length=254,
        description="The reporter's e-mail address; personal data.",
    ),
    Personal(COMPLAINT_EMAIL, Mask(keep_start=1, keep_end=4)),
]


class ComplaintState(StrEnum):
    """Where a complaint is at SP4N-LAPOR!."""

    UNVERIFIED = "unverified"  # belum terverifikasi: received, not yet checked by LAPOR!'s administrators
    VERIFIED = "verified"  # terverifikasi: checked and dispositioned to the institution concerned
    FOLLOWED_UP = "followed_up"  # ditindaklanjuti: the institution has answered with its follow-up
    CLOSED = "closed"  # selesai: finished
    ARCHIVED = "archived"  # diarsipkan: not taken up (not a public-service matter, or outside LAPOR!'s remit)


class Reporter(Contract):
    """Who files the complaint (pelapor)."""

    nik: NIK
    full_name: FullName
    phone: Phone | None = None
    email: Email | None = None


class ComplaintFiling(Contract):
    """A complaint to file with SP4N-LAPOR!, under the hub's reference (the application's tracking number)."""

    reference: TrackingNumber = Field(
        description="The hub's reference of the complaint, its application's tracking number: LAPOR! takes a "
        "reference once, so filing it again answers the complaint already filed."
    )
    title: str = Field(min_length=5, max_length=150, description="The complaint's subject (judul laporan).")
    text: ComplaintText
    category: str = Field(
        pattern=r"^[0-9]{1,6}$",
        examples=["13"],
        description="LAPOR!'s category (topik) of the complaint, by the id LAPOR!'s topic list gives it.",
    )
    agency: str | None = Field(
        default=None,
        min_length=2,
        max_length=200,
        description="The institution (instansi) the complaint is about, as LAPOR! names it; none: LAPOR!'s "
        "administrators route it.",
    )
    concerns: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{2,39}$",
        description="The queue ticket id or application tracking number the complaint is about, if any.",
    )
    anonymous: bool = Field(
        default=False, description="Anonim: the institution is not told who the reporter is (LAPOR! is)."
    )
    confidential: bool = Field(default=False, description="Rahasia: the complaint is not published on lapor.go.id.")
    reporter: Reporter | None = Field(
        default=None, description="Who files it; required unless the complaint is anonymous."
    )

    @model_validator(mode="after")
    def _reporter_unless_anonymous(self) -> Self:
        if self.reporter is None and not self.anonymous:
            raise PydanticCustomError(
                "reporter_missing", "reporter is required unless the complaint is anonymous (anonymous=true)"
            )
        return self


class ComplaintReceipt(Contract):
    """LAPOR!'s receipt of a complaint."""

    reference: TrackingNumber = Field(description="The hub's reference the complaint was filed under.")
    tracking_id: TrackingId
    status: ComplaintState
    received_at: dt.datetime = Field(description="When LAPOR! received the complaint.")
    duplicate: bool = Field(
        default=False, description="True when LAPOR! already held a complaint under this reference (this is it)."
    )


class ComplaintStatusQuery(Contract):
    """A complaint's status, by LAPOR!'s tracking id."""

    tracking_id: TrackingId


class ComplaintStatus(Contract):
    """Where a complaint is at SP4N-LAPOR!, and when it got there."""

    tracking_id: TrackingId
    status: ComplaintState
    received_at: dt.datetime = Field(description="When LAPOR! received it.")
    verified_at: dt.datetime | None = Field(default=None, description="When it was verified, if it was.")
    followed_up_at: dt.datetime | None = Field(
        default=None, description="When the institution first followed it up, if it has."
    )
    closed_at: dt.datetime | None = Field(default=None, description="When it was closed or archived, if it was.")
    agency: str | None = Field(
        default=None, max_length=200, description="The institution it was dispositioned to, once verified."
    )


CONTRACT = ContractPackage(
    namespace="complaint",
    version=PACKAGE_VERSION,
    summary="Complaints about public services, filed with and followed at SP4N-LAPOR!.",
    operations=(
        Operation(
            name="complaint.file",
            summary="File a complaint with SP4N-LAPOR! under the hub's reference; the same reference again answers "
            "the complaint already filed, so a retried filing never makes a second one.",
            input=ComplaintFiling,
            output=ComplaintReceipt,
            idempotent=True,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
        Operation(
            name="complaint.status",
            summary="Where a complaint is at SP4N-LAPOR! (unverified, verified, followed up, closed or archived), "
            "and when it was verified, followed up and closed.",
            input=ComplaintStatusQuery,
            output=ComplaintStatus,
            idempotent=True,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
    ),
    categories=(COMPLAINT_TEXT, COMPLAINT_EMAIL, COMPLAINT_TRACKING),
    purposes={
        # The hub's default purpose of this code gains complaint.*, and keeps its description and legal basis.
        "pengaduan": PurposeDeclaration(
            description="Penanganan pengaduan pelayanan publik melalui SP4N-LAPOR!",
            legal_basis="UU 25/2009 tentang Pelayanan Publik, Pasal 36 dan 40; Perpres 76/2013 tentang Pengelolaan "
            "Pengaduan Pelayanan Publik",
            operations=("complaint.*",),
        ),
    },
)
