"""The community satisfaction survey (Survei Kepuasan Masyarakat, SKM) and its index (Indeks Kepuasan Masyarakat,
IKM), as PermenPANRB 14/2017 defines them.

A citizen who was served rates nine elements (unsur) of the service, each on a scale of 1 to 4. The index of a
group of surveys is the mean of the nine elements' mean scores (each weighs 1/9); times 25 it is the converted
value (nilai konversi, 25-100), whose band (A-D) names the service's quality (mutu pelayanan).

A survey holds no personal data: no NIK, no name, and no free text either, since what a citizen writes in a
comment box is where names, numbers and addresses end up. It names the ticket or application it rates, which is
how one served citizen gets one survey, and that is all it says about who answered.

Exact values cross JSON as :class:`ExactValue`: the fraction itself (``"13/4"``), which is what to compute with
and compare, and a decimal for people (``"3.25"``), truncated toward zero so that the figure shown never claims
more satisfaction than was measured, and always lies in the band shown.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from contracts._applications import Channel, TrackingNumber
from contracts._base import Contract
from contracts._identity import BirthDate

__all__ = [
    "ExactFraction",
    "ExactValue",
    "IkmElement",
    "IkmFigure",
    "IkmGroup",
    "IkmGrouping",
    "IkmReport",
    "SkmAnswers",
    "SkmBand",
    "SkmElement",
    "SkmScore",
    "SurveyRecord",
    "SurveyRequest",
]


class SkmElement(StrEnum):
    """The nine elements (unsur) of the survey, U1-U9, in the regulation's order; ``label`` is its Indonesian name."""

    U1 = "U1"
    U2 = "U2"
    U3 = "U3"
    U4 = "U4"
    U5 = "U5"
    U6 = "U6"
    U7 = "U7"
    U8 = "U8"
    U9 = "U9"

    @property
    def label(self) -> str:
        """The element's name as the regulation gives it, e.g. ``Persyaratan``."""
        return _LABELS[self]


_LABELS = {
    SkmElement.U1: "Persyaratan",
    SkmElement.U2: "Sistem, mekanisme, dan prosedur",
    SkmElement.U3: "Waktu penyelesaian",
    SkmElement.U4: "Biaya/tarif",
    SkmElement.U5: "Produk spesifikasi jenis pelayanan",
    SkmElement.U6: "Kompetensi pelaksana",
    SkmElement.U7: "Perilaku pelaksana",
    SkmElement.U8: "Penanganan pengaduan, saran, dan masukan",
    SkmElement.U9: "Sarana dan prasarana",
}
_ELEMENTS = [element.value for element in SkmElement]


class SkmBand(StrEnum):
    """The quality band (mutu pelayanan) of a converted value; ``mutu`` is what it says (kinerja unit pelayanan)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"

    @property
    def mutu(self) -> str:
        """``Sangat Baik``, ``Baik``, ``Kurang Baik`` or ``Tidak Baik``."""
        return _MUTU[self]


_MUTU = {SkmBand.A: "Sangat Baik", SkmBand.B: "Baik", SkmBand.C: "Kurang Baik", SkmBand.D: "Tidak Baik"}


def _check_score(score: int) -> int:
    if not 1 <= score <= 4:
        raise PydanticCustomError(
            "skm_score", "a score is 1, 2, 3 or 4 (1 tidak sesuai, 2 kurang sesuai, 3 sesuai, 4 sangat sesuai)"
        )
    return score


def _no_text_or_truth(value: object) -> object:
    # JSON Schema's integer takes 4.0 as well as 4, so pydantic's lax int stays; text and booleans do not pass.
    if isinstance(value, bool | str):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


#: One element's score: 1 (tidak sesuai, the worst) to 4 (sangat sesuai, the best); a whole number, never text.
SkmScore = Annotated[
    int,
    BeforeValidator(_no_text_or_truth),
    AfterValidator(_check_score),
    Field(json_schema_extra={"minimum": 1, "maximum": 4}),
]


def _check_elements(value: object) -> object:
    """Name what is wrong with the set of elements before pydantic reads each score (it reads types, not sets)."""
    if not isinstance(value, dict):
        return value  # pydantic refuses it as "not a dictionary"
    unknown = sorted(str(key) for key in value if key not in _ELEMENTS)
    if unknown:
        raise PydanticCustomError(
            "skm_unknown_element",
            "answers has {unknown}, which is not an element of the survey: the elements are U1 to U9",
            {"unknown": ", ".join(unknown)},
        )
    missing = [element for element in _ELEMENTS if element not in value]
    if missing:
        raise PydanticCustomError(
            "skm_missing_element",
            "answers must score all nine elements U1 to U9; missing: {missing}",
            {"missing": ", ".join(missing)},
        )
    return value


#: A survey's answers: every one of the nine elements, each with its score 1-4 (``{"U1": 4, ..., "U9": 3}``).
SkmAnswers = Annotated[
    dict[SkmElement, SkmScore],
    BeforeValidator(_check_elements),
    Field(
        examples=[{"U1": 4, "U2": 3, "U3": 3, "U4": 4, "U5": 3, "U6": 4, "U7": 4, "U8": 3, "U9": 2}],
        json_schema_extra={"required": _ELEMENTS, "minProperties": 9, "maxProperties": 9},
    ),
]

_WIB = ZoneInfo("Asia/Jakarta")  # as hub._time.WIB: the contract cannot import the hub
_TICKET_ID = r"^[0-9]{8}-[A-Z]{1,2}[0-9]{3,}$"  # the queue's ticket id, in ASCII digits only: it becomes a key
_FRACTION = re.compile(r"(0|[1-9][0-9]*)(/[1-9][0-9]*)?")


def _parse_fraction(value: object) -> Fraction:
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Fraction(value)
    if isinstance(value, str) and _FRACTION.fullmatch(value):
        return Fraction(value)
    raise PydanticCustomError(
        "exact_fraction", "an exact value is written as a fraction in lowest terms, such as 13/4, or a whole number"
    )


#: A non-negative exact fraction, written in JSON as ``"13/4"`` (or ``"3"`` when whole): never a float.
ExactFraction = Annotated[
    Fraction,
    PlainValidator(_parse_fraction),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": f"^{_FRACTION.pattern}$", "examples": ["13/4"]}),
]


def _truncated(value: Fraction, places: int) -> str:
    """``value`` cut (toward zero) to ``places`` decimals, as text: ``_truncated(Fraction(2, 3), 2) == "0.66"``."""
    scaled = abs(value.numerator) * 10**places // value.denominator
    return str(Decimal(-scaled if value < 0 else scaled).scaleb(-places))


class ExactValue(Contract):
    """An exact figure and the same figure for people. Compute and compare with ``exact``; show ``decimal``."""

    exact: ExactFraction = Field(description="The exact value, a fraction in lowest terms such as 13/4.")
    decimal: str = Field(
        pattern=r"^[0-9]+(\.[0-9]+)?$",
        examples=["3.25"],
        description="The value truncated (toward zero) to a fixed number of decimals, for people only.",
    )

    @classmethod
    def of(cls, value: Fraction, places: int) -> ExactValue:
        """``value`` with its decimal to ``places`` places."""
        return cls(exact=value, decimal=_truncated(value, places))

    @model_validator(mode="after")
    def _decimal_is_the_exact_value(self) -> Self:
        places = len(self.decimal.partition(".")[2])
        if _truncated(self.exact, places) != self.decimal:
            raise PydanticCustomError("exact_decimal", "decimal must be exact truncated to its number of places")
        return self


class SurveyRequest(Contract):
    """What a citizen sends after being served: the nine scores, the ticket or the application they rate, and
    the proof that it is theirs (the code on the ticket slip, or the applicant's birth date).

    Nothing else, on purpose: no NIK, no name, and no free-text comment (free text is where a citizen writes
    names, phone numbers and addresses, which a survey has no use for). The birth date only checks the
    application and is not kept."""

    answers: SkmAnswers = Field(description="A score 1-4 for each of the nine elements U1-U9, all of them.")
    ticket_id: str | None = Field(
        default=None,
        pattern=_TICKET_ID,
        examples=["20261202-C007"],
        description="The queue ticket of the visit rated (on the ticket slip), with its code; or give tracking_no.",
    )
    code: str | None = Field(
        default=None, pattern=r"^[A-Za-z2-7]{8}$", examples=["K7QX2MPA"], description="The ticket's code (on the slip)."
    )
    tracking_no: TrackingNumber | None = Field(
        default=None, description="The application rated, by its tracking number, with birth_date; or give ticket_id."
    )
    birth_date: BirthDate | None = Field(default=None, description="The applicant's date of birth, personal data.")

    @model_validator(mode="after")
    def _exactly_one_subject(self) -> Self:
        if (self.ticket_id is None) == (self.tracking_no is None):
            raise PydanticCustomError(
                "one_subject", "give exactly one of ticket_id or tracking_no: the visit or the application rated"
            )
        if self.ticket_id is not None and self.code is None:
            raise PydanticCustomError("ticket_code", "give the ticket's code with ticket_id (it is on the ticket slip)")
        if self.tracking_no is not None and self.birth_date is None:
            raise PydanticCustomError("birth_date", "give the applicant's birth_date with tracking_no")
        return self

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # The same rule as _exactly_one_subject, in the schema: one subject with its proof, given and not null.
        schema = handler.resolve_ref_schema(handler(core_schema))
        subjects = {("ticket_id", "code"): "tracking_no", ("tracking_no", "birth_date"): "ticket_id"}
        schema["oneOf"] = [
            {
                "required": list(keys),
                "properties": {**{key: {"not": {"type": "null"}} for key in keys}, other: {"type": "null"}},
            }
            for keys, other in subjects.items()
        ]
        return schema


class SurveyRecord(Contract):
    """A survey as the hub keeps it: what was rated, where and when, and the scores. Never who answered.

    It names the ticket, the application, or both (a ticket that led to an application): the hub keeps one
    survey for each, so a visit is rated once whichever number the citizen gives."""

    id: str = Field(pattern=r"^[0-9a-f]{32}$", description="The survey's own id.")
    ticket_id: str | None = Field(default=None, pattern=_TICKET_ID, description="The ticket rated, if any.")
    tracking_no: TrackingNumber | None = Field(default=None, description="The application rated, if any.")
    service: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$", description="The service rated, by its code.")
    agency: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="The agency that served, by its code.")
    desk: str | None = Field(default=None, max_length=64, description="The desk that served, when a desk did.")
    channel: Channel = Field(description="Where the citizen was served: desk, portal, kiosk or mobile van.")
    day: dt.date = Field(description="The day the survey was given, in WIB: the period it counts for.")
    submitted_at: dt.datetime = Field(description="When the survey was given.")
    answers: SkmAnswers = Field(description="The nine elements' scores.")

    @model_validator(mode="after")
    def _names_what_it_rates(self) -> Self:
        if self.ticket_id is None and self.tracking_no is None:
            raise PydanticCustomError("no_subject", "a survey names the ticket or the application it rates")
        if self.submitted_at.tzinfo is None:
            raise PydanticCustomError("submitted_at_zone", "submitted_at needs a time zone (the hub writes UTC)")
        if self.submitted_at.astimezone(_WIB).date() != self.day:
            # The day is what a survey is counted and kept under: it must be the one it was given on.
            raise PydanticCustomError("survey_day", "day must be the WIB date of submitted_at")
        return self


class IkmElement(Contract):
    """One element over a group: its scores' total, its mean (NRR) and its weighted mean, exactly."""

    element: SkmElement
    label: str = Field(description="The element's Indonesian name.")
    total: int = Field(ge=0, description="The sum of the element's scores.")
    nrr: ExactValue = Field(description="Nilai rata-rata: total / respondents (1-4); decimal to 2 places.")
    weighted: ExactValue = Field(description="NRR tertimbang: NRR x 1/9; decimal to 4 places.")
    converted: ExactValue = Field(description="NRR x 25 (25-100), the element's own converted value; 2 places.")
    band: SkmBand = Field(description="The band of the element's converted value.")


class IkmFigure(Contract):
    """The index over a group of surveys (at least one): per element, and over all nine."""

    respondents: int = Field(ge=1, description="How many surveys the group has.")
    elements: list[IkmElement] = Field(description="The nine elements, U1 to U9.")
    ikm: ExactValue = Field(description="IKM: the sum of the weighted NRRs (1-4); decimal to 4 places.")
    converted: ExactValue = Field(description="IKM x 25 (nilai konversi, 25-100); decimal to 2 places.")
    band: SkmBand = Field(description="Mutu pelayanan: A 88.31-100, B 76.61-88.30, C 65.00-76.60, D 25.00-64.99.")
    mutu: str = Field(description="The band's words (kinerja unit pelayanan): Sangat Baik, Baik, ...")


class IkmGrouping(StrEnum):
    """What an index report groups surveys by."""

    ALL = "all"  # one group of every survey
    SERVICE = "service"
    AGENCY = "agency"
    DESK = "desk"  # surveys of no desk (portal, kiosk without a desk) are left out
    CHANNEL = "channel"
    DAY = "day"  # 2026-12-03 (WIB)
    WEEK = "week"  # ISO week: 2026-W49
    MONTH = "month"  # 2026-12


class IkmGroup(Contract):
    """One group of a report and its index."""

    key: str = Field(examples=["samsat"], description="The group: a service, agency, desk, channel or period.")
    figure: IkmFigure


class IkmReport(Contract):
    """The index of each group of surveys; a group with no survey has no index, so it is not listed."""

    grouped_by: IkmGrouping
    groups: list[IkmGroup] = Field(description="One per group that has surveys, ordered by key.")
