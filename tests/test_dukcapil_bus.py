"""Dukcapil end to end: HubClient -> real NATS -> hub worker -> plugin -> real HTTP -> sandbox."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
import structlog

from contracts import ErrorCode, HealthStatus, HubError, IdentityCheckResult, Resident
from hub import HubClient
from hub._bus_access import BusAccess
from hub._logging import configure_logging
from hub._runtime import Hub
from plugins._synthetic import residents as _population
from plugins.dukcapil import sandbox
from plugins.dukcapil.plugin import _sandbox_settings
from tests._servers import ThreadedServer, serving
from tests.conftest import TEST_PURPOSE, anonymous_refusals, connect_client, sandbox_requests, start_hub

SAMPLE = _population.samples()[0]


async def test_lookup_returns_the_registered_resident(client: HubClient) -> None:
    """identity.lookup of a sample NIK returns that resident, translated into the contract."""
    known = _population.by_nik()[SAMPLE]
    resident = await client.call("identity.lookup", {"nik": SAMPLE})
    assert isinstance(resident, Resident)
    assert resident.nik == SAMPLE
    assert resident.full_name == known.full_name
    assert resident.birth_date == known.birth_date
    assert resident.address.regency.code in ("33.28", "33.76")
    assert resident.address.village.code.startswith(resident.address.district.code + ".")
    assert len(resident.address.rt) == 3


async def test_every_sample_round_trips(client: HubClient) -> None:
    """Leading-zero codes sent as JSON numbers come back as the contract's digit strings."""
    for nik in _population.samples(10):
        resident = await client.call("identity.lookup", {"nik": nik})
        assert isinstance(resident, Resident) and resident.nik == nik


async def test_verify_reports_field_by_field(client: HubClient) -> None:
    """identity.verify says which submitted fields match, with scores for fuzzy ones."""
    known = _population.by_nik()[SAMPLE]
    result = await client.call(
        "identity.verify",
        {"nik": SAMPLE, "full_name": known.full_name.title(), "birth_date": "1901-01-01", "threshold": 80},
    )
    assert isinstance(result, IdentityCheckResult)
    assert result.fields["full_name"].matched and result.fields["full_name"].score == 100
    assert not result.fields["birth_date"].matched
    assert result.matched is False
    assert set(result.fields) == {"full_name", "birth_date"}


async def test_verify_all_matching(client: HubClient) -> None:
    """When every claimed field matches, the check as a whole matches."""
    known = _population.by_nik()[SAMPLE]
    result = await client.call(
        "identity.verify",
        {
            "nik": SAMPLE,
            "birth_date": known.birth_date.isoformat(),
            "sex": "female" if known.sex == "PEREMPUAN" else "male",
        },
    )
    assert isinstance(result, IdentityCheckResult) and result.matched


async def test_unknown_nik_is_not_found(client: HubClient) -> None:
    """A valid NIK nobody holds maps Dukcapil's 'Data Tidak Ditemukan' to not_found."""
    with pytest.raises(HubError) as caught:
        await client.call("identity.lookup", {"nik": "3328100101019999"})
    error = caught.value.error
    assert error.code is ErrorCode.NOT_FOUND and error.agency == "dukcapil" and not error.retryable
    assert error.correlation_id


async def test_malformed_nik_never_reaches_the_agency(client: HubClient, dukcapil_sandbox: ThreadedServer) -> None:
    """A malformed NIK is refused by the contract (naming the bad part) and the sandbox sees nothing."""
    before = sandbox_requests(dukcapil_sandbox)
    with pytest.raises(HubError) as caught:
        await client.call("identity.lookup", {"nik": "3328103102900001"})
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert "birth-date part" in caught.value.error.message
    assert caught.value.error.issues[0].field == "nik"
    assert sandbox_requests(dukcapil_sandbox) == before


async def test_worker_refuses_bad_input_sent_straight_to_the_bus(
    client: HubClient, dukcapil_sandbox: ThreadedServer
) -> None:
    """A caller that skips validation still gets invalid_input from the worker, not a crash."""
    before = sandbox_requests(dukcapil_sandbox)
    wrong_type = b'{"nik": 3328104505900001}'
    headers = client.headers_for("identity.lookup", wrong_type, correlation_id=None, budget=5)
    reply = await client.nc.request("mpp.v1.identity.lookup", wrong_type, timeout=5, headers=headers)
    error = json.loads(reply.data)
    assert (reply.headers or {}).get("Nats-Service-Error-Code") == "400"
    assert error["code"] == "invalid_input" and "string" in error["message"]
    not_json = b"\xff not json"
    headers = client.headers_for("identity.lookup", not_json, correlation_id=None, budget=5)
    garbage = await client.nc.request("mpp.v1.identity.lookup", not_json, timeout=5, headers=headers)
    assert json.loads(garbage.data)["code"] == "invalid_input"
    assert sandbox_requests(dukcapil_sandbox) == before


async def test_the_bus_itself_refuses_callers_without_an_assertion(
    hub: Hub, client: HubClient, dukcapil_sandbox: ThreadedServer
) -> None:
    """A NATS client that skips the HTTP edge still meets the rights: no signed caller assertion, no data,
    nothing sent on, and (nobody identified) the refusal is counted, not audited; nor does an assertion made
    for another request body open the door."""
    before = sandbox_requests(dukcapil_sandbox)
    counted = anonymous_refusals(hub.metrics.render().decode(), "bus")
    body = json.dumps({"nik": SAMPLE}).encode()
    cid = f"no-assertion-{uuid.uuid4().hex[:8]}"
    headers = {"Mpp-Purpose": TEST_PURPOSE, "Mpp-Correlation-Id": cid}
    reply = await client.nc.request("mpp.v1.identity.lookup", body, timeout=5, headers=headers)
    assert (reply.headers or {}).get("Nats-Service-Error-Code") == "401"
    assert json.loads(reply.data)["code"] == "unauthorized"
    assert anonymous_refusals(hub.metrics.render().decode(), "bus") == counted + 1
    assert [r async for r in hub.audit.records() if r.correlation_id == cid] == []  # recorded before answering
    other = json.dumps({"nik": _population.samples(2)[1]}).encode()
    headers = client.headers_for("identity.lookup", other, correlation_id=None, budget=5)
    reply = await client.nc.request("mpp.v1.identity.lookup", body, timeout=5, headers=headers)
    assert json.loads(reply.data)["code"] == "unauthorized"
    assert sandbox_requests(dukcapil_sandbox) == before


async def test_stopped_sandbox_is_agency_unavailable(bus: BusAccess) -> None:
    """When the agency cannot be reached the caller gets agency_unavailable, and health says down."""
    with serving(sandbox.create_app()) as server:
        settings = dict(_sandbox_settings(server.url))
    hub = await start_hub(bus, settings)
    try:
        async with await connect_client(bus, timeout=5) as client:
            with pytest.raises(HubError) as caught:
                await client.call("identity.lookup", {"nik": SAMPLE})
            assert caught.value.code is ErrorCode.AGENCY_UNAVAILABLE and caught.value.error.retryable
            health = await client.health("dukcapil")
            assert health.status is HealthStatus.DOWN and "Cannot reach" in health.detail
    finally:
        await hub.stop()


async def test_wrong_credentials_are_an_agency_error_and_the_secret_is_never_logged(
    bus: BusAccess, dukcapil_sandbox: ThreadedServer
) -> None:
    """Dukcapil's 'Login Gagal' maps to agency_error; the configured password appears in no log line."""
    secret = "Sup3r-Secret-Passw0rd-42"
    settings = {**_sandbox_settings(dukcapil_sandbox.url), "password": secret}
    logs = io.StringIO()
    configure_logging("debug", "json", logs)
    hub = await start_hub(bus, settings)
    try:
        async with await connect_client(bus, timeout=5) as client:
            with pytest.raises(HubError) as caught:
                await client.call("identity.lookup", {"nik": SAMPLE})
            health = await client.health("dukcapil")
    finally:
        await hub.stop()
        structlog.reset_defaults()
    assert caught.value.code is ErrorCode.AGENCY_ERROR
    assert "credentials" in caught.value.error.message and secret not in caught.value.error.message
    assert health.status is HealthStatus.DOWN
    lines = logs.getvalue().splitlines()
    assert any('"call failed"' in line for line in lines)
    assert all(secret not in line for line in lines)
    assert all(SAMPLE not in line for line in lines)


async def test_correlation_id_travels_back(client: HubClient) -> None:
    """The caller's correlation id comes back on errors, so one request can be followed end to end."""
    with pytest.raises(HubError) as caught:
        await client.call("identity.lookup", {"nik": "3328100101019999"}, correlation_id="portal-req-42")
    assert caught.value.error.correlation_id == "portal-req-42"


async def test_requests_are_answered_concurrently(client: HubClient) -> None:
    """Many requests in flight on one worker all succeed (handlers do not queue behind each other)."""
    import asyncio

    niks = _population.samples(20)
    results = await asyncio.gather(*(client.call("identity.lookup", {"nik": n}) for n in niks))
    assert [r.nik for r in results if isinstance(r, Resident)] == niks


def test_sample_birth_dates_are_consistent_with_niks() -> None:
    """The synthetic residents' NIKs encode their birth dates (a sanity check on the sandbox data)."""
    from contracts import parse_nik

    for nik in _population.samples(10):
        assert parse_nik(nik).birth_date == _population.by_nik()[nik].birth_date
        assert isinstance(parse_nik(nik).birth_date, dt.date)
