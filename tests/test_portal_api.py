"""The portal API over real HTTP: generated routes, rights, purpose, quotas, the audit trail and the profile."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from contracts import OPERATIONS
from hub import load_plugins
from hub._audit import AuditLog, AuditRecord
from hub._bus_access import BusAccess
from hub._runtime import Hub
from plugins._synthetic import residents
from tests._stack import Grant, Sandboxes, Stack
from tests.conftest import (
    TEST_AUDIT_KEY,
    TEST_PURPOSE,
    anonymous_refusals,
    purpose_for,
)

AGENCIES = ("dukcapil", "bpjs", "samsat", "bank")
PROFILE_BUDGET = 1.5
#: The default purpose that covers every part of the citizen profile (the mall's information desk).
PROFILE_PURPOSE = "layanan-terpadu"
NIK = residents.samples()[0]


#: The portal's consumers: everything; identity look-ups only; everything, two calls a minute.
CONSUMERS = {"portal": Grant(["*"]), "kiosk": Grant(["identity.lookup"]), "busy": Grant(["*"], quota_per_minute=2)}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    with Sandboxes(AGENCIES, faults=True) as started:
        yield started


@pytest.fixture
async def portal(bus: BusAccess, sandboxes: Sandboxes) -> AsyncIterator[Stack]:
    options = {"profile_budget": PROFILE_BUDGET}
    async with Stack(bus, agencies=AGENCIES, sandboxes=sandboxes, edge_options=options, consumers=CONSUMERS) as portal:
        try:
            yield portal
        finally:
            sandboxes.clear_faults()


async def _audit_records(hub: Hub, correlation_id: str) -> list[AuditRecord]:
    log = AuditLog(hub.nc.jetstream(), TEST_AUDIT_KEY)
    return [r async for r in log.records() if r.correlation_id == correlation_id]


def _cid() -> str:
    return f"test-{uuid.uuid4().hex}"


async def test_every_contract_operation_is_a_documented_route(portal: Stack) -> None:
    """/openapi.json lists POST /v1/<operation> for every operation, with the contract's own models."""
    spec = (await portal.http.get("/openapi.json")).json()
    served = portal.hub.plugins.operations  # the core's, and no package's: the portal's hub loads none
    assert {op.name for op in served} == {op.name for op in OPERATIONS if OPERATIONS.package_of(op.name) is None}
    assert {path for path in spec["paths"] if path.count(".") == 1} == {f"/v1/{op.name}" for op in served}
    for op in served:
        route = spec["paths"][f"/v1/{op.name}"]["post"]
        body = route["requestBody"]["content"]["application/json"]["schema"]
        assert body["$ref"].endswith(f"/{op.input.__name__}")
        ok = route["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith(f"/{op.output.__name__}")
        assert route["responses"]["403"]["content"]["application/json"]["schema"]["$ref"].endswith("/ContractError")
    assert spec["components"]["schemas"]["Resident"]["properties"]["nik"]["x-personal-data"] == "nik"
    assert "/v1/citizens/{nik}/profile" in spec["paths"] and "/v1/services" in spec["paths"]
    docs = await portal.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_every_operation_is_callable_over_http(portal: Stack) -> None:
    """Each operation answers over HTTP with its output model (bank and samsat included)."""
    samples = {code: load_plugins(only={code}).sandboxes[code].samples() for code in AGENCIES}
    card, plate = samples["bpjs"]["card_number"][0], samples["samsat"]["plate"][0]
    bill = {
        "reference": f"HTTP-{uuid.uuid4().hex[:8]}", "amount": "10500.25", "customer_name": "SRI WAHYUNI",
        "description": "test", "expires_at": "2099-01-01T00:00:00+07:00",
    }  # fmt: skip
    calls: list[tuple[str, dict[str, Any]]] = [
        ("identity.lookup", {"nik": NIK}),
        ("identity.verify", {"nik": NIK, "birth_date": "1987-09-07"}),
        ("identity.family", {"kk_number": samples["dukcapil"]["kk_number"][0]}),
        ("health.coverage", {"card_number": card}),
        ("vehicle.list_by_owner", {"nik": samples["samsat"]["nik"][0]}),
        ("vehicle.tax_due", {"plate": plate}),
        ("payment.create_bill", bill),
    ]
    answers = {}
    for operation, body in calls:
        headers = portal.headers(purpose=purpose_for(operation))
        answer = await portal.http.post(f"/v1/{operation}", json=body, headers=headers)
        assert answer.status_code == 200, (operation, answer.text)
        answers[operation] = answer.json()
    va = answers["payment.create_bill"]["virtual_account"]
    taxes = portal.headers(purpose="pembayaran-pajak")
    status = await portal.http.post("/v1/payment.bill_status", json={"virtual_account": va}, headers=taxes)
    assert status.status_code == 200 and status.json()["amount"] == "10500.25"
    tax = answers["vehicle.tax_due"]
    payment = {
        "plate": plate, "bill_code": tax["bill_code"], "amount": tax["total"],
        "payment_reference": f"HTTP-{uuid.uuid4().hex[:8]}", "paid_at": "2026-11-22T10:00:00+07:00",
    }  # fmt: skip
    posted = await portal.http.post("/v1/vehicle.record_payment", json=payment, headers=taxes)
    assert posted.status_code in (200, 409), posted.text  # 409 when the sample vehicle owes nothing
    core = {op.name for op in OPERATIONS if OPERATIONS.package_of(op.name) is None}
    assert core == {op for op, _ in calls} | {"payment.bill_status", "vehicle.record_payment"}


async def test_errors_are_contract_errors_with_fitting_statuses(portal: Stack) -> None:
    """Bad input is 400 naming the field (never FastAPI's 422); not found is 404; the correlation id comes back."""
    cid = _cid()
    bad = await portal.http.post(
        "/v1/identity.lookup", json={"nik": "3328103102900001"}, headers=portal.headers(**{"X-Correlation-Id": cid})
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"
    assert bad.json()["issues"][0]["field"] == "nik" and "birth-date" in bad.json()["message"]
    assert bad.headers["X-Correlation-Id"] == cid
    missing = await portal.http.post("/v1/identity.lookup", json={"nik": "3328100101019999"}, headers=portal.headers())
    assert (
        missing.status_code == 404 and missing.json()["code"] == "not_found" and missing.json()["agency"] == "dukcapil"
    )
    not_json = await portal.http.post("/v1/identity.lookup", content=b"{nik", headers=portal.headers())
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_input"


async def _anonymous_refusals(portal: Stack) -> float:
    page = await portal.http.get("/metrics", headers=portal.headers())  # "*" includes ops.metrics
    assert page.status_code == 200, page.text
    return anonymous_refusals(page.text)


async def test_missing_or_wrong_key_is_401_and_counted_not_audited(portal: Stack) -> None:
    """No key or a wrong key gets 401; the refusal of a caller nobody identified is counted in
    mpp_anonymous_refusals, and appends no audit record (strangers cannot grow the permanent log)."""
    for headers in (
        {"X-Purpose": TEST_PURPOSE},
        {"Authorization": "Bearer mpp_nosuchkey000_x", "X-Purpose": TEST_PURPOSE},
    ):
        cid = _cid()
        before = await _anonymous_refusals(portal)
        answer = await portal.http.post(
            "/v1/identity.lookup", json={"nik": NIK}, headers={**headers, "X-Correlation-Id": cid}
        )
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
        assert await _anonymous_refusals(portal) == before + 1
        # A refusal is recorded before it is answered, so a record would already be there.
        assert await _audit_records(portal.hub, cid) == []
    stranger = await portal.http.post("/v1/identity.lookup", json={"nik": 12})
    assert stranger.status_code == 401  # the key is checked before the body is read


async def test_a_right_the_consumer_lacks_is_403_and_audited(portal: Stack) -> None:
    """The kiosk may look people up but not verify them: 403, with an audit record naming the kiosk."""
    cid = _cid()
    headers = portal.headers("kiosk", **{"X-Correlation-Id": cid})
    assert (await portal.http.post("/v1/identity.lookup", json={"nik": NIK}, headers=headers)).status_code == 200
    refused = await portal.http.post(
        "/v1/identity.verify",
        json={"nik": NIK, "full_name": "X"},
        headers=portal.headers("kiosk", **{"X-Correlation-Id": cid}),
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    records = await _audit_records(portal.hub, cid)
    assert [(r.operation, r.outcome) for r in records] == [("identity.lookup", "ok"), ("identity.verify", "forbidden")]
    assert all(r.consumer and r.consumer.startswith("kiosk-") for r in records)
    assert records[0].subject_masked == f"{NIK[:4]}**********{NIK[-2:]}"


async def test_personal_data_needs_a_stated_purpose(portal: Stack) -> None:
    """No X-Purpose, or one not on the list, is 400 with the list of purposes; the refusal is audited."""
    cid = _cid()
    missing = await portal.http.post(
        "/v1/identity.lookup", json={"nik": NIK}, headers=portal.headers(purpose=None, **{"X-Correlation-Id": cid})
    )
    assert missing.status_code == 400 and "X-Purpose" in missing.json()["message"]
    assert "layanan-kependudukan" in missing.json()["message"]
    unknown = await portal.http.post(
        "/v1/identity.lookup", json={"nik": NIK}, headers=portal.headers(purpose="curiosity")
    )
    assert unknown.status_code == 400 and "Unknown purpose" in unknown.json()["message"]
    [record] = await _audit_records(portal.hub, cid)
    assert record.outcome == "invalid_input" and record.purpose is None


async def test_over_quota_is_429_with_retry_after(portal: Stack) -> None:
    """A consumer over its per-minute quota gets 429 with Retry-After, counted across workers."""
    statuses = []
    for _ in range(3):
        answer = await portal.http.post("/v1/identity.lookup", json={"nik": NIK}, headers=portal.headers("busy"))
        statuses.append(answer.status_code)
    if statuses[:2] != [200, 200]:
        pytest.skip("the minute turned over between the calls")
    assert statuses[2] == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60 and answer.json()["code"] == "rate_limited"


async def test_services_needs_a_key_and_lists_every_agency(portal: Stack) -> None:
    """The catalogue is for any registered consumer, and shows the four agencies and their health."""
    assert (await portal.http.get("/v1/services")).status_code == 401
    assert (await portal.http.get("/v1/services", headers=portal.headers("kiosk"))).status_code == 200
    catalogue = (await portal.http.get("/v1/services", headers=portal.headers())).json()
    assert {a["code"] for a in catalogue["agencies"]} >= set(AGENCIES)
    assert all(a["health"]["status"] == "up" for a in catalogue["agencies"] if a["code"] in AGENCIES)


async def _profile(portal: Stack, nik: str = NIK) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    answer = await portal.http.get(f"/v1/citizens/{nik}/profile", headers=portal.headers(purpose=PROFILE_PURPOSE))
    assert answer.status_code == 200, answer.text
    return answer.json(), time.perf_counter() - started


async def test_profile_is_whole_when_every_agency_answers(portal: Stack) -> None:
    """Identity, coverage and vehicles come back together, each saying which agency gave it and when."""
    profile, _ = await _profile(portal)
    assert profile["complete"] is True
    assert profile["identity"]["data"]["nik"] == NIK and profile["identity"]["agency"] == "dukcapil"
    assert profile["health"]["agency"] == "bpjs" and profile["health"]["data"]["nik"] == NIK
    assert profile["vehicles"]["agency"] == "samsat" and profile["vehicles"]["data"]["owner_nik"] == NIK
    assert all(profile[p]["status"] == "ok" and profile[p]["fetched_at"] for p in ("identity", "health", "vehicles"))


async def test_profile_is_partial_within_budget_when_an_agency_is_slow(portal: Stack) -> None:
    """A slow BPJS costs only its own part: the others come back, inside the profile budget."""
    faults = {"latency_ms": (PROFILE_BUDGET + 3) * 1000}
    portal.sandboxes.faults("bpjs", **faults)
    profile, elapsed = await _profile(portal)
    assert profile["complete"] is False
    assert profile["health"]["status"] == "failed" and profile["health"]["error"]["code"] == "agency_timeout"
    assert profile["health"]["agency"] == "bpjs" and profile["health"]["error"]["retryable"] is True
    assert profile["identity"]["status"] == "ok" and profile["vehicles"]["status"] == "ok"
    assert elapsed < PROFILE_BUDGET + 1.0  # the budget, plus the edge's own work on a loaded CI machine


async def test_profile_is_partial_when_an_agency_is_down(portal: Stack) -> None:
    """A stopped Samsat gives a failed vehicles part with agency_unavailable; the rest is whole."""
    portal.sandboxes.servers["samsat"].stop()
    try:
        profile, _ = await _profile(portal)
    finally:
        portal.sandboxes.restart("samsat")
    assert profile["vehicles"]["status"] == "failed" and profile["vehicles"]["error"]["code"] == "agency_unavailable"
    assert profile["identity"]["status"] == "ok" and profile["health"]["status"] == "ok"


async def test_profile_needs_its_right_and_each_part_its_own(portal: Stack) -> None:
    """The kiosk lacks citizen.profile (403); a consumer with it but not health.coverage gets that part forbidden."""
    kiosk = await portal.http.get(f"/v1/citizens/{NIK}/profile", headers=portal.headers("kiosk"))
    assert kiosk.status_code == 403
    await portal.add_consumer("desk", Grant(["citizen.profile", "identity.lookup", "vehicle.*"]))
    answer = await portal.http.get(f"/v1/citizens/{NIK}/profile", headers=portal.headers("desk", PROFILE_PURPOSE))
    profile = answer.json()
    assert profile["identity"]["status"] == "ok" and profile["vehicles"]["status"] == "ok"
    assert profile["health"]["error"]["code"] == "forbidden" and profile["complete"] is False


async def test_profile_refuses_without_purpose_or_key(portal: Stack) -> None:
    """The profile reads personal data: it needs a key and a purpose like any operation."""
    assert (await portal.http.get(f"/v1/citizens/{NIK}/profile")).status_code == 401
    no_purpose = await portal.http.get(f"/v1/citizens/{NIK}/profile", headers=portal.headers(purpose=None))
    assert no_purpose.status_code == 400
    bad_nik = await portal.http.get("/v1/citizens/12345/profile", headers=portal.headers())
    assert bad_nik.status_code == 400 and bad_nik.json()["code"] == "invalid_input"


async def test_who_read_lists_three_reads_by_two_consumers(portal: Stack) -> None:
    """The audit answers a citizen: who read my data, when and why."""
    nik = residents.samples(8)[7]
    for consumer in ("portal", "kiosk", "portal"):
        answer = await portal.http.post("/v1/identity.lookup", json={"nik": nik}, headers=portal.headers(consumer))
        assert answer.status_code == 200
    reads = await AuditLog(portal.hub.nc.jetstream(), TEST_AUDIT_KEY).who_read(nik)
    this_run = [r for r in reads if r.consumer and r.consumer.endswith(f"-{portal.tag}")]
    assert [r.consumer for r in this_run] == [f"portal-{portal.tag}", f"kiosk-{portal.tag}", f"portal-{portal.tag}"]
    assert all(r.outcome == "ok" and r.purpose == TEST_PURPOSE and r.operation == "identity.lookup" for r in this_run)
    assert all(r.subject_masked == f"{nik[:4]}**********{nik[-2:]}" for r in this_run)
