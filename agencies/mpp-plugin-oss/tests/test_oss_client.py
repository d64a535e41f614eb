"""The client against the sandbox on a real socket: OSS-RBA's records in the contract's terms, its refusals as
contract errors that say who must do what, and never a personal value in a message."""

from __future__ import annotations

from typing import Any

import pytest
from contracts import ErrorCode, HubError
from hub import CallContext

from mpp_plugin_oss import sandbox
from mpp_plugin_oss._wire import INQUERY_NIB
from mpp_plugin_oss.client import OssClient, OssSettings, _refused
from mpp_plugin_oss.contract import (
    BusinessActorType,
    BusinessScale,
    NibLookup,
    NibQuery,
    NibStatus,
    RiskLevel,
)

SOLE_PROPRIETOR = "9990000000013"
COMPANY = "9990000000021"
SUSPENDED = "9990000000039"
UNKNOWN_NIB = "9990000000999"
OWNER_NIK = "3376016503880001"
#: The sole proprietorship of a Dukcapil sandbox resident (tests/test_oss_data.py checks who).
RESIDENT_S_BUSINESS, RESIDENT_NIK = "9990000000985", "3328010107960001"
#: A well-formed NIK (Kota Tegal, born 1 January 2001) no sandbox business is registered under.
NIK_WITHOUT_BUSINESS = "3376010101010009"


def _ctx(operation: str = "business.nib_lookup") -> CallContext:
    return CallContext(operation=operation, correlation_id="test-oss")


async def _refusal(client: OssClient, query: NibLookup) -> HubError:
    with pytest.raises(HubError) as caught:
        await client.lookup(query, _ctx())
    return caught.value


async def test_a_sole_proprietor_by_nib_in_the_contract_s_terms(oss_client: OssClient) -> None:
    (business,) = (await oss_client.lookup(NibLookup(nib=SOLE_PROPRIETOR), _ctx())).businesses
    assert business.nib == SOLE_PROPRIETOR and business.business_name == "SRI CONTOH SANDBOX"
    assert business.actor_type is BusinessActorType.INDIVIDUAL and business.scale is BusinessScale.MICRO
    assert (business.legal_form.code, business.legal_form.description) == ("17", "Perseorangan")
    assert [(a.kbli, a.risk) for a in business.activities] == [
        ("56102", RiskLevel.LOW),
        ("47111", RiskLevel.MEDIUM_LOW),
    ]
    assert business.issued_on.isoformat() == "2023-02-01" and business.status is NibStatus.ACTIVE
    assert business.address.region_code == "33.76.01.1001" and business.address.rt_rw == "001/004"
    assert business.owner_name == "SRI CONTOH SANDBOX"


async def test_a_kbli_sent_as_a_number_keeps_its_leading_zero(oss_client: OssClient) -> None:
    (business,) = (await oss_client.lookup(NibLookup(nib=COMPANY), _ctx())).businesses
    assert [(a.kbli, a.risk) for a in business.activities] == [
        ("10710", RiskLevel.MEDIUM_HIGH),
        ("01111", RiskLevel.HIGH),
    ]
    assert business.status is NibStatus.PERMITTED_TO_OPERATE and business.legal_form.code == "01"


async def test_empty_fields_are_absent_not_empty_strings(oss_client: OssClient) -> None:
    (business,) = (await oss_client.lookup(NibLookup(nib=SUSPENDED), _ctx())).businesses
    assert business.status is NibStatus.SUSPENDED
    assert (business.address.rt_rw, business.address.village, business.address.postal_code) == (None, None, None)
    assert business.address.region_code == "33.76" and business.activities[0].risk is None


async def test_an_owner_s_nik_finds_their_sole_proprietorship(oss_client: OssClient) -> None:
    found = {
        nik: [b.nib for b in (await oss_client.lookup(NibLookup(owner_nik=nik), _ctx())).businesses]
        for nik in sandbox.sample_owner_niks()
    }
    assert found == {OWNER_NIK: [SOLE_PROPRIETOR], RESIDENT_NIK: [RESIDENT_S_BUSINESS]}


async def test_an_owner_with_no_business_is_an_empty_list(oss_client: OssClient) -> None:
    found = await oss_client.lookup(NibLookup(owner_nik=NIK_WITHOUT_BUSINESS), _ctx())
    assert found.businesses == []


async def test_an_unknown_nib_is_not_found_and_the_message_names_no_number(oss_client: OssClient) -> None:
    error = await _refusal(oss_client, NibLookup(nib=UNKNOWN_NIB))
    assert error.code is ErrorCode.NOT_FOUND and error.error.agency == "oss"
    assert "NIB document" in error.error.message and UNKNOWN_NIB not in error.error.message


async def test_confirm_gives_name_and_status(oss_client: OssClient) -> None:
    confirmation = await oss_client.confirm(NibQuery(nib=SUSPENDED), _ctx("business.nib_confirm"))
    assert (confirmation.business_name, confirmation.status) == ("CV CONTOH SANDBOX MAJU", NibStatus.SUSPENDED)


async def test_confirm_of_an_unknown_nib_is_not_found(oss_client: OssClient) -> None:
    with pytest.raises(HubError) as caught:
        await oss_client.confirm(NibQuery(nib=UNKNOWN_NIB), _ctx("business.nib_confirm"))
    assert caught.value.code is ErrorCode.NOT_FOUND


async def _client_with(settings: dict[str, Any], **changes: str) -> OssClient:
    return await OssClient.connect(OssSettings.model_validate({**settings, **changes}))


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"user_key": "wrong"}, "refused the hub's user_key"),
        ({"user_key": ""}, "found no user_key"),
        ({"password": "wrong"}, "username and password"),
        ({"username": "wrong"}, "username and password"),
        ({"base_url": "http://127.0.0.1:1/v1/kl/rba"}, "Cannot reach"),
    ],
)
async def test_each_refusal_is_a_contract_error_an_operator_can_act_on(
    oss_settings: dict[str, Any], changes: dict[str, str], says: str
) -> None:
    client = await _client_with(oss_settings, **changes)
    try:
        error = await _refusal(client, NibLookup(nib=SOLE_PROPRIETOR))
        health = await client.health()
    finally:
        await client.aclose()
    expected = ErrorCode.AGENCY_UNAVAILABLE if "base_url" in changes else ErrorCode.AGENCY_ERROR
    assert error.code is expected and says in error.error.message
    assert health.status.value == "down" and says in (health.detail or "")
    for secret in ("wrong", sandbox.SANDBOX_PASSWORD, sandbox.SANDBOX_USER_KEY, SOLE_PROPRIETOR):
        assert secret not in error.error.message


async def test_a_wrong_base_url_is_an_agency_error_naming_the_setting(oss_settings: dict[str, Any]) -> None:
    client = await _client_with(oss_settings, base_url=oss_settings["base_url"].removesuffix("/v1/kl/rba"))
    try:
        error = await _refusal(client, NibLookup(nib=SOLE_PROPRIETOR))
    finally:
        await client.aclose()
    assert error.code is ErrorCode.AGENCY_ERROR and "check the oss base_url" in error.error.message


async def test_health_is_up_with_the_sandbox_s_credentials(oss_client: OssClient) -> None:
    health = await oss_client.health()
    assert health.status.value == "up" and health.detail == "reachable, user_key and credentials accepted"


@pytest.mark.parametrize(
    ("kode", "expected", "says"),
    [
        (500, ErrorCode.AGENCY_UNAVAILABLE, "try again later"),
        (504, ErrorCode.AGENCY_UNAVAILABLE, "try again later"),
        (403, ErrorCode.AGENCY_ERROR, "ask OSS to grant it"),
        (405, ErrorCode.AGENCY_ERROR, "ask OSS to grant it"),
        (404, ErrorCode.AGENCY_ERROR, "check the oss base_url"),
        (400, ErrorCode.AGENCY_ERROR, "report it"),
        (None, ErrorCode.AGENCY_ERROR, "kode missing"),
    ],
)
def test_every_answer_code_of_the_pia_has_its_contract_error(kode: int | None, expected: ErrorCode, says: str) -> None:
    # OSS's own text is kept, with any NIB- or NIK-like number in it masked.
    error = _refused(INQUERY_NIB, kode, "Data 9990000000013 ditolak")
    assert error.code is expected and says in error.error.message and error.error.agency == "oss"
    assert "9990000000013" not in error.error.message and "9990*******13" in error.error.message
