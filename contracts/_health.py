"""Health-insurance coverage (BPJS Kesehatan, the national health insurance)."""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from contracts._base import Contract
from contracts._identity import BirthDate, FullName, Sex
from contracts._values import NIK, BpjsCardNumber, check_plausible

__all__ = ["Coverage", "CoverageQuery", "PrimaryCareFacility"]


class CoverageQuery(Contract):
    """Coverage of one participant, by NIK or by card number (exactly one of them)."""

    nik: NIK | None = None
    card_number: BpjsCardNumber | None = None
    service_date: dt.date | None = Field(
        default=None, description="The day care would be given (default: today); coverage is judged for it."
    )

    @model_validator(mode="after")
    def _exactly_one_key(self) -> Self:
        if (self.nik is None) == (self.card_number is None):
            raise PydanticCustomError("one_key", "give exactly one of nik or card_number")
        if self.service_date is not None:
            check_plausible(self.service_date, "service_date")
        return self


class PrimaryCareFacility(Contract):
    """The first-level facility (FKTP: puskesmas, clinic or family doctor) the participant is registered with."""

    code: str = Field(examples=["0138U020"])
    name: str


class Coverage(Contract):
    card_number: BpjsCardNumber
    nik: NIK
    full_name: FullName
    sex: Sex
    birth_date: BirthDate
    active: bool
    status: str = Field(description="The insurer's own status text, e.g. 'AKTIF'.", examples=["AKTIF"])
    inactive_reason: str | None = Field(default=None, description="Why coverage is not active, when it is not.")
    care_class: int | None = Field(default=None, ge=1, le=3, description="Class of care (hak kelas) 1-3.")
    participant_type: str = Field(examples=["PEKERJA PENERIMA UPAH"])
    primary_care: PrimaryCareFacility
    card_printed_on: dt.date | None = None
    coverage_start: dt.date | None = Field(default=None, description="TMT: start of the current coverage.")
    coverage_end: dt.date | None = Field(default=None, description="TAT: end of coverage, if it has one.")
    checked_for: dt.date = Field(description="The service date the coverage was judged for.")
