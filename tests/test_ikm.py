"""The satisfaction index (IKM) of PermenPANRB 14/2017, exactly: a survey worked by hand, the band thresholds hit
exactly, what float arithmetic would have got wrong, grouping, and the surveys the contract refuses."""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import (
    Channel,
    ErrorCode,
    ExactValue,
    HubError,
    IkmFigure,
    IkmGrouping,
    IkmReport,
    SkmBand,
    SkmElement,
    SurveyRecord,
    SurveyRequest,
)
from hub._ikm import BAND_FLOORS, WEIGHT, band_of, group_by, ikm_by, ikm_of, ikm_report, iso_week
from hub._time import WIB

U = list(SkmElement)


def _answers(*scores: int) -> dict[SkmElement, int]:
    assert len(scores) == 9
    return dict(zip(U, scores, strict=True))


# Ten respondents (rows) scoring U1..U9 (columns).
#                   U1 U2 U3 U4 U5 U6 U7 U8 U9
GOLDEN = [
    _answers(4, 3, 2, 4, 3, 3, 4, 2, 3),  # R1
    _answers(4, 3, 3, 4, 3, 4, 4, 2, 3),  # R2
    _answers(3, 3, 3, 4, 4, 3, 4, 3, 3),  # R3
    _answers(3, 4, 3, 4, 3, 4, 4, 2, 3),  # R4
    _answers(4, 3, 2, 4, 3, 3, 3, 3, 3),  # R5
    _answers(3, 3, 3, 4, 4, 4, 4, 2, 3),  # R6
    _answers(4, 3, 3, 4, 3, 3, 4, 2, 3),  # R7
    _answers(4, 4, 3, 4, 3, 4, 4, 3, 3),  # R8
    _answers(3, 3, 3, 4, 3, 3, 4, 2, 3),  # R9
    _answers(4, 3, 3, 4, 3, 4, 4, 2, 2),  # R10
]


def test_a_survey_worked_by_hand() -> None:
    """Worked by hand, n = 10:

    ======= ===== ================= ============================ ================ ====
    element total NRR = total / 10  NRR tertimbang = NRR x 1/9    NRR x 25         band
    ======= ===== ================= ============================ ================ ====
    U1      36    18/5  = 3.6       2/5    = 0.4                 90               A
    U2      32    16/5  = 3.2       16/45  = 0.3555...           80               B
    U3      28    14/5  = 2.8       14/45  = 0.3111...           70               C
    U4      40    4                 4/9    = 0.4444...           100              A
    U5      32    16/5  = 3.2       16/45                        80               B
    U6      35    7/2   = 3.5       7/18   = 0.3888...           87.5             B
    U7      39    39/10 = 3.9       13/30  = 0.4333...           97.5             A
    U8      23    23/10 = 2.3       23/90  = 0.2555...           57.5             D
    U9      29    29/10 = 2.9       29/90  = 0.3222...           72.5             C
    ======= ===== ================= ============================ ================ ====

    The totals add up to 294, so IKM = 294 / (10 x 9) = 49/15 = 3.2666..., converted 49/15 x 25 = 245/3 =
    81.666..., band B (76.61 <= 81.67 < 88.31): Baik. Shown truncated: IKM 3.2666, converted 81.66.
    """
    figure = ikm_of(GOLDEN)
    assert figure is not None
    assert figure.respondents == 10
    totals = [36, 32, 28, 40, 32, 35, 39, 23, 29]
    nrr = [Fraction(18, 5), Fraction(16, 5), Fraction(14, 5), Fraction(4), Fraction(16, 5), Fraction(7, 2),
           Fraction(39, 10), Fraction(23, 10), Fraction(29, 10)]  # fmt: skip
    weighted = [Fraction(2, 5), Fraction(16, 45), Fraction(14, 45), Fraction(4, 9), Fraction(16, 45), Fraction(7, 18),
                Fraction(13, 30), Fraction(23, 90), Fraction(29, 90)]  # fmt: skip
    bands = [SkmBand.A, SkmBand.B, SkmBand.C, SkmBand.A, SkmBand.B, SkmBand.B, SkmBand.A, SkmBand.D, SkmBand.C]
    assert [e.element for e in figure.elements] == U
    assert [e.total for e in figure.elements] == totals
    assert [e.nrr.exact for e in figure.elements] == nrr
    assert [e.weighted.exact for e in figure.elements] == weighted
    assert [e.converted.exact for e in figure.elements] == [n * 25 for n in nrr]
    assert [e.band for e in figure.elements] == bands
    assert figure.ikm.exact == Fraction(49, 15) == sum(weighted)
    assert figure.converted.exact == Fraction(245, 3)
    assert (figure.band, figure.mutu) == (SkmBand.B, "Baik")
    assert (figure.ikm.decimal, figure.converted.decimal) == ("3.2666", "81.66")
    assert [e.nrr.decimal for e in figure.elements][:3] == ["3.60", "3.20", "2.80"]
    assert figure.elements[1].weighted.decimal == "0.3555"  # truncated, not rounded up to 0.3556
    assert figure.elements[7].label == "Penanganan pengaduan, saran, dan masukan"


def test_the_exact_figure_survives_json() -> None:
    """Fractions cross JSON as "245/3" next to a decimal for people, and come back as the same fractions."""
    figure = ikm_of(GOLDEN)
    assert figure is not None
    document = json.loads(figure.model_dump_json())
    assert document["converted"] == {"exact": "245/3", "decimal": "81.66"}
    assert document["ikm"] == {"exact": "49/15", "decimal": "3.2666"}
    assert document["elements"][3]["nrr"] == {"exact": "4", "decimal": "4.00"}
    assert IkmFigure.model_validate_json(figure.model_dump_json()) == figure


@pytest.mark.parametrize(
    "body",
    [
        {"exact": "245/3", "decimal": "81.67"},  # rounded: the decimal is the exact value truncated
        {"exact": "81.66", "decimal": "81.66"},  # a decimal is not an exact value
        {"exact": 81.66, "decimal": "81.66"},  # nor a float
        {"exact": "-1/3", "decimal": "0.33"},
    ],
)
def test_an_exact_value_that_does_not_add_up_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ExactValue.model_validate(body)


def _uniform(fours: int, threes: int) -> list[dict[SkmElement, int]]:
    """``fours`` respondents scoring 4 on every element and ``threes`` scoring 3 on every one."""
    return [_answers(*[4] * 9)] * fours + [_answers(*[3] * 9)] * threes


def test_exactly_on_the_threshold_of_a() -> None:
    """2500 respondents, 1331 scoring 4 everywhere and 1169 scoring 3: each element totals 4 x 1331 + 3 x 1169 =
    8831, NRR 8831/2500 = 3.5324, IKM 9 x 3.5324/9 = 3.5324, converted 88.31 exactly: A (Sangat Baik)."""
    figure = ikm_of(_uniform(1331, 1169))
    assert figure is not None
    assert figure.converted.exact == Fraction("88.31") and figure.converted.decimal == "88.31"
    assert figure.ikm.exact == Fraction("3.5324")  # the regulation's IKM-scale bound is exactly 88.31 / 25
    assert figure.band is SkmBand.A and figure.mutu == "Sangat Baik"


def test_exactly_on_the_top_of_b() -> None:
    """250 respondents, 133 scoring 4 and 117 scoring 3: each element 883, NRR 883/250 = 3.532, converted 88.30:
    B (Baik)."""
    figure = ikm_of(_uniform(133, 117))
    assert figure is not None
    assert figure.converted.exact == Fraction("88.30")
    assert figure.band is SkmBand.B


@pytest.mark.parametrize(
    ("converted", "band"),
    [
        ("100", SkmBand.A), ("88.31", SkmBand.A), ("88.30", SkmBand.B), ("88.3099", SkmBand.B),
        ("76.61", SkmBand.B), ("76.60", SkmBand.C), ("76.605", SkmBand.C), ("65.00", SkmBand.C),
        ("64.99", SkmBand.D), ("64.999", SkmBand.D), ("25", SkmBand.D),
    ],
)  # fmt: skip
def test_bands_are_reached_at_their_lower_bound(converted: str, band: SkmBand) -> None:
    """The regulation's bands leave gaps (88.30-88.31, ...): a value in one is still the lower band."""
    assert band_of(Fraction(converted)) is band


def test_a_value_in_a_gap_is_shown_in_its_band() -> None:
    """88.305 is B; rounded it would read 88.31, the first figure of A, so the decimal is truncated: 88.30."""
    shown = ExactValue.of(Fraction("88.305"), 2)
    assert band_of(shown.exact) is SkmBand.B and shown.decimal == "88.30"
    assert band_of(Fraction(shown.decimal)) is SkmBand.B


@pytest.mark.parametrize("outside", [Fraction(0), Fraction("24.99"), Fraction("100.01")])
def test_no_band_outside_25_to_100(outside: Fraction) -> None:
    with pytest.raises(ValueError, match="25-100"):
        band_of(outside)


def test_a_band_is_never_decided_on_a_float() -> None:
    with pytest.raises(TypeError, match="Fraction"):
        band_of(88.31)  # type: ignore[arg-type]


def test_float_arithmetic_would_put_a_service_a_band_lower() -> None:
    """The same 2500 surveys that make exactly 88.31 (A): the float mean of the nine NRRs times 25 is
    88.30999999999999, which is B. And with NRR x (1/9) summed, the regulation's own formula, other answers of
    the same total (79479 points over 2500 respondents, still exactly 88.31) land below 88.31 as well."""
    surveys = _uniform(1331, 1169)
    nrr = [sum(s[e] for s in surveys) / len(surveys) for e in U]  # floats, as a spreadsheet would
    as_floats = sum(nrr) / 9 * 25
    assert as_floats == 88.30999999999999 and as_floats < 88.31
    figure = ikm_of(surveys)
    assert figure is not None and figure.band is SkmBand.A

    # The same total spread unevenly: element i has fours[i] respondents scoring 4, the rest 3.
    fours = [t - 3 * 2500 for t in (8831, 8717, 8701, 8831, 8831, 8831, 8937, 8968, 8832)]
    uneven = [_answers(*[4 if r < f else 3 for f in fours]) for r in range(2500)]
    weighted_floats = sum(sum(s[e] for s in uneven) / 2500 * (1 / 9) for e in U) * 25
    assert weighted_floats < 88.31
    figure = ikm_of(uneven)
    assert figure is not None and figure.converted.exact == Fraction("88.31") and figure.band is SkmBand.A


def test_the_weight_is_exactly_one_ninth_not_0_11() -> None:
    """Published examples write the weight as 0.11: then a service everyone scores 4 gets 4 x 9 x 0.11 x 25 = 99,
    not 100."""
    assert (WEIGHT.numerator, WEIGHT.denominator) == (1, 9)
    assert 4 * 9 * Fraction("0.11") * 25 == 99
    figure = ikm_of(_uniform(3, 0))
    assert figure is not None and figure.converted.exact == 100 and figure.band is SkmBand.A
    lowest = ikm_of([_answers(*[1] * 9)])
    assert lowest is not None and lowest.converted.exact == 25 and lowest.band is SkmBand.D


def test_an_empty_group_has_no_index() -> None:
    assert ikm_of([]) is None
    assert ikm_by([], lambda record: record.service) == {}
    assert ikm_report([], IkmGrouping.SERVICE) == IkmReport(grouped_by=IkmGrouping.SERVICE, groups=[])


@pytest.mark.parametrize(
    "survey",
    [{**_answers(*[3] * 9), SkmElement.U1: 5}, {**_answers(*[3] * 9), SkmElement.U1: True},
     {e: 3 for e in U[:8]}],
)  # fmt: skip
def test_the_computation_refuses_what_is_not_a_survey(survey: dict[SkmElement, Any]) -> None:
    """Answers that bypassed the contract are not averaged in quietly."""
    with pytest.raises(ValueError):
        ikm_of([survey])


# --- grouping ------------------------------------------------------------------------------------------------

_NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=WIB)


def _record(n: int, answers: dict[SkmElement, int], **fields: Any) -> SurveyRecord:
    at = fields.pop("at", _NOW)
    values: dict[str, Any] = {
        "id": f"{n:032x}", "ticket_id": f"20261203-C{n:03d}", "service": "samsat", "agency": "samsat",
        "desk": "loket4", "channel": Channel.DESK, "day": at.date(), "submitted_at": at, "answers": answers,
    }  # fmt: skip
    return SurveyRecord(**(values | fields))


ALL_FOUR, ALL_THREE, ALL_TWO = _answers(*[4] * 9), _answers(*[3] * 9), _answers(*[2] * 9)
RECORDS = [
    _record(1, ALL_FOUR),
    _record(2, ALL_THREE, desk="loket5"),
    _record(3, ALL_TWO, service="dukcapil", agency="dukcapil", desk="loket1", channel=Channel.MOBILE),
    _record(4, ALL_FOUR, service="vehicle-tax-renewal", desk=None, channel=Channel.PORTAL, ticket_id=None,
            tracking_no="K7Q3-9XH2-9", at=dt.datetime(2026, 11, 30, 20, 0, tzinfo=WIB)),
    _record(5, ALL_THREE, at=dt.datetime(2027, 1, 1, 0, 30, tzinfo=WIB)),
]  # fmt: skip


def _converted(report: IkmReport) -> dict[str, Fraction]:
    return {group.key: group.figure.converted.exact for group in report.groups}


def test_grouping_by_service_desk_agency_and_channel() -> None:
    assert _converted(ikm_report(RECORDS, IkmGrouping.SERVICE)) == {
        "dukcapil": 50, "samsat": Fraction(4 + 3 + 3, 3) * 25, "vehicle-tax-renewal": 100,
    }  # fmt: skip
    # The portal application has no desk: it is in no desk's group, and in every other grouping.
    assert _converted(ikm_report(RECORDS, IkmGrouping.DESK)) == {
        "loket1": 50, "loket4": Fraction(175, 2), "loket5": 75,
    }  # fmt: skip
    assert _converted(ikm_report(RECORDS, IkmGrouping.AGENCY)) == {
        "dukcapil": 50,
        "samsat": Fraction(4 + 3 + 4 + 3, 4) * 25,
    }
    assert _converted(ikm_report(RECORDS, IkmGrouping.CHANNEL)) == {
        "desk": Fraction(4 + 3 + 3, 3) * 25, "mobile": 50, "portal": 100,
    }  # fmt: skip
    assert [group.figure.respondents for group in ikm_report(RECORDS, IkmGrouping.ALL).groups] == [5]


def test_grouping_by_day_iso_week_and_month() -> None:
    assert list(group_by(RECORDS, lambda record: f"{record.day:%Y-%m}")) == ["2026-11", "2026-12", "2027-01"]
    assert _converted(ikm_report(RECORDS, IkmGrouping.MONTH)) == {
        "2026-11": 100, "2026-12": Fraction(4 + 3 + 2, 3) * 25, "2027-01": 75,
    }  # fmt: skip
    assert list(_converted(ikm_report(RECORDS, IkmGrouping.DAY))) == ["2026-11-30", "2026-12-03", "2027-01-01"]
    # 30 Nov and 3 Dec 2026 are both in ISO week 49; 1 Jan 2027 (a Friday) is in week 53 of 2026.
    assert iso_week(dt.date(2026, 11, 30)) == iso_week(dt.date(2026, 12, 3)) == "2026-W49"
    assert iso_week(dt.date(2027, 1, 1)) == "2026-W53"
    assert _converted(ikm_report(RECORDS, IkmGrouping.WEEK)) == {
        "2026-W49": Fraction(4 + 3 + 2 + 4, 4) * 25,
        "2026-W53": 75,
    }


def test_a_report_survives_json() -> None:
    report = ikm_report(RECORDS, IkmGrouping.DESK)
    assert IkmReport.model_validate_json(report.model_dump_json()) == report
    assert json.loads(report.model_dump_json())["groups"][1]["figure"]["converted"] == {
        "exact": "175/2",
        "decimal": "87.50",
    }


def test_the_band_floors_are_the_regulations() -> None:
    assert [(band, str(floor)) for band, floor in BAND_FLOORS] == [
        (SkmBand.A, "8831/100"), (SkmBand.B, "7661/100"), (SkmBand.C, "65"), (SkmBand.D, "25"),
    ]  # fmt: skip
    assert [band.mutu for band in SkmBand] == ["Sangat Baik", "Baik", "Kurang Baik", "Tidak Baik"]


# --- what a citizen may send -------------------------------------------------------------------------------

_FULL = {element.value: 3 for element in SkmElement}


def _request(**body: Any) -> SurveyRequest:
    try:
        return SurveyRequest.model_validate(body)
    except ValidationError as exc:
        raise HubError.from_validation(exc, "survey") from None


def test_a_survey_of_a_ticket_or_of_an_application() -> None:
    by_ticket = _request(answers=_FULL, ticket_id="20261203-C007", code="K7QX2MPA")
    assert by_ticket.answers == dict.fromkeys(SkmElement, 3) and by_ticket.tracking_no is None
    by_application = _request(answers=_FULL, tracking_no="k7q3 9xh2 9", birth_date="1990-05-05")
    assert by_application.tracking_no == "K7Q3-9XH2-9"  # normalised as everywhere else
    assert SurveyRequest.model_validate_json(by_ticket.model_dump_json()) == by_ticket


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            {"answers": {**_FULL, "U4": 0}, "ticket_id": "20261203-C007", "code": "K7QX2MPA"},
            "answers.U4: a score is 1, 2, 3 or 4",
        ),
        (
            {"answers": {**_FULL, "U4": 5}, "ticket_id": "20261203-C007", "code": "K7QX2MPA"},
            "answers.U4: a score is 1, 2, 3 or 4",
        ),
        (
            {"answers": {**_FULL, "U4": "4"}, "ticket_id": "20261203-C007", "code": "K7QX2MPA"},
            "answers.U4: Input should be a valid int",
        ),
        (
            {"answers": {**_FULL, "U4": 3.5}, "ticket_id": "20261203-C007", "code": "K7QX2MPA"},
            "answers.U4: Input should be a valid int",
        ),
        (
            {"answers": {**_FULL, "U4": True}, "ticket_id": "20261203-C007", "code": "K7QX2MPA"},
            "answers.U4: Input should be a valid int",
        ),
        (
            {
                "answers": {k: v for k, v in _FULL.items() if k != "U7"},
                "ticket_id": "20261203-C007",
                "code": "K7QX2MPA",
            },
            "missing: U7",
        ),
        (
            {"answers": {**_FULL, "U10": 4}, "ticket_id": "20261203-C007", "code": "K7QX2MPA"},
            "U10, which is not an element",
        ),
        ({"answers": _FULL}, "give exactly one of ticket_id or tracking_no"),
        (
            {"answers": _FULL, "ticket_id": "20261203-C007", "code": "K7QX2MPA", "tracking_no": "K7Q3-9XH2-9"},
            "exactly one of",
        ),
        ({"answers": _FULL, "ticket_id": "C-007"}, "ticket_id: String should match pattern"),
        ({"answers": _FULL, "ticket_id": "20261203-C007"}, "give the ticket's code with ticket_id"),
        ({"answers": _FULL, "tracking_no": "K7Q3-9XH2-9"}, "give the applicant's birth_date with tracking_no"),
        ({"answers": _FULL, "ticket_id": "٢٠٢٦١٢٠٣-C007"}, "ticket_id: String should match pattern"),  # not ASCII
        ({"answers": _FULL, "tracking_no": "K7Q3-9XH2-8"}, "tracking number does not add up"),
        (
            {"answers": _FULL, "ticket_id": "20261203-C007", "code": "K7QX2MPA", "nik": "3328104505900001"},
            "nik: is not a known field",
        ),
        (
            {"answers": _FULL, "ticket_id": "20261203-C007", "code": "K7QX2MPA", "comment": "Pak Budi"},
            "comment: is not a known field",
        ),
    ],
)
def test_what_is_not_a_survey_is_refused_with_a_reason(body: dict[str, Any], says: str) -> None:
    with pytest.raises(HubError) as refused:
        _request(**body)
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert says in refused.value.error.message
    assert "3328104505900001" not in refused.value.error.message and "Budi" not in refused.value.error.message


def test_the_schema_says_what_the_model_does() -> None:
    """A portal building the form from the schema learns the nine elements, the scale and the one subject."""
    schema = SurveyRequest.model_json_schema()
    answers = schema["properties"]["answers"]
    assert answers["required"] == [e.value for e in SkmElement]
    assert answers["additionalProperties"] == {"type": "integer", "minimum": 1, "maximum": 4}
    assert [option["required"] for option in schema["oneOf"]] == [["ticket_id", "code"], ["tracking_no", "birth_date"]]
    assert schema["additionalProperties"] is False


def test_a_stored_survey_names_what_it_rates() -> None:
    with pytest.raises(ValidationError, match="names the ticket or the application"):
        _record(9, ALL_FOUR, ticket_id=None)
    assert "nik" not in SurveyRecord.model_fields and "name" not in SurveyRecord.model_fields


def test_a_stored_survey_counts_for_the_wib_day_it_was_given() -> None:
    late = dt.datetime(2026, 12, 3, 17, 30, tzinfo=dt.UTC)  # 00:30 WIB on the 4th
    assert _record(9, ALL_FOUR, at=late, day=dt.date(2026, 12, 4)).day == dt.date(2026, 12, 4)
    with pytest.raises(ValidationError, match="WIB date of submitted_at"):
        _record(9, ALL_FOUR, at=late, day=dt.date(2026, 12, 3))  # its UTC date
    with pytest.raises(ValidationError, match="time zone"):
        _record(9, ALL_FOUR, at=dt.datetime(2026, 12, 3, 9, 0))
