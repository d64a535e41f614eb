"""Every agency's operations end to end from `mpp-hub call`, against `mpp-hub up` with its sandboxes."""

from __future__ import annotations

import datetime as dt
import json
import signal
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import nats
import pytest

from tests._processes import free_port, run_cli, start_cli, wait_for


def _healthz(url: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`mpp-hub up` with every built-in plugin and sandbox; `cli(...)` runs a command against it."""
    workdir = tmp_path_factory.mktemp("agencies")
    env = {"MPP_HUB_DATA_DIR": str(workdir / "data"), "MPP_HUB_PURPOSE": "layanan-kependudukan"}
    port = free_port()
    process = start_cli("up", "--port", str(port), "--nats-port", "-1", cwd=workdir, env=env)
    try:
        health = wait_for(lambda: _healthz(f"http://127.0.0.1:{port}/healthz"), "/healthz to answer 200", 60)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate()[1]) from None

    def cli(*args: str) -> Any:
        return run_cli(*args, cwd=workdir, env=env)

    samples = json.loads(cli("sandbox", "sample", "--json").stdout)
    yield {"health": health, "cli": cli, "samples": samples, "nats_url": health["nats"]["url"]}
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=20)


def _call(hub: dict[str, Any], operation: str, payload: dict[str, Any]) -> Any:
    result = hub["cli"]("call", operation, json.dumps(payload))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _refused(hub: dict[str, Any], operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    result = hub["cli"]("call", operation, json.dumps(payload), "--json")
    assert result.returncode == 1, result.stdout
    error: dict[str, Any] = json.loads(result.stdout)
    return error


def test_every_agency_is_up(hub: dict[str, Any]) -> None:
    """`up` starts all four sandboxes and plugins, and every link reports up."""
    assert {code: h["status"] for code, h in hub["health"]["agencies"].items()} == {
        "dukcapil": "up", "bpjs": "up", "samsat": "up", "bank": "up",
    }  # fmt: skip
    assert set(hub["samples"]) == {"dukcapil", "bpjs", "samsat", "bank"}


def test_health_coverage_by_nik_and_by_card(hub: dict[str, Any]) -> None:
    """health.coverage answers by NIK and by card number, for the same participant."""
    card = hub["samples"]["bpjs"]["card_number"][0]
    by_card = _call(hub, "health.coverage", {"card_number": card})
    by_nik = _call(hub, "health.coverage", {"nik": by_card["nik"]})
    assert by_card == by_nik and by_card["card_number"] == card
    assert _refused(hub, "health.coverage", {"card_number": "0000000000001"})["code"] == "not_found"


def test_vehicles_and_tax_and_an_idempotent_payment(hub: dict[str, Any]) -> None:
    """Samsat lists an owner's vehicles, prices the tax, and posts one payment once, however often it is sent."""
    owner = hub["samples"]["samsat"]["nik"][0]
    vehicles = _call(hub, "vehicle.list_by_owner", {"nik": owner})["vehicles"]
    assert vehicles and all(v["plate"].startswith("G ") for v in vehicles)
    plate = vehicles[0]["plate"]
    tax = _call(hub, "vehicle.tax_due", {"plate": plate.lower().replace(" ", "-")})
    assert tax["owner_nik"] == owner and Decimal(tax["total"]) >= 0
    if Decimal(tax["total"]) == 0:
        pytest.skip("the first sample vehicle has nothing to pay")
    payment = {
        "plate": plate, "bill_code": tax["bill_code"], "amount": tax["total"],
        "payment_reference": f"TEST-{uuid.uuid4().hex[:12]}", "paid_at": dt.datetime.now(dt.UTC).isoformat(),
    }  # fmt: skip
    first = _call(hub, "vehicle.record_payment", payment)
    again = _call(hub, "vehicle.record_payment", payment)
    assert first["already_recorded"] is False and again["already_recorded"] is True
    assert again["receipt_number"] == first["receipt_number"] and again["amount"] == tax["total"]
    other = _refused(hub, "vehicle.record_payment", {**payment, "amount": str(Decimal(tax["total"]) + 1)})
    assert other["code"] == "conflict"


async def test_a_bill_paid_three_times_over_is_one_event(hub: dict[str, Any]) -> None:
    """The bank notifies three times; the hub publishes exactly one payment.paid, exact to the sen."""
    reference = f"MPP-{uuid.uuid4().hex[:10].upper()}"
    bill = _call(hub, "payment.create_bill", {
        "reference": reference, "amount": "123456.78", "customer_name": "SRI WAHYUNI",
        "description": "PKB G 1234 AB", "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
    })  # fmt: skip
    assert bill["status"] == "unpaid" and bill["amount"] == "123456.78"
    paid = hub["cli"]("sandbox", "pay", bill["virtual_account"], "--times", "3")
    assert paid.returncode == 0, paid.stderr
    status = _call(hub, "payment.bill_status", {"virtual_account": bill["virtual_account"]})
    assert status["status"] == "paid" and status["paid_amount"] == "123456.78"

    nc = await nats.connect(hub["nats_url"])
    try:
        sub = await nc.jetstream().subscribe("mpp.events.payment.paid", ordered_consumer=True)
        events = []
        try:
            while True:
                events.append(json.loads((await sub.next_msg(timeout=1)).data))
        except nats.errors.TimeoutError:
            pass
    finally:
        await nc.close()
    mine = [e for e in events if e["reference"] == reference]
    assert len(mine) == 1
    assert mine[0]["amount"] == "123456.78" and mine[0]["virtual_account"] == bill["virtual_account"]
    again = hub["cli"]("sandbox", "pay", bill["virtual_account"])
    assert again.returncode == 1  # the bank refuses to take a paid bill's money twice
    assert _refused(hub, "payment.bill_status", {"virtual_account": "99999999999999"})["code"] == "not_found"


def test_sandbox_sample_lists_cards_plates_and_bills(hub: dict[str, Any]) -> None:
    """`mpp-hub sandbox sample` gives something real to call at every agency."""
    samples = hub["samples"]
    assert samples["bpjs"]["card_number"] and samples["samsat"]["plate"] and samples["bank"]["virtual_account"]
    text = hub["cli"]("sandbox", "sample").stdout
    assert "bpjs card_number:" in text and "samsat plate:" in text and "bank virtual_account:" in text
