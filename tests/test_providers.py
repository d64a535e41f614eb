"""Several providers of one operation: two SNAP BI banks side by side, real HTTP to both sandboxes, real NATS.

The bank plugin serves Bank Jateng as provider ``bank`` and the fictional Bank Contoh Syariah as ``bank_contoh``
(each with its own keys, partner id, company code and sandbox); a request picks one with its ``provider`` field.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from contracts import BillRequest, ErrorCode, HubError, PaymentPaid, Resident
from hub import HubClient, load_plugins
from hub._audit import AuditLog
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._events import EVENTS_STREAM, event_subject
from hub._plugins import PluginError
from hub._providers import Providers
from hub._resilience import ResiliencePolicy
from hub._roles import Role
from hub._settings import load_settings
from hub.testing._bus import TestBus
from plugins.bank import _data as bank_data
from plugins.bank.client import BankSettings
from tests._stack import Grant, Sandboxes, Stack
from tests._streams import messages_so_far
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY, connect_client
from tests.plugins import acme_registry
from tests.test_applications import _owner_name, _vehicle_to_renew

PURPOSE = "pembayaran-pajak"
BANKS = ("bank", "bank_contoh")
CONSUMERS = {"portal": Grant(["payment.*", "application.*"]), "ops": Grant(["ops.dashboard"])}


def _bill(**extra: Any) -> dict[str, Any]:
    return {
        "reference": f"MPP-{uuid.uuid4().hex[:10].upper()}",
        "amount": "250000.00",
        "customer_name": "Siti Aminah",
        "description": "PKB G 1234 AB 2026",
        "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(),
        **extra,
    }


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    with Sandboxes(["bank"]) as started:
        yield started


@pytest.fixture
async def mall(bus: BusAccess, sandboxes: Sandboxes) -> AsyncIterator[Stack]:
    async with Stack(bus, agencies=["bank"], sandboxes=sandboxes, consumers=CONSUMERS, purpose=PURPOSE) as stack:
        yield stack


async def _create(mall: Stack, **extra: Any) -> httpx.Response:
    return await mall.http.post("/v1/payment.create_bill", json=_bill(**extra), headers=mall.headers("portal"))


# --- configuration ------------------------------------------------------------------------------------------------


def test_the_bank_plugin_brings_two_sandboxes_one_per_bank() -> None:
    """Sandbox mode has two banks, each its own sandbox: the second a provider of the bank plugin."""
    plugins = load_plugins(only={"bank"})
    assert sorted(plugins.sandboxes) == list(BANKS)
    jateng, contoh = (plugins.sandboxes[bank].settings("http://sandbox") for bank in BANKS)
    assert jateng["partner_service_id"] != contoh["partner_service_id"] and jateng["partner_id"] != contoh["partner_id"]
    assert jateng["private_key_pem"] != contoh["private_key_pem"]  # keys of its own, as a real second bank's


def test_providers_are_checked_before_anything_connects() -> None:
    """A provider named like another agency, or a default no provider serves, is refused with the fix named."""
    plugins = load_plugins(only={"bank", "dukcapil"})
    with pytest.raises(PluginError, match="also another agency"):
        Providers.configured(plugins, {"bank": {"providers": {"dukcapil": {}}}})
    with pytest.raises(PluginError, match=r"default_provider 'elsewhere' does not serve payment.create_bill"):
        Providers.configured(plugins, {"bank": {"default_provider": "elsewhere"}})
    only = Providers.configured(plugins, {"bank": {"providers": {"bank_contoh": {}}}})
    assert only.serving("payment.create_bill") == ["bank_contoh"]  # a table of nothing but providers: just those
    providers = Providers.configured(plugins, {"bank": {"base_url": "http://jateng", "providers": {"bank_contoh": {}}}})
    assert providers.serving("payment.create_bill") == list(BANKS)
    contoh = providers.get("bank_contoh")
    assert contoh is not None and contoh.values == {"provider": "bank_contoh"}  # the hub names it; no keys shared
    assert providers.default_for("payment.create_bill") == "bank"  # the first by name, unless configured
    table = {"base_url": "http://jateng", "providers": {"bank_contoh": {}}}
    chosen = Providers.configured(
        plugins, {"bank": {**table, "default_provider": {"payment.create_bill": "bank_contoh"}}}
    )
    assert (chosen.default_for("payment.create_bill"), chosen.default_for("payment.bill_status")) == BANKS[::-1]


# --- two banks side by side ---------------------------------------------------------------------------------------


async def test_two_banks_issue_bills_side_by_side(mall: Stack) -> None:
    """The default bank and the named one each issue a bill at their own company code, on their own sandbox;
    each answers the status of its own bill, and the catalogue lists both with the default."""
    jateng, contoh = await _create(mall), await _create(mall, provider="bank_contoh")
    assert (jateng.status_code, contoh.status_code) == (200, 200), (jateng.text, contoh.text)
    assert (jateng.json()["bank"], contoh.json()["bank"]) == BANKS
    assert jateng.json()["virtual_account"].startswith(bank_data.COMPANY_CODE)
    assert contoh.json()["virtual_account"].startswith(bank_data.CONTOH_COMPANY_CODE)
    references = {bank: mall.sandboxes.stats(bank)["bill_references"] for bank in BANKS}
    assert (
        jateng.json()["reference"] in references["bank"] and jateng.json()["reference"] not in references["bank_contoh"]
    )
    assert (
        contoh.json()["reference"] in references["bank_contoh"] and contoh.json()["reference"] not in references["bank"]
    )

    cid = uuid.uuid4().hex
    query = {"virtual_account": contoh.json()["virtual_account"], "provider": "bank_contoh"}
    headers = mall.headers("portal", **{"X-Correlation-Id": cid})
    status = await mall.http.post("/v1/payment.bill_status", json=query, headers=headers)
    assert status.status_code == 200 and status.json()["bank"] == "bank_contoh", status.text
    records = [r async for r in AuditLog(mall.hub.nc.jetstream(), TEST_AUDIT_KEY).records() if r.correlation_id == cid]
    assert [(r.agency, r.provider) for r in records] == [("bank", "bank_contoh")]  # the record names the bank

    services = (await mall.http.get("/v1/services", headers=mall.headers("portal"))).json()
    bank = next(a for a in services["agencies"] if a["code"] == "bank")
    assert [p["name"] for p in bank["providers"]] == list(BANKS)
    create = next(op for op in bank["operations"] if op["name"] == "payment.create_bill")
    assert (create["providers"], create["default_provider"]) == (list(BANKS), "bank")


async def test_an_unknown_provider_is_invalid_input_naming_the_banks(mall: Stack, bus: BusAccess) -> None:
    """Through the edge and straight on the bus, a bank the hub has not is invalid_input listing those it has."""
    answer = await _create(mall, provider="bank_lain")
    assert answer.status_code == 400 and answer.json()["code"] == ErrorCode.INVALID_INPUT.value, answer.text
    assert "providers: bank, bank_contoh" in answer.json()["message"]
    assert [issue["field"] for issue in answer.json()["issues"]] == ["provider"]  # the field a portal can point at
    async with await connect_client(bus, purpose=PURPOSE) as client:
        with pytest.raises(HubError, match="providers: bank, bank_contoh") as caught:
            await client.call("payment.create_bill", _bill(provider="bank_lain"))
    assert caught.value.code is ErrorCode.INVALID_INPUT


async def test_one_bank_down_leaves_the_other_serving(mall: Stack) -> None:
    """With the second bank's sandbox stopped, the first still bills; the second's bills are agency_unavailable,
    and the catalogue and /ops show which bank is down."""
    mall.sandboxes.servers["bank_contoh"].stop()
    assert (await _create(mall)).status_code == 200
    refused = await _create(mall, provider="bank_contoh")
    assert refused.status_code == 503 and refused.json()["code"] == ErrorCode.AGENCY_UNAVAILABLE.value, refused.text

    services = (await mall.http.get("/v1/services", headers=mall.headers("portal"))).json()
    bank = next(a for a in services["agencies"] if a["code"] == "bank")
    health = {p["name"]: p["health"]["status"] for p in bank["providers"]}
    assert health == {"bank": "up", "bank_contoh": "down"}
    assert bank["health"]["provider"] == "bank_contoh"  # the agency's health is its down provider's

    state = (await mall.http.get("/ops/state", headers=mall.headers("ops", purpose=None))).json()
    rows = {row["agency"]: row for row in state["agencies"]}
    assert (rows["bank"]["health"]["status"], rows["bank_contoh"]["health"]["status"]) == ("up", "down")
    assert rows["bank_contoh"]["of"] == "bank" and rows["bank_contoh"]["name"].endswith(": bank_contoh")


async def test_a_payment_at_the_second_bank_is_its_event(mall: Stack) -> None:
    """The second bank notifies on its own callback path, signed with its own key; the event names that bank."""
    bill = (await _create(mall, provider="bank_contoh")).json()
    async with httpx.AsyncClient(timeout=30) as http:
        paid = await http.post(
            f"{mall.sandboxes.url('bank_contoh')}/_sandbox/pay", json={"virtualAccountNo": bill["virtual_account"]}
        )
    delivery = paid.json()["deliveries"][0]
    assert delivery["status"] == 200, delivery  # the hub verified the second bank's signature and recorded it

    async def event() -> PaymentPaid | None:
        stored = await messages_so_far(mall.hub.nc.jetstream(), EVENTS_STREAM.name or "", event_subject("payment.paid"))
        found = [PaymentPaid.model_validate_json(m.data) for m in stored]
        return next((p for p in found if p.reference == bill["reference"]), None)

    payment = await until(event, "the second bank's payment.paid event")
    assert payment.bank == "bank_contoh" and payment.virtual_account == bill["virtual_account"]


async def test_a_consumers_default_bank_takes_its_requests_that_name_none(mall: Stack, bus: BusAccess) -> None:
    """A consumer whose record names a default bank for create_bill bills there unless a request names another."""
    name = f"kasir-{mall.tag}"
    nc = await bus.connect(Role.ADMIN)
    try:
        registry = await ConsumerRegistry.open(nc.jetstream())
        try:
            _, key = await registry.add(name, ["payment.*"], providers={"payment.create_bill": "bank_contoh"})
        finally:
            await registry.close()
    finally:
        await nc.close()
    await until(lambda: all(r.get(name) for r in mall.registries), f"{name} known to the edge and the worker")
    headers = {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}
    own = await mall.http.post("/v1/payment.create_bill", json=_bill(), headers=headers)
    named = await mall.http.post("/v1/payment.create_bill", json=_bill(provider="bank"), headers=headers)
    assert (own.json()["bank"], named.json()["bank"]) == ("bank_contoh", "bank"), (own.text, named.text)


# --- several agencies serving one operation -----------------------------------------------------------------------


async def test_two_agencies_serve_one_operation_and_the_configured_default_answers(bus: BusAccess) -> None:
    """ACME and Dukcapil both serve identity.lookup: the configured default answers a request that names none,
    the other stays reachable on its own subject, and both are in the catalogue."""
    plugins = load_plugins(only={"dukcapil"}, extra=[("acme", acme_registry)])
    settings = {"acme": {"default_provider": "acme"}}
    async with Stack(bus, agencies=["dukcapil"], plugins=plugins, settings=settings, edge=False) as stack:
        async with await connect_client(bus, purpose="layanan-kependudukan") as client:
            resident = await client.call("identity.lookup", {"nik": "3376015203850002"})
            assert isinstance(resident, Resident) and resident.full_name == "DEWI LESTARI"  # ACME's register
            catalogue = await client.catalogue()
            lookup = next(op for a in catalogue.agencies if a.code == "dukcapil" for op in a.operations
                          if op.name == "identity.lookup")  # fmt: skip
            assert (lookup.providers, lookup.default_provider) == (["acme", "dukcapil"], "acme")
            named = HubClient(client.nc, issuer=client.issuer, consumer=client.consumer, purpose=client.purpose,
                              providers={"identity.lookup": "dukcapil"})  # fmt: skip
            with pytest.raises(HubError) as caught:  # Dukcapil has no such resident: the process default was used
                await named.call("identity.lookup", {"nik": "3376015203850002"})
            assert caught.value.code is ErrorCode.NOT_FOUND and caught.value.error.agency == "dukcapil"
        assert sorted(stack.hub.services) == ["acme", "dukcapil"]


# --- a renewal paid at the citizen's bank of choice ---------------------------------------------------------------


@pytest.fixture
async def own_bus(tmp_path: Path) -> AsyncIterator[BusAccess]:
    """A bus of the test's own: a process engine on the shared bus would first work off other tests' applications."""
    server = TestBus(tmp_path / "nats")
    yield await server.astart()
    await server.astop()


@pytest.fixture
async def renewals(own_bus: BusAccess) -> AsyncIterator[tuple[Stack, Sandboxes]]:
    """The renewal's agencies (the bank's two sandboxes among them), its process and the edge, on a bus of its own."""
    agencies = ("dukcapil", "samsat", "bank")
    with Sandboxes(agencies) as sandboxes:
        async with Stack(own_bus, agencies=agencies, processes=["vehicle_tax_renewal"], sandboxes=sandboxes,
                         consumers=CONSUMERS, purpose=PURPOSE) as mall:  # fmt: skip
            yield mall, sandboxes


async def test_a_process_default_bank_takes_the_renewals_that_name_none(own_bus: BusAccess) -> None:
    """A process may have its own default provider: a renewal naming no bank is billed there, not at the
    catalogue's default (Bank Jateng)."""
    agencies = ("dukcapil", "samsat", "bank")
    plugins = load_plugins(only={*agencies, "vehicle_tax_renewal"})
    renewal = plugins.processes["vehicle-tax-renewal"]
    plugins.processes["vehicle-tax-renewal"] = dataclasses.replace(
        renewal, providers={"payment.create_bill": "bank_contoh"}
    )
    with Sandboxes(agencies) as sandboxes:
        async with Stack(own_bus, agencies=agencies, plugins=plugins, sandboxes=sandboxes, consumers=CONSUMERS,
                         purpose=PURPOSE) as mall:  # fmt: skip
            nik, plate = _vehicle_to_renew()
            tracking_no = await _apply(mall, nik, plate, None)
            bill = (await _reach(mall, tracking_no, "awaiting_payment"))["details"]
        assert bill["bank"] == "bank_contoh"
        assert tracking_no in sandboxes.stats("bank_contoh")["bill_references"]
        assert tracking_no not in sandboxes.stats("bank")["bill_references"]


async def _apply(mall: Stack, nik: str, plate: str, bank: str | None) -> str:
    params = {"plate": plate, "bank": bank} if bank else {"plate": plate}
    body = {"service": "vehicle-tax-renewal", "applicant_nik": nik, "channel": "kiosk", "params": params}
    submitted = await mall.http.post("/v1/applications", json=body, headers=mall.headers("portal"))
    assert submitted.status_code == 201, submitted.text
    tracking_no: str = submitted.json()["tracking_no"]
    return tracking_no


async def test_a_renewal_paid_at_the_second_bank_posts_once_to_samsat(renewals: tuple[Stack, Sandboxes]) -> None:
    """The application names bank_contoh: the bill is that bank's, its payment there finishes the renewal, and
    Samsat gets exactly one posting; Bank Jateng never saw the bill."""
    mall, sandboxes = renewals
    nik, plate = _vehicle_to_renew()
    tracking_no = await _apply(mall, nik, plate, "bank_contoh")
    bill = (await _reach(mall, tracking_no, "awaiting_payment"))["details"]
    assert bill["bank"] == "bank_contoh" and bill["virtual_account"].startswith(bank_data.CONTOH_COMPANY_CODE)
    async with httpx.AsyncClient(timeout=30) as http:
        pay = {"virtualAccountNo": bill["virtual_account"], "times": 2}  # a repeated notification, too
        assert (await http.post(f"{sandboxes.url('bank_contoh')}/_sandbox/pay", json=pay)).status_code == 200
    await _reach(mall, tracking_no, "done")
    assert tracking_no in sandboxes.stats("bank_contoh")["bill_references"]
    assert tracking_no not in sandboxes.stats("bank")["bill_references"]
    postings = [ref for ref, posted in sandboxes.stats("samsat")["payments"].items() if posted == plate]
    assert len(postings) == 1 and _owner_name(plate)


async def test_a_renewal_at_a_bank_the_hub_has_not_is_rejected_saying_so(renewals: tuple[Stack, Sandboxes]) -> None:
    """A bank the mall does not have ends the application, rejected with a message the citizen can act on."""
    mall, sandboxes = renewals
    nik, plate = _vehicle_to_renew()
    tracking_no = await _apply(mall, nik, plate, "bank_lain")
    rejected = await _reach(mall, tracking_no, "rejected")
    assert "Bank bank_lain tidak melayani" in rejected["history"][-1]["message"]
    assert all(tracking_no not in sandboxes.stats(bank)["bill_references"] for bank in BANKS)


async def _reach(mall: Stack, tracking_no: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        answer = await mall.http.get(f"/v1/applications/{tracking_no}", headers=mall.headers("portal"))
        application: dict[str, Any] = answer.json()
        if application["status"] == "rejected" != status:
            raise AssertionError(application["history"][-1]["message"])
        return application if application["status"] == status else None

    return await until(reached, f"{tracking_no} to become {status}", 60)


# --- the docs' examples -------------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _block(page: str, heading: str, language: str) -> str:
    """The first ``language`` code block under ``heading`` on a docs page."""
    section = (DOCS / page).read_text(encoding="utf-8").partition(heading)[2]
    return section.partition(f"```{language}\n")[2].partition("```")[0]


@pytest.mark.parametrize(
    ("page", "heading"),
    [("configuration.md", "## Providers: several banks"), ("agencies/bank.md", "## Several banks")],
)
def test_the_documented_provider_tables_configure_two_banks(page: str, heading: str) -> None:
    """The TOML the docs show configures the two banks it says, with the defaults it says, in keys the bank
    plugin has; a resilience table in it is a valid policy."""
    config = tomllib.loads(_block(page, heading, "toml"))
    providers = Providers.configured(load_plugins(only={"bank"}), config["plugins"])
    assert providers.serving("payment.create_bill") == list(BANKS)
    chosen = config["plugins"]["bank"].get("default_provider", {}).get("payment.create_bill", "bank")
    assert providers.default_for("payment.create_bill") == chosen and providers.default_for("payment.bill_status")
    for provider in providers:
        assert set(provider.values) <= set(BankSettings.model_fields), provider.name
    for overrides in config.get("resilience", {}).values():
        ResiliencePolicy.model_validate(overrides)


def test_the_documented_environment_variable_reaches_the_providers_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider's settings from the environment; digits for a text setting stay its text (the company code)."""
    monkeypatch.setenv("MPP_HUB_CONFIG", str(DOCS / "no-such-file.toml"))
    monkeypatch.setenv("MPP_HUB_PLUGINS__BANK__PROVIDERS__BANK_CONTOH__CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("MPP_HUB_PLUGINS__BANK__PROVIDERS__BANK_CONTOH__PARTNER_SERVICE_ID", "77456")
    plugins = load_settings().plugins
    assert plugins["bank"]["providers"]["bank_contoh"]["client_secret"] == "s3cret"
    contoh = Providers.configured(load_plugins(only={"bank"}), plugins).get("bank_contoh")
    assert contoh is not None and contoh.values["partner_service_id"] == "77456"


def test_the_documented_bill_request_names_its_bank() -> None:
    request = BillRequest.model_validate_json(_block("contract.md", "## Providers", "json"))
    assert request.provider == "bank_contoh"
    with pytest.raises(ValidationError, match="provider"):
        BillRequest.model_validate({**request.model_dump(mode="json"), "provider": "Bank Contoh!"})
