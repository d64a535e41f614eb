"""The business package's models: what they accept, and that every personal field is marked and masked."""

from __future__ import annotations

import datetime as dt

import pytest
from contracts import PersonalData, mask_model, personal_fields
from pydantic import ValidationError

from mpp_plugin_oss._wire import code_of
from mpp_plugin_oss.contract import (
    CONTRACT,
    NIB_CATEGORY,
    Business,
    BusinessList,
    NibConfirmation,
    NibLookup,
    NibQuery,
)

NIB = "9990000000013"
NIK = "3376016503880001"


def _business() -> Business:
    return Business.model_validate(
        {
            "nib": NIB,
            "business_name": "SRI CONTOH SANDBOX",
            "actor_type": "individual",
            "legal_form": {"code": "17", "description": "Perseorangan"},
            "activities": [{"kbli": "56102", "risk": "low"}],
            "issued_on": dt.date(2023, 2, 1),
            "status": "active",
            "address": {"street": "JL. CONTOH NO. 1", "rt_rw": "001/004", "region_code": "3376011001"},
            "owner_name": "SRI CONTOH SANDBOX",
        }
    )


@pytest.mark.parametrize("query", [{}, {"nib": NIB, "owner_nik": NIK}, {"nib": None, "owner_nik": None}])
def test_a_lookup_takes_exactly_one_of_nib_or_owner_nik(query: dict[str, str | None]) -> None:
    with pytest.raises(ValidationError, match="give exactly one of nib"):
        NibLookup.model_validate(query)


def test_the_schema_states_the_same_rule() -> None:
    assert NibLookup.model_json_schema()["oneOf"] == [
        {"required": ["nib"], "properties": {"nib": {"not": {"type": "null"}}}},
        {"required": ["owner_nik"], "properties": {"owner_nik": {"not": {"type": "null"}}}},
    ]


@pytest.mark.parametrize(
    ("nib", "says"),
    [(9990000000013, "not a number"), ("999000000001", "got 12 characters"), ("99900000000l3", "non-digits")],
)
def test_a_bad_nib_is_refused_saying_what_is_wrong(nib: object, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        NibQuery.model_validate({"nib": nib})


def test_an_owner_nik_is_checked_as_a_nik() -> None:
    with pytest.raises(ValidationError, match="NIK"):
        NibLookup.model_validate({"owner_nik": "3376013202880001"})  # 32 February


def test_every_personal_field_is_marked() -> None:
    marked = personal_fields([NibLookup, BusinessList, NibConfirmation])
    assert {key: rule.category.value for key, rule in marked.items()} == {
        "nib": "nib",
        "owner_nik": PersonalData.NIK.value,
        "business_name": PersonalData.NAME.value,
        "owner_name": PersonalData.NAME.value,
        "street": PersonalData.ADDRESS.value,
        "rt_rw": PersonalData.ADDRESS.value,
        "village": PersonalData.ADDRESS.value,
        "region_code": PersonalData.ADDRESS.value,
    }


def test_a_masked_business_shows_no_personal_value() -> None:
    masked = mask_model(BusinessList(businesses=[_business()]))["businesses"][0]
    assert masked["nib"] == "9990*******13"
    assert masked["owner_name"] == masked["business_name"] == "S** C***** S******"
    assert masked["address"]["street"] == masked["address"]["rt_rw"] == "***"
    assert masked["activities"] == [{"kbli": "56102", "description": None, "risk": "low"}]


def test_the_package_declares_the_nib_as_naming_a_subject_and_a_purpose_for_its_operations() -> None:
    assert CONTRACT.categories == (NIB_CATEGORY,) and NIB_CATEGORY.identifies_subject
    assert [op.name for op in CONTRACT.operations] == ["business.nib_lookup", "business.nib_confirm"]
    assert all(op.version == CONTRACT.version and op.personal_data for op in CONTRACT.operations)
    assert CONTRACT.purposes["layanan-perizinan"].operations == ("business.*",)


@pytest.mark.parametrize(("value", "code"), [(200, 200), ("400", 400), (" 401 ", 401), (True, None), ("4o1", None)])
def test_an_answer_code_is_read_as_a_number_or_as_digits(value: object, code: int | None) -> None:
    assert code_of(value) == code
