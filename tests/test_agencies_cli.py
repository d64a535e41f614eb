"""Every agency's operations end to end from `mpp-hub call`, against `mpp-hub up` with its sandboxes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import signal
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from hub import load_plugins
from hub._bus_access import BusAccess
from hub._providers import ProviderSandbox
from hub._roles import Role
from tests._plugin_venv import only_built_in_plugins
from tests._processes import free_port, run_cli, start_cli
from tests._servers import healthz
from tests._streams import messages_so_far
from tests._until import until_sync
from tests.conftest import purpose_for


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`mpp-hub up` with every built-in plugin and sandbox, and no other; `cli(...)` runs a command against it."""
    workdir = tmp_path_factory.mktemp("agencies")
    # Debug: the plugin's own line per agency call (which must carry the correlation id) is a debug line.
    env = {
        "MPP_HUB_DATA_DIR": str(workdir / "data"),
        "MPP_HUB_PURPOSE": "layanan-kependudukan",
        "MPP_HUB_LOG_LEVEL": "debug",
        **only_built_in_plugins(),
    }
    port = free_port()
    process = start_cli("up", "--port", str(port), "--nats-port", "-1", cwd=workdir, env=env)
    try:
        health = until_sync(lambda: healthz(f"http://127.0.0.1:{port}/healthz"), "/healthz to answer 200", 60)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate()[1]) from None

    def cli(*args: str) -> Any:
        return run_cli(*args, cwd=workdir, env=env)

    samples = json.loads(cli("sandbox", "sample", "--json").stdout)
    # Where NATS is comes from the state file `up` leaves (/healthz names no address); the credentials for it
    # from the bus secrets `up` made in its data dir.
    data_dir = workdir / "data"
    nats_url = json.loads((data_dir / "hub.json").read_text())["nats_url"]
    bus = BusAccess(nats_url, data_dir / "secrets" / "bus" / "credentials", data_dir / "secrets" / "bus" / "ca.pem")
    yield {
        "health": health, "cli": cli, "samples": samples, "bus": bus, "process": process,
        "http": f"http://127.0.0.1:{port}", "data_dir": data_dir, "keys": [],
    }  # fmt: skip
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


def _call(hub: dict[str, Any], operation: str, payload: dict[str, Any]) -> Any:
    result = hub["cli"]("call", operation, json.dumps(payload), "--purpose", purpose_for(operation))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _refused(hub: dict[str, Any], operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    result = hub["cli"]("call", operation, json.dumps(payload), "--json", "--purpose", purpose_for(operation))
    assert result.returncode == 1, result.stdout
    error: dict[str, Any] = json.loads(result.stdout)
    return error


def test_every_agency_is_up(hub: dict[str, Any]) -> None:
    """`up` starts all four agencies' sandboxes (the bank's two: Bank Jateng and Bank Contoh Syariah, each a
    provider on a port of its own) and plugins, and every link reports up."""
    every = {"dukcapil": "up", "bpjs": "up", "samsat": "up", "bank": "up", "bank_contoh": "up"}
    assert hub["health"]["agencies"] == every
    assert set(hub["samples"]) == set(every)
    sandboxes = json.loads((hub["data_dir"] / "hub.json").read_text())["sandboxes"]
    assert len({sandboxes["bank"], sandboxes["bank_contoh"]}) == 2


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

    nc = await hub["bus"].connect(Role.WORKER)  # workers read the events
    try:
        # The sandbox answered once the hub had taken all three notifications, so every event is stored by now.
        found = await messages_so_far(nc.jetstream(), "MPP_EVENTS", "mpp.events.payment.paid")
        events = [json.loads(msg.data) for msg in found]
    finally:
        await nc.close()
    mine = [e for e in events if e["reference"] == reference]
    assert len(mine) == 1
    assert mine[0]["amount"] == "123456.78" and mine[0]["virtual_account"] == bill["virtual_account"]
    again = hub["cli"]("sandbox", "pay", bill["virtual_account"])
    assert again.returncode == 1  # the bank refuses to take a paid bill's money twice
    assert _refused(hub, "payment.bill_status", {"virtual_account": "99999999999999"})["code"] == "not_found"


def test_a_consumer_default_bank_from_the_cli_issues_there_and_the_sandbox_pays_there(hub: dict[str, Any]) -> None:
    """`consumer add --provider` sets its bank for the requests that name none; `sandbox pay --bank` pays there."""
    name = f"desk-{uuid.uuid4().hex[:6]}"
    added = hub["cli"]("consumer", "add", name, "--allow", "payment.*", "--provider",
                       "payment.create_bill=bank_contoh", "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    assert created["providers"] == {"payment.create_bill": "bank_contoh"}
    hub["keys"].append(key := created["api_key"])
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": "pembayaran-pajak"}
    request = {
        "reference": f"MPP-{uuid.uuid4().hex[:10].upper()}", "amount": "50000.00", "customer_name": "SRI WAHYUNI",
        "description": "PKB G 1234 AB", "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
    }  # fmt: skip
    bill = httpx.post(f"{hub['http']}/v1/payment.create_bill", json=request, headers=headers)
    assert bill.status_code == 200 and bill.json()["bank"] == "bank_contoh", bill.text
    virtual_account = bill.json()["virtual_account"]
    assert hub["cli"]("sandbox", "pay", virtual_account).returncode == 1  # the first bank has no such bill
    paid = hub["cli"]("sandbox", "pay", virtual_account, "--bank", "bank_contoh")
    assert paid.returncode == 0, paid.stderr
    status = {"virtual_account": virtual_account, "provider": "bank_contoh"}
    assert _call(hub, "payment.bill_status", status)["status"] == "paid"
    unknown = hub["cli"]("sandbox", "pay", virtual_account, "--bank", "bank_lain")
    assert (
        unknown.returncode == 2 and "no sandbox bank 'bank_lain'" in unknown.stderr and "bank_contoh" in unknown.stderr
    )


def test_sandbox_sample_lists_cards_plates_and_bills(hub: dict[str, Any]) -> None:
    """`mpp-hub sandbox sample` gives something real to call at every agency."""
    samples = hub["samples"]
    assert samples["bpjs"]["card_number"] and samples["samsat"]["plate"] and samples["bank"]["virtual_account"]
    text = hub["cli"]("sandbox", "sample").stdout
    assert "bpjs card_number:" in text and "samsat plate:" in text and "bank virtual_account:" in text


def test_consumers_from_the_cli_call_over_http(hub: dict[str, Any]) -> None:
    """`consumer add` prints a key once; that key works over HTTP for its rights only; `revoke` ends it."""
    name = f"kiosk-{uuid.uuid4().hex[:6]}"
    added = hub["cli"]("consumer", "add", name, "--allow", "identity.*", "--quota", "100", "--json")
    assert added.returncode == 0, added.stderr
    key = json.loads(added.stdout)["api_key"]
    hub["keys"].append(key)
    listed = json.loads(hub["cli"]("consumer", "list", "--json").stdout)
    mine = next(c for c in listed if c["name"] == name)
    assert mine["allow"] == ["identity.*"] and mine["quota_per_minute"] == 100 and "api_key" not in mine
    assert key not in hub["cli"]("consumer", "list").stdout
    nik = hub["samples"]["dukcapil"]["nik"][1]
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": "layanan-kependudukan"}
    lookup = httpx.post(f"{hub['http']}/v1/identity.lookup", json={"nik": nik}, headers=headers)
    assert lookup.status_code == 200 and lookup.json()["nik"] == nik
    coverage = httpx.post(f"{hub['http']}/v1/health.coverage", json={"nik": nik}, headers=headers)
    assert coverage.status_code == 403
    assert hub["cli"]("consumer", "revoke", name).returncode == 0
    refused = until_sync(
        lambda: (
            r
            if (r := httpx.post(f"{hub['http']}/v1/identity.lookup", json={"nik": nik}, headers=headers)).status_code
            == 401
            else None
        ),
        "the revoked key to be refused",
    )
    assert refused.json()["code"] == "unauthorized"


def test_audit_who_read_and_verify_from_the_cli(hub: dict[str, Any]) -> None:
    """`audit who-read` lists who read a NIK and why; `audit verify` finds the log intact."""
    nik = hub["samples"]["dukcapil"]["nik"][2]
    for _ in range(2):
        _call(hub, "identity.lookup", {"nik": nik})
    reads = json.loads(hub["cli"]("audit", "who-read", nik, "--json").stdout)
    assert len([r for r in reads if r["operation"] == "identity.lookup" and r["outcome"] == "ok"]) >= 2
    assert all(r["subject_masked"] == f"{nik[:4]}**********{nik[-2:]}" and nik not in json.dumps(r) for r in reads)
    text = hub["cli"]("audit", "who-read", nik).stdout
    assert "identity.lookup" in text and "purpose=layanan-kependudukan" in text
    verified = hub["cli"]("audit", "verify")
    assert verified.returncode == 0 and "audit log intact" in verified.stdout, verified.stderr
    assert hub["cli"]("audit", "who-read", "12345").returncode == 2


async def test_audit_verify_names_a_forged_record(hub: dict[str, Any]) -> None:
    """A record slipped into the audit stream by hand (with a stolen worker credential, say) takes a leaf that is
    not the next: verify names it, and who-read refuses to answer from that log."""
    nc = await hub["bus"].connect(Role.WORKER)
    try:
        js = nc.jetstream()
        last = await js.get_last_msg("MPP_AUDIT", "mpp.audit.records")
        forged = {**json.loads(last.data), "consumer": "nobody", "outcome": "ok"}
        ack = await js.publish("mpp.audit.records", json.dumps(forged).encode())
    finally:
        await nc.close()
    report = hub["cli"]("audit", "verify", "--json")
    assert report.returncode == 1
    assert json.loads(report.stdout)["problem_seq"] == ack.seq
    human = hub["cli"]("audit", "verify")
    assert f"audit log BROKEN: record {ack.seq} claims leaf" in human.stderr
    refused = hub["cli"]("audit", "who-read", hub["samples"]["dukcapil"]["nik"][2])
    assert refused.returncode == 1 and "does not verify" in refused.stdout + refused.stderr


def test_an_application_from_http_to_done_seen_from_the_cli(hub: dict[str, Any]) -> None:
    """A renewal submitted over HTTP, paid at the sandbox bank, shows as done with its history in the CLI."""
    owner, plate = hub["samples"]["samsat"]["nik"][3], hub["samples"]["samsat"]["plate"][3]  # 3 years overdue
    key = (hub["data_dir"] / "secrets" / "cli.key").read_text().strip()
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": "pembayaran-pajak"}
    body = {"service": "vehicle-tax-renewal", "applicant_nik": owner, "channel": "mobile", "params": {"plate": plate}}
    created = httpx.post(f"{hub['http']}/v1/applications", json=body, headers=headers)
    assert created.status_code == 201, created.text
    number = created.json()["tracking_no"]

    def shown(status: str) -> dict[str, Any] | None:
        found = json.loads(hub["cli"]("applications", "show", number, "--json").stdout)
        return found if found["status"] == status else None

    waiting = until_sync(lambda: shown("awaiting_payment"), "the bill", 30)
    assert hub["cli"]("sandbox", "pay", waiting["details"]["virtual_account"], "--times", "3").returncode == 0
    until_sync(lambda: shown("done"), "the posting", 30)
    text = hub["cli"]("applications", "show", number).stdout
    assert number in text and "[done]" in text and "NTPD" in text
    listed = hub["cli"]("applications", "list", "--nik", owner).stdout
    assert number in listed and "done" in listed


async def _audited(bus: BusAccess, correlation_id: str) -> list[dict[str, Any]]:
    nc = await bus.connect(Role.CLI)  # the operator's role reads the audit
    try:
        js = nc.jetstream()
        last = await js.get_last_msg("MPP_AUDIT", "mpp.audit.records")
        sub = await js.subscribe("mpp.audit.records", ordered_consumer=True)
        found = []
        while True:
            msg = await sub.next_msg(timeout=5)
            record = json.loads(msg.data)
            if record.get("correlation_id") == correlation_id:
                found.append(record)
            if msg.metadata.sequence.stream >= (last.seq or 0):
                return found
    finally:
        await nc.close()


def test_one_correlation_id_from_edge_to_agency(hub: dict[str, Any]) -> None:
    """One id: in the HTTP answer, the traffic summary (`mpp-hub trace`), the audit record and the JSON logs
    of the plugin's agency call; `/metrics` and `/readyz` answer too."""
    cid = f"corr-{uuid.uuid4().hex[:12]}"
    key = (hub["data_dir"] / "secrets" / "cli.key").read_text().strip()
    nik = hub["samples"]["dukcapil"]["nik"][0]
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": "layanan-kependudukan", "X-Correlation-Id": cid}
    answer = httpx.post(f"{hub['http']}/v1/identity.lookup", json={"nik": nik}, headers=headers)
    assert answer.status_code == 200 and answer.headers["X-Correlation-Id"] == cid
    traced = json.loads(hub["cli"]("trace", cid, "--json").stdout)
    assert [(t["agency"], t["operation"], t["outcome"]) for t in traced] == [("dukcapil", "identity.lookup", "ok")]
    assert traced[0]["subject"] == f"{nik[:4]}**********{nik[-2:]}"
    audited = asyncio.run(_audited(hub["bus"], cid))
    assert [(r["operation"], r["outcome"]) for r in audited] == [("identity.lookup", "ok")]
    logs = [json.loads(line) for line in hub["process"].err_path.read_text().splitlines() if cid in line]
    assert any(line["event"] == "agency call" and line.get("agency") == "dukcapil" for line in logs), logs
    assert all(line["correlation_id"] == cid for line in logs)
    assert httpx.get(f"{hub['http']}/metrics").status_code == 401  # metrics want a key with ops.metrics
    metrics = httpx.get(f"{hub['http']}/metrics", headers={"Authorization": f"Bearer {key}"}).text
    assert 'mpp_requests_total{agency="dukcapil",code="ok",operation="identity.lookup"' in metrics
    assert httpx.get(f"{hub['http']}/readyz").json()["ready"] is True


def test_a_full_run_logs_no_key_secret_or_nik(hub: dict[str, Any]) -> None:
    """After everything above, the hub's own log lines carry no API key, agency secret or unmasked NIK."""
    process = hub["process"]
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    lines = err.splitlines()
    assert len(lines) > 20 and all(line.startswith("{") for line in lines), "the hub logs JSON lines"
    secrets = [(hub["data_dir"] / "secrets" / "cli.key").read_text().strip(), *hub["keys"]]
    plugins = load_plugins(only=set(hub["samples"]))
    for code, sandbox in plugins.sandboxes.items():
        model = plugins.agencies[sandbox.of if isinstance(sandbox, ProviderSandbox) else code].settings
        values = sandbox.settings("http://sandbox")
        secrets += [str(values[f]) for f, info in model.model_fields.items() if info.annotation is SecretStr]
    assert len(secrets) > 6
    for secret in secrets:
        assert all(secret not in line for line in lines), "a secret was logged"
    identifiers = re.compile(r"(?<!\d)(\d{16}|\d{13})(?!\d)")
    assert [line for line in lines if identifiers.search(line)] == []
