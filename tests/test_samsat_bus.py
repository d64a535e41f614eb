"""Samsat end to end: HubClient -> real NATS -> hub worker -> plugin -> real HTTP -> sandbox."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import structlog

from contracts import ErrorCode, HealthStatus, HubError, TaxPaymentReceipt, TaxStatus, VehicleList, VehicleTax
from hub import HubClient, load_plugins
from hub._bus_access import BusAccess
from hub._logging import configure_logging
from hub._runtime import Hub
from plugins.samsat import _data, sandbox
from plugins.samsat.plugin import _sandbox_settings
from tests._servers import ThreadedServer, serving
from tests.conftest import connect_client, make_hub

#: The purpose of access these calls state: vehicle tax (UU 1/2022).
PURPOSE = "pembayaran-pajak"

TODAY = dt.date(2025, 6, 15)
OVERDUE, PAID, DUE, OVERDUE_3 = _data.samples()["plate"]
PAID_AT = "2025-06-15T10:15:00+07:00"


@pytest.fixture(scope="module")
def samsat_sandbox() -> Iterator[ThreadedServer]:
    with serving(sandbox.create_app(sandbox.SandboxConfig(today=TODAY))) as server:
        yield server


async def _start_hub(bus: BusAccess, settings: dict[str, Any]) -> Hub:
    hub = make_hub(load_plugins(only={"samsat"}), bus, {"samsat": settings})
    await hub.start()
    return hub


@pytest.fixture
def fresh_sandbox(samsat_sandbox: ThreadedServer) -> ThreadedServer:
    """The module's sandbox with every earlier payment forgotten."""
    assert httpx.post(f"{samsat_sandbox.url}/_sandbox/reset").status_code == 200
    return samsat_sandbox


@pytest.fixture
async def client(bus: BusAccess, fresh_sandbox: ThreadedServer) -> AsyncIterator[HubClient]:
    """A hub serving samsat against the fresh sandbox."""
    hub = await _start_hub(bus, dict(_sandbox_settings(fresh_sandbox.url)))
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            yield client
    finally:
        await hub.stop()


def _tax_detail(server: ThreadedServer, plate: str) -> dict[str, Any]:
    """The sandbox's own tax reply for ``plate``, fetched beside the hub."""
    config = sandbox.SandboxConfig()
    letters, digits, *suffix = plate.split(" ")
    parts = {"na": letters, "nb": digits, "nc": suffix[0] if suffix else ""}
    req = dt.datetime.now(sandbox.WIB).strftime("%Y%m%d%H%M%S")
    token = sandbox.sign(config.secret, config.key_id, list(parts.values()), req)
    noka = _data.by_plate()[plate].chassis
    body = {**parts, "noka": noka, "req": req, "key": config.key_id, "token": token}
    reply: dict[str, Any] = httpx.post(f"{server.url}{sandbox.PAJAK_PATH}", json=body).json()
    return reply


async def _tax(client: HubClient, plate: str) -> VehicleTax:
    tax = await client.call("vehicle.tax_due", {"plate": plate})
    assert isinstance(tax, VehicleTax)
    return tax


async def _pay(client: HubClient, tax: VehicleTax, reference: str, **changes: Any) -> TaxPaymentReceipt:
    payment = {
        "plate": tax.vehicle.plate,
        "bill_code": tax.bill_code,
        "amount": str(tax.total),
        "payment_reference": reference,
        "paid_at": PAID_AT,
        **changes,
    }
    receipt = await client.call("vehicle.record_payment", payment)
    assert isinstance(receipt, TaxPaymentReceipt)
    return receipt


async def _refused(client: HubClient, operation: str, payload: dict[str, Any]) -> HubError:
    with pytest.raises(HubError) as caught:
        await client.call(operation, payload)
    assert caught.value.error.agency == "samsat"
    return caught.value


# --- vehicle.list_by_owner -----------------------------------------------------------------------


async def test_list_by_owner_gives_every_vehicle_with_its_status(client: HubClient) -> None:
    """An owner's vehicles come back in the contract, each with its due date and tax status."""
    owner = next(nik for nik, owned in _data.by_owner().items() if len(owned) == 2)
    listed = await client.call("vehicle.list_by_owner", {"nik": owner})
    assert isinstance(listed, VehicleList) and listed.owner_nik == owner
    assert {v.plate for v in listed.vehicles} == {v.plate for v in _data.by_owner()[owner]}
    known = {v.plate: v for v in _data.by_owner()[owner]}
    for vehicle in listed.vehicles:
        record = known[vehicle.plate]
        assert (vehicle.brand, vehicle.model, vehicle.year_made) == (record.model.brand, record.model.name,
                                                                     record.year_made)  # fmt: skip
        assert vehicle.category.value == record.model.vehicle_class.value


async def test_statuses_follow_the_standing(client: HubClient) -> None:
    """Overdue, paid-up and due-soon sample vehicles carry the matching contract status."""
    owners = {plate: _data.by_plate()[plate].owner_nik for plate in (OVERDUE, PAID, DUE)}
    expected = {OVERDUE: TaxStatus.OVERDUE, PAID: TaxStatus.PAID, DUE: TaxStatus.DUE}
    for plate, owner in owners.items():
        listed = await client.call("vehicle.list_by_owner", {"nik": owner})
        assert isinstance(listed, VehicleList)
        assert next(v for v in listed.vehicles if v.plate == plate).tax_status is expected[plate]


async def test_owner_without_vehicles_gets_an_empty_list(client: HubClient) -> None:
    """A valid NIK that owns nothing is an empty list, not an error."""
    nobody = _data.owners_without_vehicles()[0]
    listed = await client.call("vehicle.list_by_owner", {"nik": nobody})
    assert listed == VehicleList(owner_nik=nobody, vehicles=[])


# --- vehicle.tax_due -----------------------------------------------------------------------------


async def test_tax_due_is_exact_to_the_rupiah(client: HubClient, samsat_sandbox: ThreadedServer) -> None:
    """Every component of the bill is the sandbox's integer, as a Decimal, and the total their sum."""
    tax = await _tax(client, OVERDUE_3)
    wire = _tax_detail(samsat_sandbox, OVERDUE_3)
    pairs = {
        "vehicle_tax": "total_pkb_prov", "vehicle_tax_penalty": "total_pkb_denda_prov",
        "vehicle_tax_surcharge": "total_pkb_opsen", "vehicle_tax_surcharge_penalty": "total_pkb_denda_opsen",
        "swdkllj": "total_jr_pokok", "swdkllj_penalty": "total_jr_denda", "admin_fees": "pnbp", "total": "total",
    }  # fmt: skip
    for field, key in pairs.items():
        amount = getattr(tax, field)
        assert isinstance(amount, Decimal) and amount == Decimal(wire[key]), field
    assert tax.bill_code == wire["kode_bayar"] and tax.years_in_arrears == 3
    assert tax.vehicle.tax_status is TaxStatus.OVERDUE and tax.vehicle_tax_penalty > 0
    assert tax.period_end == _data.add_years(tax.period_start, len(wire["rincian"]))
    record = _data.by_plate()[OVERDUE_3]
    assert (tax.owner_nik, tax.owner_name) == (record.owner_nik, record.owner_name)


async def test_amounts_travel_as_strings_on_the_bus(client: HubClient) -> None:
    """On the bus the amounts are decimal strings with two places, never JSON numbers."""
    request = json.dumps({"plate": DUE}).encode()
    headers = client.headers_for("vehicle.tax_due", request, correlation_id=None, budget=5)  # a signed assertion
    reply = await client.nc.request("mpp.v1.vehicle.tax_due", request, timeout=5, headers=headers)
    body = json.loads(reply.data)
    assert isinstance(body["total"], str) and body["total"].endswith(".00")
    assert Decimal(body["total"]) == sum(Decimal(body[k]) for k in (
        "vehicle_tax", "vehicle_tax_penalty", "vehicle_tax_surcharge", "vehicle_tax_surcharge_penalty",
        "swdkllj", "swdkllj_penalty", "admin_fees",
    ))  # fmt: skip


async def test_paid_up_vehicle_owes_zero(client: HubClient) -> None:
    """A paid-up vehicle's bill is zero, status paid, with an empty period on its due date."""
    tax = await _tax(client, PAID)
    assert tax.total == Decimal("0.00") and tax.years_in_arrears == 0
    assert tax.vehicle.tax_status is TaxStatus.PAID and tax.period_start == tax.period_end


async def test_plate_is_normalised(client: HubClient) -> None:
    """A plate typed as ``g-1234-ab`` reaches Samsat as ``G 1234 AB``."""
    tax = await _tax(client, DUE.lower().replace(" ", "-"))
    assert tax.vehicle.plate == DUE and tax.vehicle.tax_status is TaxStatus.DUE


async def test_unknown_plate_is_not_found(client: HubClient) -> None:
    """A plate Samsat does not hold maps Status 99999 to not_found, without echoing the plate."""
    error = await _refused(client, "vehicle.tax_due", {"plate": "G 1 ZZZ"})
    assert error.code is ErrorCode.NOT_FOUND and "G 1 ZZZ" not in error.error.message


# --- vehicle.record_payment ----------------------------------------------------------------------


async def test_payment_is_recorded_once_and_the_repeat_changes_nothing(client: HubClient) -> None:
    """Posting moves the due date and makes the vehicle paid; the same reference again returns the same receipt."""
    tax = await _tax(client, OVERDUE)
    receipt = await _pay(client, tax, "BPD-JTG-0001")
    assert not receipt.already_recorded and receipt.amount == tax.total
    assert receipt.new_due_date == tax.period_end and receipt.plate == OVERDUE
    after = await _tax(client, OVERDUE)
    assert after.vehicle.tax_status is TaxStatus.PAID and after.total == 0
    assert after.vehicle.tax_due_date == receipt.new_due_date
    again = await _pay(client, tax, "BPD-JTG-0001")
    assert again.already_recorded
    assert again.model_dump(exclude={"already_recorded"}) == receipt.model_dump(exclude={"already_recorded"})
    assert await _tax(client, OVERDUE) == after


async def test_reused_reference_for_another_payment_is_a_conflict(client: HubClient) -> None:
    """The same reference with another amount or plate is refused as a conflict and records nothing."""
    tax = await _tax(client, OVERDUE)
    await _pay(client, tax, "BPD-JTG-0002")
    other = await _tax(client, DUE)
    error = await _refused(client, "vehicle.record_payment", {
        "plate": DUE, "bill_code": other.bill_code, "amount": str(other.total),
        "payment_reference": "BPD-JTG-0002", "paid_at": PAID_AT,
    })  # fmt: skip
    assert error.code is ErrorCode.CONFLICT and "reference" in error.error.message
    assert await _tax(client, DUE) == other


async def test_wrong_amount_is_a_conflict_naming_both_amounts(client: HubClient) -> None:
    """An amount other than the bill's total is a conflict that says both amounts."""
    tax = await _tax(client, DUE)
    short = tax.total - 1000
    with pytest.raises(HubError) as caught:
        await _pay(client, tax, "BPD-JTG-0003", amount=str(short))
    message = caught.value.error.message
    assert caught.value.code is ErrorCode.CONFLICT
    assert f"Rp{int(short):,}".replace(",", ".") in message and f"Rp{int(tax.total):,}".replace(",", ".") in message


async def test_amount_with_sen_is_invalid_input(client: HubClient) -> None:
    """Samsat's bills are whole rupiah: an amount with sen is refused before reaching Samsat."""
    tax = await _tax(client, DUE)
    with pytest.raises(HubError) as caught:
        await _pay(client, tax, "BPD-JTG-0004", amount=str(tax.total + Decimal("0.50")))
    assert caught.value.code is ErrorCode.INVALID_INPUT and caught.value.error.issues[0].field == "amount"


async def test_stale_bill_code_is_a_conflict(client: HubClient) -> None:
    """A bill code from before a payment no longer pays: the vehicle is paid up, or the code is unknown."""
    tax = await _tax(client, OVERDUE)
    await _pay(client, tax, "BPD-JTG-0005")
    paid = await _refused(client, "vehicle.record_payment", {
        "plate": OVERDUE, "bill_code": tax.bill_code, "amount": str(tax.total),
        "payment_reference": "BPD-JTG-0006", "paid_at": PAID_AT,
    })  # fmt: skip
    assert paid.code is ErrorCode.CONFLICT and "paid up" in paid.error.message
    due = await _tax(client, DUE)
    stale = await _refused(client, "vehicle.record_payment", {
        "plate": DUE, "bill_code": "3300000000000000", "amount": str(due.total),
        "payment_reference": "BPD-JTG-0007", "paid_at": PAID_AT,
    })  # fmt: skip
    assert stale.code is ErrorCode.CONFLICT and "bill code" in stale.error.message


async def test_payment_for_unknown_plate_is_not_found(client: HubClient) -> None:
    """Posting a payment for a plate Samsat does not hold is not_found."""
    error = await _refused(client, "vehicle.record_payment", {
        "plate": "g-1-zzz", "bill_code": "3300000000000000", "amount": "1000",
        "payment_reference": "BPD-JTG-0008", "paid_at": PAID_AT,
    })  # fmt: skip
    assert error.code is ErrorCode.NOT_FOUND


# --- the link ------------------------------------------------------------------------------------


async def test_health_is_up_without_reading_anyones_data(client: HubClient, samsat_sandbox: ThreadedServer) -> None:
    """The health probe asks for a plate no one can hold, and a not-found answer proves the credentials."""
    health = await client.health("samsat")
    assert health.status is HealthStatus.UP and "credentials accepted" in health.detail


async def test_wrong_secret_is_an_agency_error_and_the_secret_is_never_logged(
    bus: BusAccess, samsat_sandbox: ThreadedServer
) -> None:
    """A token under the wrong secret (498) is agency_error naming the secret setting; the secret is in no log."""
    secret = "Sup3r-Secret-Samsat-Key-42"
    settings = {**_sandbox_settings(samsat_sandbox.url), "secret": secret}
    logs = io.StringIO()
    configure_logging("debug", "json", logs)
    hub = await _start_hub(bus, settings)
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            error = await _refused(client, "vehicle.tax_due", {"plate": OVERDUE})
            health = await client.health("samsat")
    finally:
        await hub.stop()
        structlog.reset_defaults()
    assert error.code is ErrorCode.AGENCY_ERROR and "secret setting" in error.error.message
    assert secret not in error.error.message
    assert health.status is HealthStatus.DOWN
    lines = logs.getvalue().splitlines()
    assert any('"call failed"' in line for line in lines)
    assert all(secret not in line and OVERDUE not in line for line in lines)


async def test_wrong_key_id_is_an_agency_error_naming_the_setting(
    bus: BusAccess, samsat_sandbox: ThreadedServer
) -> None:
    """An unregistered partner key (497) is agency_error telling the operator to fix key_id."""
    hub = await _start_hub(bus, {**_sandbox_settings(samsat_sandbox.url), "key_id": "NOT-REGISTERED"})
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            error = await _refused(client, "vehicle.list_by_owner", {"nik": _data.samples()["nik"][0]})
    finally:
        await hub.stop()
    assert error.code is ErrorCode.AGENCY_ERROR and "key_id" in error.error.message


async def test_stopped_sandbox_is_agency_unavailable(bus: BusAccess) -> None:
    """When Samsat cannot be reached the caller gets agency_unavailable, and health says down."""
    with serving(sandbox.create_app()) as server:
        settings = dict(_sandbox_settings(server.url))
    hub = await _start_hub(bus, settings)
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            error = await _refused(client, "vehicle.tax_due", {"plate": OVERDUE})
            health = await client.health("samsat")
    finally:
        await hub.stop()
    assert error.code is ErrorCode.AGENCY_UNAVAILABLE and error.error.retryable
    assert health.status is HealthStatus.DOWN and "Cannot reach" in health.detail
