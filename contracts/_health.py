"""Health-insurance coverage (BPJS Kesehatan, the national health insurance)."""

from __future__ import annotations

import datetime as dt
from typing import Self

from pydantic import Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from contracts._base import Contract
from contracts._identity import BirthDate, FullName, Sex
from contracts._values import NIK, BpjsCardNumber, ThisCenturyDate, check_plausible

__all__ = ["Coverage", "CoverageQuery", "PrimaryCareFacility"]


class CoverageQuery(Contract):
    """Coverage of one participant, by NIK or by card number (exactly one of them)."""

    nik: NIK | None = Field(default=None, description="The participant's NIK, personal data; or give card_number.")
    card_number: BpjsCardNumber | None = Field(
        default=None, description="The participant's BPJS Kesehatan card number, personal data; or give nik."
    )
    service_date: ThisCenturyDate | None = Field(
        default=None,
        description="The day care would be given (default: today), in 2000-2099; coverage is judged for it.",
    )

    @model_validator(mode="after")
    def _exactly_one_key(self) -> Self:
        if (self.nik is None) == (self.card_number is None):
            raise PydanticCustomError("one_key", "give exactly one of nik or card_number")
        if self.service_date is not None:
            check_plausible(self.service_date, "service_date")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The same rule as _exactly_one_key, in the schema: one of the two keys is given and not null.
        schema = handler.resolve_ref_schema(handler(core_schema))
        schema["oneOf"] = [
            {"required": [key], "properties": {key: {"not": {"type": "null"}}}} for key in ("nik", "card_number")
        ]
        return schema


class PrimaryCareFacility(Contract):
    """The first-level facility (FKTP: puskesmas, clinic or family doctor) the participant is registered with."""

    code: str = Field(examples=["0138U020"], description="The insurer's code of the facility.")
    name: str = Field(description="The facility's name.")


class Coverage(Contract):
    """A participant's national health insurance (JKN) coverage for one service date, as BPJS Kesehatan has it."""

    card_number: BpjsCardNumber
    nik: NIK
    full_name: FullName
    sex: Sex
    birth_date: BirthDate
    active: bool = Field(description="True when the participant is covered on the date checked for.")
    status: str = Field(description="The insurer's own status text, e.g. 'AKTIF'.", examples=["AKTIF"])
    inactive_reason: str | None = Field(default=None, description="Why coverage is not active, when it is not.")
    care_class: int | None = Field(default=None, ge=1, le=3, description="Class of care (hak kelas) 1-3.")
    participant_type: str = Field(
        examples=["PEKERJA PENERIMA UPAH"], description="The participant's membership segment, in the insurer's words."
    )
    primary_care: PrimaryCareFacility
    card_printed_on: dt.date | None = Field(default=None, description="When the card was printed, if known.")
    coverage_start: dt.date | None = Field(default=None, description="TMT: start of the current coverage.")
    coverage_end: dt.date | None = Field(default=None, description="TAT: end of coverage, if it has one.")
    checked_for: dt.date = Field(description="The service date the coverage was judged for.")
