"""BPJS Kesehatan end to end: HubClient -> real NATS -> hub worker -> plugin -> real HTTP -> sandbox."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog

from contracts import Coverage, ErrorCode, HealthStatus, HubError
from hub import WIB, HubClient, load_plugins
from hub._bus_access import BusAccess
from hub._logging import configure_logging
from hub._runtime import Hub
from plugins.bpjs import _data, _wire, sandbox
from plugins.bpjs.plugin import _samples, _sandbox_settings
from plugins.bpjs.sandbox import SandboxConfig, create_app
from tests._servers import ThreadedServer, serving
from tests.conftest import connect_client, make_hub, sandbox_requests

#: The purpose of access these calls state: health services for JKN participants.
PURPOSE = "layanan-kesehatan"

SAMPLES = _samples()


@pytest.fixture(scope="module")
def bpjs_sandbox() -> Iterator[ThreadedServer]:
    """The default sandbox on a real socket, shared by this module."""
    with serving(create_app()) as server:
        yield server


async def _start_hub(bus: BusAccess, settings: dict[str, Any]) -> Hub:
    hub = make_hub(load_plugins(only={"bpjs"}), bus, {"bpjs": settings})
    await hub.start()
    return hub


@pytest.fixture
async def client(bus: BusAccess, bpjs_sandbox: ThreadedServer) -> AsyncIterator[HubClient]:
    """A hub serving only the bpjs plugin, pointed at the default sandbox, and a client of it."""
    hub = await _start_hub(bus, dict(_sandbox_settings(bpjs_sandbox.url)))
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            yield client
    finally:
        await hub.stop()


async def _failure(bus: BusAccess, config: SandboxConfig, settings: dict[str, Any] | None = None) -> HubError:
    """The error a coverage call gets from a hub pointed at a sandbox with ``config``."""
    with serving(create_app(config)) as server:
        hub = await _start_hub(bus, {**_sandbox_settings(server.url), **(settings or {})})
        try:
            async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
                with pytest.raises(HubError) as caught:
                    await client.call("health.coverage", {"nik": SAMPLES["nik"][0]})
                health = await client.health("bpjs")
        finally:
            await hub.stop()
    assert health.status is HealthStatus.DOWN
    return caught.value


async def test_coverage_by_nik(client: HubClient) -> None:
    """health.coverage by NIK returns that participant's coverage, translated into the contract."""
    nik = SAMPLES["nik"][0]
    known = _data.by_nik()[nik]
    coverage = await client.call("health.coverage", {"nik": nik, "service_date": "2025-06-02"})
    assert isinstance(coverage, Coverage)
    assert (coverage.nik, coverage.card_number, coverage.full_name) == (nik, known.card_number, known.name)
    assert coverage.sex.value == ("female" if known.female else "male") and coverage.birth_date == known.birth_date
    assert coverage.active and coverage.status == "AKTIF" and coverage.inactive_reason is None
    assert coverage.care_class == known.care_class and coverage.participant_type == known.segment.keterangan
    assert (coverage.primary_care.code, coverage.primary_care.name) == (known.provider.code, known.provider.name)
    assert coverage.coverage_start == known.coverage_start
    assert coverage.coverage_end == (None if known.coverage_end == _data.OPEN_END else known.coverage_end)
    assert coverage.card_printed_on == known.card_printed
    assert coverage.checked_for == dt.date(2025, 6, 2)


async def test_coverage_by_card_number(client: HubClient) -> None:
    """health.coverage by card number finds the same participant as by NIK."""
    for card in SAMPLES["card_number"]:
        coverage = await client.call("health.coverage", {"card_number": card})
        assert isinstance(coverage, Coverage)
        assert coverage.card_number == card and coverage.nik == _data.by_card()[card].nik


async def test_service_date_defaults_to_today_in_jakarta(client: HubClient) -> None:
    """Without a service date, coverage is judged for today in WIB, and checked_for says so."""
    coverage = await client.call("health.coverage", {"card_number": SAMPLES["card_number"][0]})
    assert isinstance(coverage, Coverage)
    assert coverage.checked_for in {dt.datetime.now(WIB).date(), (dt.datetime.now(WIB) - dt.timedelta(1)).date()}


async def test_inactive_participant_carries_the_reason(client: HubClient) -> None:
    """A participant whose coverage ended is not active, with BPJS's reason in inactive_reason."""
    ended = next(_data.by_nik()[nik] for nik in SAMPLES["nik"] if _data.by_nik()[nik].ended_because is not None)
    assert ended.ended_because is not None
    coverage = await client.call("health.coverage", {"nik": ended.nik})
    assert isinstance(coverage, Coverage)
    assert not coverage.active and coverage.inactive_reason == ended.ended_because.keterangan
    assert coverage.status == ended.ended_because.keterangan


async def test_coverage_is_judged_for_the_service_date(client: HubClient) -> None:
    """The same participant is active on a day inside tglTMT..tglTAT and not before tglTMT."""
    holder = _data.by_card()[SAMPLES["card_number"][1]]
    before = holder.coverage_start - dt.timedelta(days=1)
    early = await client.call("health.coverage", {"card_number": holder.card_number, "service_date": str(before)})
    assert isinstance(early, Coverage) and not early.active and early.inactive_reason
    assert early.checked_for == before


async def test_unknown_card_and_nik_are_not_found(client: HubClient) -> None:
    """VClaim's 201 for a card or NIK nobody holds maps to not_found, naming no number."""
    for query in ({"card_number": "0009999999999"}, {"nik": "3328100101019999"}):
        with pytest.raises(HubError) as caught:
            await client.call("health.coverage", query)
        error = caught.value.error
        assert error.code is ErrorCode.NOT_FOUND and error.agency == "bpjs" and not error.retryable
        assert next(iter(query.values())) not in error.message


async def test_health_is_up_without_reading_anyone(client: HubClient) -> None:
    """The health probe proves signature and keys with a card number nobody holds."""
    health = await client.health("bpjs")
    assert health.status is HealthStatus.UP and "signature" in health.detail


async def test_wrong_secret_is_an_agency_error_and_no_secret_leaks(bus: BusAccess) -> None:
    """A sandbox holding another secret refuses the signature: agency_error naming the setting, never a secret."""
    logs = io.StringIO()
    configure_logging("debug", "json", logs)
    try:
        error = (await _failure(bus, SandboxConfig(secret="the-agency-has-another-secret"))).error
    finally:
        structlog.reset_defaults()
    assert error.code is ErrorCode.AGENCY_ERROR and not error.retryable
    assert "bpjs secret setting" in error.message
    for secret in ("the-agency-has-another-secret", SandboxConfig().secret, SandboxConfig().user_key):
        assert secret not in error.message and secret not in logs.getvalue()
    assert SAMPLES["nik"][0] not in logs.getvalue()


async def test_wrong_consumer_and_user_key_name_their_settings(bus: BusAccess) -> None:
    """An unknown consumer id points at cons_id; a wrong user key points at user_key."""
    consumer = await _failure(bus, SandboxConfig(cons_id="5678"))
    assert consumer.code is ErrorCode.AGENCY_ERROR and "bpjs cons_id setting" in consumer.error.message
    key = await _failure(bus, SandboxConfig(), {"user_key": "not-the-key"})
    assert key.code is ErrorCode.AGENCY_ERROR and "bpjs user_key setting" in key.error.message
    assert "not-the-key" not in key.error.message


async def test_stale_timestamp_points_at_the_hub_clock(bus: BusAccess) -> None:
    """When the agency's clock is an hour off, the error tells the operator to check the hub's clock."""
    error = await _failure(bus, SandboxConfig(clock_skew=3600))
    assert error.code is ErrorCode.AGENCY_ERROR and "clock" in error.error.message


async def test_undecryptable_answer_is_an_agency_error(bus: BusAccess) -> None:
    """An answer encrypted with other keys is agency_error, never garbage data."""
    with serving(create_app(SandboxConfig(encryption_secret="rotated-at-the-agency"))) as server:
        hub = await _start_hub(bus, dict(_sandbox_settings(server.url)))
        try:
            async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
                with pytest.raises(HubError) as caught:
                    await client.call("health.coverage", {"nik": SAMPLES["nik"][0]})
        finally:
            await hub.stop()
    assert caught.value.code is ErrorCode.AGENCY_ERROR and "decrypt" in caught.value.error.message


async def test_stopped_sandbox_is_agency_unavailable(bus: BusAccess) -> None:
    """When VClaim cannot be reached the caller gets agency_unavailable, and health says down."""
    with serving(create_app()) as server:
        settings = dict(_sandbox_settings(server.url))
    hub = await _start_hub(bus, settings)
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            with pytest.raises(HubError) as caught:
                await client.call("health.coverage", {"card_number": SAMPLES["card_number"][0]})
            health = await client.health("bpjs")
    finally:
        await hub.stop()
    assert caught.value.code is ErrorCode.AGENCY_UNAVAILABLE and caught.value.error.retryable
    assert health.status is HealthStatus.DOWN and "Cannot reach" in health.detail


async def test_wrong_base_path_names_the_setting(bus: BusAccess, bpjs_sandbox: ThreadedServer) -> None:
    """A base_url without the service path gets HTTP 404, mapped to agency_error naming base_url."""
    hub = await _start_hub(bus, {**_sandbox_settings(bpjs_sandbox.url), "base_url": bpjs_sandbox.url})
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            with pytest.raises(HubError) as caught:
                await client.call("health.coverage", {"nik": SAMPLES["nik"][0]})
    finally:
        await hub.stop()
    assert caught.value.code is ErrorCode.AGENCY_ERROR and "base_url" in caught.value.error.message


async def test_bad_input_never_reaches_the_agency(client: HubClient, bpjs_sandbox: ThreadedServer) -> None:
    """Both keys, or a 12-digit card number, are invalid_input and the sandbox sees nothing."""
    before = sandbox_requests(bpjs_sandbox)
    for query in ({"nik": SAMPLES["nik"][0], "card_number": SAMPLES["card_number"][0]}, {"card_number": "000123"}):
        with pytest.raises(HubError) as caught:
            await client.call("health.coverage", query)
        assert caught.value.code is ErrorCode.INVALID_INPUT
    assert sandbox_requests(bpjs_sandbox) == before


@pytest.mark.parametrize(
    ("refusal", "setting"),
    [
        (sandbox.MISSING_HEADER.format("X-signature"), "base_url"),
        (sandbox.UNKNOWN_CONSUMER, "cons_id"),
        (sandbox.BAD_TIMESTAMP, "clock"),
        (sandbox.BAD_SIGNATURE, "secret"),
        (sandbox.BAD_USER_KEY, "user_key"),
        ("Forbidden", "cons_id, secret and user_key"),
    ],
)
def test_every_gateway_refusal_names_what_to_fix(refusal: str, setting: str) -> None:
    """Each refusal text the sandbox uses (and an unknown one) maps to agency_error naming what to fix."""
    error = _wire.gateway_refusal(refusal, 403)
    assert error.code is ErrorCode.AGENCY_ERROR and setting in error.error.message


def test_unexpected_agency_text_is_quoted_with_numbers_masked() -> None:
    """An unknown metaData failure is agency_error quoting BPJS, with NIKs and card numbers masked."""
    body = {"metaData": {"code": "202", "message": "Peserta 0002880992529 / 3328080709870001 sedang diproses"}}
    with pytest.raises(HubError) as caught:
        _wire.check_envelope(body)
    message = caught.value.error.message
    assert caught.value.code is ErrorCode.AGENCY_ERROR and "sedang diproses" in message
    assert "0002880992529" not in message and "3328080709870001" not in message
    assert "0002*******29" in message
