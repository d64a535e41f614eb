"""The client against the sandbox over a real socket: the open bills in the contract's terms, and every
refusal as the contract error a person can act on."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from contracts import ErrorCode, HealthStatus, HubError
from hub import CallContext

from mpp_plugin_pdam import sandbox
from mpp_plugin_pdam.client import PdamClient, PdamSettings
from mpp_plugin_pdam.contract import WaterBillQuery, WaterBills


def _settings(base_url: str, **overrides: Any) -> PdamSettings:
    values = {"base_url": base_url, "service_path": sandbox.SERVICE_PATH, "api_key": sandbox.SANDBOX_API_KEY}
    return PdamSettings.model_validate({**values, **overrides})


@pytest.fixture
async def client(pdam_sandbox: str) -> AsyncIterator[PdamClient]:
    connector = await PdamClient.connect(_settings(pdam_sandbox))
    try:
        yield connector
    finally:
        await connector.aclose()


async def _bill(client: PdamClient, number: str) -> WaterBills:
    return await client.bill(WaterBillQuery(customer_number=number), CallContext("water.bill", "test-correlation"))


async def _refusal(client: PdamClient, number: str) -> HubError:
    with pytest.raises(HubError) as caught:
        await _bill(client, number)
    assert number not in str(caught.value)  # no personal data in any message
    assert caught.value.error.agency == "pdam"
    return caught.value


async def test_the_open_bills_come_oldest_first_with_the_penalty_apart(client: PdamClient) -> None:
    bills = await _bill(client, "9900000101")
    assert (bills.customer_number, bills.customer_name, bills.tariff_class) == ("9900000101", "WARGA CONTOH SATU", "R2")
    assert [bill.period for bill in bills.bills] == ["2026-09", "2026-10"]  # August is paid
    september = bills.bills[0]
    assert (september.meter_start, september.meter_end, september.usage_m3) == (1218, 1239, 21)
    assert (september.amount, september.penalty, september.total) == (Decimal(38300), Decimal(10000), Decimal(48300))
    assert september.due_date == dt.date(2026, 9, 20)
    assert bills.total_due == Decimal(48300) + Decimal(30000)


async def test_amounts_are_decimal_rupiah_with_sen(client: PdamClient) -> None:
    bills = await _bill(client, "9900000303")
    assert bills.model_dump(mode="json")["bills"][0]["amount"] == "73400.00"
    assert all(isinstance(bill.total, Decimal) for bill in bills.bills)


async def test_a_paid_up_customer_has_no_open_bill_and_owes_nothing(client: PdamClient) -> None:
    bills = await _bill(client, "9900000202")
    assert bills.bills == [] and bills.total_due == Decimal(0)
    assert bills.customer_name == "WARGA CONTOH DUA"


async def test_no_due_day_leaves_the_due_date_out(pdam_sandbox: str) -> None:
    connector = PdamClient(_settings(pdam_sandbox, due_day=None))
    try:
        bills = await _bill(connector, "9900000303")
    finally:
        await connector.aclose()
    assert [bill.due_date for bill in bills.bills] == [None]


async def test_an_unknown_customer_is_not_found(client: PdamClient) -> None:
    error = await _refusal(client, "9900009999")
    assert error.code is ErrorCode.NOT_FOUND
    assert "check it against the water bill" in error.error.message


async def test_a_number_the_pdam_cannot_read_is_invalid_input_saying_how_long_it_was(client: PdamClient) -> None:
    error = await _refusal(client, "123456")  # the contract takes 6-12 digits; this PDAM's are 10
    assert error.code is ErrorCode.INVALID_INPUT
    assert "6 digits" in error.error.message


async def test_a_wrong_key_is_agency_error_naming_the_setting(pdam_sandbox: str) -> None:
    connector = PdamClient(_settings(pdam_sandbox, api_key="not-the-key"))
    try:
        error = await _refusal(connector, "9900000101")
    finally:
        await connector.aclose()
    assert error.code is ErrorCode.AGENCY_ERROR
    assert "MPP_HUB_PLUGINS__PDAM__API_KEY" in error.error.message
    assert "not-the-key" not in error.error.message


async def test_a_wrong_service_path_is_agency_error_naming_the_settings(pdam_sandbox: str) -> None:
    connector = PdamClient(_settings(pdam_sandbox, service_path="/wbServicesWithCmp"))
    try:
        error = await _refusal(connector, "9900000101")
    finally:
        await connector.aclose()
    assert error.code is ErrorCode.AGENCY_ERROR
    assert "service_path" in error.error.message


async def test_health_is_up_and_reads_no_one(client: PdamClient) -> None:
    health = await client.health()
    assert health.status is HealthStatus.UP, health


async def test_health_is_down_with_a_wrong_key(pdam_sandbox: str) -> None:
    connector = PdamClient(_settings(pdam_sandbox, api_key="not-the-key"))
    try:
        health = await connector.health()
    finally:
        await connector.aclose()
    assert health.status is not HealthStatus.UP
    assert "MPP_HUB_PLUGINS__PDAM__API_KEY" in health.detail
