"""The client against the sandbox over a real socket: complaints filed and read in the contract's terms, and every
LAPOR! refusal as the contract error a person can act on (never quoting the token or the complaint)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from contracts import ErrorCode, HealthStatus, HubError
from hub import CallContext
from hub._faults import with_faults
from hub.testing import serving
from starlette.applications import Starlette

from mpp_plugin_lapor import sandbox
from mpp_plugin_lapor._book import Book
from mpp_plugin_lapor.client import LaporClient, LaporSettings
from mpp_plugin_lapor.contract import ComplaintFiling, ComplaintState, ComplaintStatusQuery

TEXT = "Petugas loket meminta uang tambahan untuk mempercepat pencetakan KTP-el."
NIK = "3328010107960001"


def _filing(reference: str = "K7Q3-9XH2-9", **changes: Any) -> ComplaintFiling:
    values: dict[str, Any] = {
        "reference": reference, "title": "Pungutan di loket", "text": TEXT, "category": "21",
        "reporter": {"nik": NIK, "full_name": "WARGA CONTOH PELAPOR"},
    }  # fmt: skip
    return ComplaintFiling.model_validate(values | changes)


@pytest.fixture
async def lapor() -> AsyncIterator[tuple[str, Starlette]]:
    """The sandbox's URL and app (its book is read directly: what LAPOR! was given)."""
    app = sandbox.create_app()
    async with serving(with_faults(app)) as url:
        yield url, app


async def _client(url: str, token: str = sandbox.SANDBOX_TOKEN) -> LaporClient:
    return await LaporClient.connect(LaporSettings.model_validate({"base_url": url, "token": token}))


def _ctx(operation: str) -> CallContext:
    return CallContext(operation, "test-correlation")


async def _refused(call: Any) -> HubError:
    with pytest.raises(HubError) as caught:
        await call
    assert caught.value.error.agency == "lapor"
    for secret in (sandbox.SANDBOX_TOKEN, TEXT, NIK):
        assert secret not in str(caught.value)
    return caught.value


async def test_a_complaint_is_filed_once_and_read_back(lapor: tuple[str, Starlette]) -> None:
    url, app = lapor
    client = await _client(url)
    try:
        receipt = await client.file(_filing(), _ctx("complaint.file"))
        assert (receipt.status, receipt.duplicate, receipt.received_at.tzinfo is not None) == (
            ComplaintState.UNVERIFIED, False, True,
        )  # fmt: skip
        again = await client.file(_filing(), _ctx("complaint.file"))
        assert (again.tracking_id, again.duplicate) == (receipt.tracking_id, True)
        status = await client.status(ComplaintStatusQuery(tracking_id=receipt.tracking_id), _ctx("complaint.status"))
        assert (status.status, status.verified_at, status.agency) == (ComplaintState.UNVERIFIED, None, None)
        book: Book = app.state.book
        held = book.complaints[receipt.tracking_id]
        assert held.pelapor is not None and held.pelapor["namadepan"] == "WARGA CONTOH"
        assert held.pelapor["namabelakang"] == "PELAPOR" and held.laporan["anonim"] == 0
    finally:
        await client.aclose()


async def test_an_anonymous_complaint_without_a_reporter_sends_none(lapor: tuple[str, Starlette]) -> None:
    url, app = lapor
    client = await _client(url)
    try:
        receipt = await client.file(_filing(reporter=None, anonymous=True), _ctx("complaint.file"))
        held = app.state.book.complaints[receipt.tracking_id]
        assert held.pelapor is None and held.laporan["anonim"] == 1
    finally:
        await client.aclose()


async def test_a_wrong_token_is_an_agency_error_naming_the_setting(lapor: tuple[str, Starlette]) -> None:
    client = await _client(lapor[0], token="not-the-token")
    try:
        for call in (
            client.file(_filing(), _ctx("complaint.file")),
            client.status(ComplaintStatusQuery(tracking_id="90000001"), _ctx("complaint.status")),
        ):
            refused = await _refused(call)
            assert refused.code is ErrorCode.AGENCY_ERROR
            assert "MPP_HUB_PLUGINS__LAPOR__TOKEN" in refused.error.message
        health = await client.health()
        assert health.status is HealthStatus.DOWN and "token" in health.detail
    finally:
        await client.aclose()


async def test_unknown_ids_bad_categories_outages_and_lost_answers(lapor: tuple[str, Starlette]) -> None:
    url, app = lapor
    client = await _client(url)
    try:
        assert (await client.health()).status is HealthStatus.UP
        unknown = await _refused(client.status(ComplaintStatusQuery(tracking_id="12345"), _ctx("complaint.status")))
        assert unknown.code is ErrorCode.NOT_FOUND
        bad = await _refused(client.file(_filing(category="999999"), _ctx("complaint.file")))
        assert bad.code is ErrorCode.INVALID_INPUT and "category" in bad.error.message

        app.state.book.lose_answers = 1
        lost = await _refused(client.file(_filing("MZ5G-B8DG-Y"), _ctx("complaint.file")))
        assert lost.code is ErrorCode.AGENCY_UNAVAILABLE
        retried = await client.file(_filing("MZ5G-B8DG-Y"), _ctx("complaint.file"))
        assert retried.duplicate and app.state.book.by_reference["MZ5G-B8DG-Y"] == retried.tracking_id

        async with httpx.AsyncClient() as http:  # the sandbox serves on this loop: no blocking call
            assert (await http.put(f"{url}/_sandbox/faults", json={"outage": True})).status_code == 200
        down = await _refused(client.file(_filing("DCSM-Y0AW-R"), _ctx("complaint.file")))
        assert down.code is ErrorCode.AGENCY_UNAVAILABLE
        assert "DCSM-Y0AW-R" not in app.state.book.by_reference
    finally:
        await client.aclose()
