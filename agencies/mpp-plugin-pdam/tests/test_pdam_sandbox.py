"""The sandbox speaks the billing API's wire format: a form-encoded number, the key in Authorization, the
envelope with its message codes, and the customer's sheets, paid and unpaid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mpp_plugin_pdam import sandbox

_PATH = sandbox.SERVICE_PATH + "/requestTagihanUnlimited"


@pytest.fixture
async def wire(pdam_sandbox: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=pdam_sandbox) as client:
        yield client


async def _ask(client: httpx.AsyncClient, number: str, key: str = sandbox.SANDBOX_API_KEY) -> httpx.Response:
    return await client.post(_PATH, data={"nosambung": number}, headers={"Authorization": key})


def _envelope(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert isinstance(body, dict)
    return body


async def test_a_known_number_gets_its_sheets_paid_and_unpaid(wire: httpx.AsyncClient) -> None:
    response = await _ask(wire, "9900000101")
    body = _envelope(response)
    assert response.status_code == 200
    assert (body["error"], body["message_code"], body["cust_code"]) == (False, 100, "9900000101")
    sheets = body["cust_data"]
    assert [sheet["BULAN"] for sheet in sheets] == [202608, 202609, 202610]
    assert [bool(sheet["TGLBAYAR"]) for sheet in sheets] == [True, False, False]
    assert body["unpaid_sheets"] == "2"  # a string on the wire, as the public clients declare it
    assert sheets[1]["DENDA_RP"] == 10000


async def test_the_sheet_amount_adds_its_charges_and_leaves_the_penalty_out(wire: httpx.AsyncClient) -> None:
    sheet = _envelope(await _ask(wire, "9900000101"))["cust_data"][1]
    charges = ("BLOK1_RP", "BLOK2_RP", "BLOK3_RP", "BLOK4_RP", "ADM_RP", "DWM_RP", "ABONEMEN_RP", "PPN_RP")
    assert sheet["TAGIHAN_RP"] == sum(sheet[column] for column in charges)
    assert sheet["PEMAKAIANM3"] == sheet["STAND_AKHIR"] - sheet["STAND_AWAL"]


async def test_an_unknown_number_is_code_102_in_a_200(wire: httpx.AsyncClient) -> None:
    response = await _ask(wire, "9900009999")
    body = _envelope(response)
    assert response.status_code == 200
    assert (body["error"], body["message_code"]) == (True, 102)
    assert "cust_data" not in body


@pytest.mark.parametrize("number", ["123456", "99000001010", "99000O0101", ""])
async def test_a_number_that_is_not_ten_digits_is_code_400(wire: httpx.AsyncClient, number: str) -> None:
    body = _envelope(await _ask(wire, number))
    assert (body["error"], body["message_code"]) == (True, 400)


async def test_a_json_body_carries_no_form_field_and_is_refused_like_a_bad_number(wire: httpx.AsyncClient) -> None:
    response = await wire.post(
        _PATH, json={"nosambung": "9900000101"}, headers={"Authorization": sandbox.SANDBOX_API_KEY}
    )
    assert _envelope(response)["message_code"] == 400


@pytest.mark.parametrize("key", ["", "Bearer " + sandbox.SANDBOX_API_KEY, "wrong-key"])
async def test_a_wrong_or_missing_key_is_401(wire: httpx.AsyncClient, key: str) -> None:
    response = await _ask(wire, "9900000101", key)
    assert response.status_code == 401
    assert _envelope(response)["message_code"] == 401
    assert "cust_name" not in response.text
