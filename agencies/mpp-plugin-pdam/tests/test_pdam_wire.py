"""The translation of a customer's sheets into WaterBills: what an answer that does not fit becomes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from contracts import ErrorCode, HubError

from mpp_plugin_pdam import _data, _wire

_NUMBER = "9900000101"


def _answer(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(_data.CUSTOMERS[_NUMBER])
    body.update(changes)
    return body


def _refused(body: dict[str, Any], asked: str = _NUMBER) -> HubError:
    with pytest.raises(HubError) as caught:
        _wire.to_water_bills(body, asked, 20)
    error = caught.value
    assert error.code is ErrorCode.AGENCY_ERROR
    for personal in (_NUMBER, "WARGA CONTOH SATU", "JL. CONTOH"):
        assert personal not in error.error.message
    return error


def test_the_answer_of_another_customer_is_never_passed_on() -> None:
    error = _refused(_answer(), asked="9900000303")
    assert "another customer number" in error.error.message


def _with_sheet(index: int, **changes: Any) -> dict[str, Any]:
    body = _answer()
    body["cust_data"][index].update(changes)
    return body


@pytest.mark.parametrize(
    "body",
    [
        _with_sheet(1, BULAN="2026-09"),  # the month as text
        _with_sheet(1, BULAN=202613),  # no thirteenth month
        _with_sheet(1, TAGIHAN_RP=38300.5),  # a float: sen already lost
        _with_sheet(1, DENDA_RP="10000"),  # an amount as text
        _with_sheet(1, STAND_AWAL=-1),
        _answer(cust_data=None),
        _answer(cust_data=[1, 2]),
        _answer(cust_name=""),
    ],
    ids=["month-text", "month-13", "float", "text-amount", "negative-reading", "no-sheets", "not-sheets", "no-name"],
)
def test_a_record_that_does_not_fit_is_agency_error_without_its_content(body: dict[str, Any]) -> None:
    assert "cannot read" in _refused(body).error.message


def test_a_paid_sheet_is_left_out_whatever_its_amounts() -> None:
    bills = _wire.to_water_bills(_with_sheet(0, DENDA_RP=5000), _NUMBER, 20)
    assert [bill.period for bill in bills.bills] == ["2026-09", "2026-10"]


def test_sheets_come_oldest_first_whatever_order_the_pdam_gives() -> None:
    body = _answer()
    body["cust_data"].reverse()
    bills = _wire.to_water_bills(body, _NUMBER, None)
    assert [bill.period for bill in bills.bills] == ["2026-09", "2026-10"]
    assert {bill.due_date for bill in bills.bills} == {None}
