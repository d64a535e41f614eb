"""The community satisfaction index (IKM) of PermenPANRB 14/2017, computed exactly.

For a group of n surveys, each scoring the nine elements U1-U9 from 1 to 4:

- NRR (nilai rata-rata) of an element: the sum of its scores / n;
- NRR tertimbang: NRR x 1/9 (the nine elements weigh the same);
- IKM: the sum of the nine weighted NRRs (1-4); the converted value (nilai konversi): IKM x 25 (25-100);
- the band (mutu pelayanan) of the converted value: A from 88.31, B from 76.61, C from 65.00, D below.

Everything is a :class:`~fractions.Fraction`, never a float: the bands are decided on exact values, so a service
is not put a band lower because ``0.1 + 0.2`` is not ``0.3``. Published worked examples round as they go (NRR
to two places, the weight 1/9 as 0.11); that is fine for reading a table and wrong for deciding a band.

The regulation's bands leave gaps (64.99 to 65.00, 76.60 to 76.61, 88.30 to 88.31) that an exact value can fall
into: a band is reached at its lower bound, so 88.305 is still B. The decimal shown is truncated, not rounded
(88.305 shows as 88.30), so what people read always lies in the band they are told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction

from contracts import (
    ExactValue,
    IkmElement,
    IkmFigure,
    IkmGroup,
    IkmGrouping,
    IkmReport,
    SkmBand,
    SkmElement,
    SurveyRecord,
)

__all__ = [
    "BAND_FLOORS",
    "CONVERSION",
    "GROUP_KEYS",
    "WEIGHT",
    "GroupKey",
    "band_of",
    "group_by",
    "ikm_by",
    "ikm_of",
    "ikm_report",
    "iso_week",
]

#: The weight of each element's NRR: the nine weigh the same, 1/9 each (the regulation writes it 0.11).
WEIGHT = Fraction(1, len(SkmElement))
#: IKM (1-4) times this is the converted value (25-100).
CONVERSION = 25
#: Each band from its lower bound on the converted value, best first; D is everything from 25 up to C.
BAND_FLOORS: tuple[tuple[SkmBand, Fraction], ...] = (
    (SkmBand.A, Fraction("88.31")),
    (SkmBand.B, Fraction("76.61")),
    (SkmBand.C, Fraction("65.00")),
    (SkmBand.D, Fraction(25)),
)
_HIGHEST = Fraction(100)
# How many decimals people are shown of each figure (truncated): the regulation's tables' own precision.
_PLACES_NRR, _PLACES_WEIGHTED, _PLACES_IKM, _PLACES_CONVERTED = 2, 4, 4, 2

#: What a report groups surveys by: a record's group, or None to leave the record out of every group.
GroupKey = Callable[[SurveyRecord], str | None]


def band_of(converted: Fraction) -> SkmBand:
    """The band of an exact converted value (25-100): the best band whose lower bound it reaches."""
    if not isinstance(converted, Fraction | int) or isinstance(converted, bool):
        raise TypeError(f"a band is decided on an exact Fraction, not on {type(converted).__name__}")
    if not BAND_FLOORS[-1][1] <= converted <= _HIGHEST:
        raise ValueError(f"a converted value is 25-100, not {float(converted):g}")
    return next(band for band, floor in BAND_FLOORS if converted >= floor)


def _totals(answers: Iterable[Mapping[SkmElement, int]]) -> tuple[int, dict[SkmElement, int]]:
    """How many surveys, and each element's sum of scores; a survey that is not nine scores 1-4 is refused."""
    totals = dict.fromkeys(SkmElement, 0)
    respondents = 0
    for survey in answers:
        if set(survey) != set(SkmElement):
            raise ValueError("a survey scores exactly the nine elements U1-U9")
        for element, score in survey.items():
            if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 4:
                raise ValueError(f"{element}: a score is a whole number 1-4")
            totals[element] += score
        respondents += 1
    return respondents, totals


def _element(element: SkmElement, total: int, respondents: int) -> IkmElement:
    nrr = Fraction(total, respondents)
    return IkmElement(
        element=element, label=element.label, total=total,
        nrr=ExactValue.of(nrr, _PLACES_NRR), weighted=ExactValue.of(nrr * WEIGHT, _PLACES_WEIGHTED),
        converted=ExactValue.of(nrr * CONVERSION, _PLACES_CONVERTED), band=band_of(nrr * CONVERSION),
    )  # fmt: skip


def ikm_of(answers: Iterable[Mapping[SkmElement, int]]) -> IkmFigure | None:
    """The index over a group of surveys' answers; None for a group with none (no index, rather than zero)."""
    respondents, totals = _totals(answers)
    if respondents == 0:
        return None
    ikm = sum((Fraction(total, respondents) * WEIGHT for total in totals.values()), Fraction(0))
    converted = ikm * CONVERSION
    band = band_of(converted)
    return IkmFigure(
        respondents=respondents,
        elements=[_element(element, totals[element], respondents) for element in SkmElement],
        ikm=ExactValue.of(ikm, _PLACES_IKM), converted=ExactValue.of(converted, _PLACES_CONVERTED),
        band=band, mutu=band.mutu,
    )  # fmt: skip


def group_by(records: Iterable[SurveyRecord], key: GroupKey) -> dict[str, list[SurveyRecord]]:
    """The records of each group, groups ordered by key; a record whose key is None is in none."""
    groups: dict[str, list[SurveyRecord]] = {}
    for record in records:
        group = key(record)
        if group is not None:
            groups.setdefault(group, []).append(record)
    return dict(sorted(groups.items()))


def ikm_by(records: Iterable[SurveyRecord], key: GroupKey) -> dict[str, IkmFigure]:
    """The index of each group that has surveys (a group is listed only once a survey is in it)."""
    figures = {group: ikm_of(record.answers for record in members) for group, members in group_by(records, key).items()}
    return {group: figure for group, figure in figures.items() if figure is not None}


def iso_week(day: dt.date) -> str:
    """The ISO week a day is in, as ``2026-W49`` (weeks start on Monday; a week's year is its Thursday's)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


#: The key of each grouping a report offers.
GROUP_KEYS: Mapping[IkmGrouping, GroupKey] = {
    IkmGrouping.ALL: lambda record: "all",
    IkmGrouping.SERVICE: lambda record: record.service,
    IkmGrouping.AGENCY: lambda record: record.agency,
    IkmGrouping.DESK: lambda record: record.desk,
    IkmGrouping.CHANNEL: lambda record: record.channel.value,
    IkmGrouping.DAY: lambda record: record.day.isoformat(),
    IkmGrouping.WEEK: lambda record: iso_week(record.day),
    IkmGrouping.MONTH: lambda record: f"{record.day:%Y-%m}",
}


def ikm_report(records: Iterable[SurveyRecord], grouping: IkmGrouping) -> IkmReport:
    """The index of each group of ``records`` by ``grouping``, as the contract's report."""
    figures = ikm_by(records, GROUP_KEYS[grouping])
    return IkmReport(grouped_by=grouping, groups=[IkmGroup(key=key, figure=fig) for key, fig in figures.items()])
