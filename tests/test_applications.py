"""Applications and the vehicle tax renewal, end to end: HTTP edge, real NATS, the sandboxes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.client import JetStreamContext
from pydantic import TypeAdapter, ValidationError

from contracts import ApplicationEvent, Mask, TrackingNumber, new_tracking_number, parse_nik
from hub import SandboxContext, load_plugins
from hub._audit import AuditLog, AuditRecord
from hub._bus_access import BusAccess
from hub._dlq import DeadLetter, DeadLetters, NoSuchLetter
from hub._process import _PAYMENTS_DURABLE as PAYMENTS_DURABLE
from hub._roles import Role
from hub._runtime import Hub
from hub.testing._bus import TestBus
from plugins._synthetic import residents
from plugins.bank import sandbox as bank_sandbox
from plugins.samsat import _data as samsat_data
from tests._stack import Grant, Sandboxes, Stack
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY, Clock, connect

AGENCIES = ("dukcapil", "samsat", "bank")
PROCESSES = ("vehicle_tax_renewal",)
TRACKING = TypeAdapter(TrackingNumber)
#: How the hub shows a NIK it no longer needs in clear.
NIK_MASK = Mask(keep_start=4, keep_end=2)


@dataclass
class Mall:
    """The renewal's stack (fresh sandboxes, the bank's on a clock the test moves) and its desk consumer."""

    stack: Stack
    clock: Clock

    @property
    def hub(self) -> Hub:
        return self.stack.hub

    @property
    def http(self) -> httpx.AsyncClient:
        return self.stack.http

    @property
    def sandboxes(self) -> Sandboxes:
        return self.stack.sandboxes

    def headers(self) -> dict[str, str]:
        return self.stack.headers("desk")


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[BusAccess]:
    """A bus of each test's own. A hub started on the session's bus would first work off every earlier test's
    open applications, whose sandboxes are gone, and a test late in the module would wait behind them."""
    server = TestBus(tmp_path / "nats")
    yield await server.astart()
    await server.astop()


@pytest.fixture
async def mall(bus: BusAccess) -> AsyncIterator[Mall]:
    async with open_mall(bus) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_mall(bus: BusAccess) -> AsyncIterator[Mall]:
    """A hub with the renewal's agencies (fresh sandboxes), its HTTP edge, and a desk consumer, on ``bus``."""
    context, clock = SandboxContext(), Clock()
    bank = bank_sandbox.create_app(bank_sandbox.SandboxConfig(clock=clock), context)
    with Sandboxes(AGENCIES, apps={"bank": bank}, context=context) as sandboxes:
        desk = {"desk": Grant(["application.*"])}
        async with Stack(bus, agencies=AGENCIES, processes=PROCESSES, sandboxes=sandboxes, consumers=desk) as stack:
            yield Mall(stack, clock)


def _vehicle_to_renew() -> tuple[str, str]:
    """(owner NIK, plate) of a vehicle in arrears; every test gets fresh sandboxes, so the same one serves all."""
    samples = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()
    return samples["nik"][0], samples["plate"][0]  # the samsat sandbox lists an overdue vehicle first


def _owner_name(plate: str) -> str:
    """The name the samsat sandbox registers the vehicle under (the bill's customer name)."""
    return samsat_data.by_plate()[plate].owner_name


async def _submit(mall: Mall, nik: str, plate: str, channel: str = "kiosk") -> dict[str, Any]:
    body = {"service": "vehicle-tax-renewal", "applicant_nik": nik, "channel": channel, "params": {"plate": plate}}
    answer = await mall.http.post("/v1/applications", json=body, headers=mall.headers())
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def _until(mall: Mall, tracking_no: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
    """Until the application reaches one of ``statuses``.

    An agency call that timed out on a loaded machine leaves the step paused for the process's retry interval
    (15 s), which a test would only wait out: a paused step is kicked on at once instead, once per pause.
    """
    kicked_at: set[int] = set()

    async def reached() -> dict[str, Any] | None:
        answer = await mall.http.get(f"/v1/applications/{tracking_no}", headers=mall.headers())
        application: dict[str, Any] = answer.json()
        if application["status"] in statuses:
            return application
        if _paused(application) and len(application["history"]) not in kicked_at:
            kicked_at.add(len(application["history"]))
            await mall.hub.engine.kick(tracking_no)
        return None

    return await until(reached, f"{tracking_no} to become {' or '.join(statuses)}", timeout)


def _paused(application: dict[str, Any]) -> bool:
    """Whether the application waits out an agency outage (the engine's "sedang terganggu" message)."""
    history = application["history"]
    return application["status"] == "in_progress" and bool(history) and "terganggu" in history[-1]["message"]


async def _pay(mall: Mall, virtual_account: str, times: int = 1) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{mall.sandboxes.url('bank')}/_sandbox/pay", json={"virtualAccountNo": virtual_account, "times": times}
        )
    assert answer.status_code == 200, answer.text


def _stats(mall: Mall, code: str) -> dict[str, Any]:
    return mall.sandboxes.stats(code)


def test_tracking_numbers_catch_typos() -> None:
    """Tracking numbers read unambiguously, normalise what people type, and a mistyped character is caught."""
    number = new_tracking_number()
    assert TRACKING.validate_python(number.lower().replace("-", " ")) == number
    assert TRACKING.validate_python(number.replace("0", "O").replace("1", "I")) == number
    wrong = number[:2] + ("X" if number[2] != "X" else "Y") + number[3:]
    with pytest.raises(ValidationError, match="mistyped"):
        TRACKING.validate_python(wrong)
    with pytest.raises(ValidationError, match="9 characters"):
        TRACKING.validate_python(number[:-2])


async def test_renewal_runs_to_done_with_every_step_in_its_history(mall: Mall, bus: BusAccess) -> None:
    """Submit → verified → priced → billed → paid (three notifications) → posted once → done; each step's audit
    record names the channel the citizen applied through."""
    nik, plate = _vehicle_to_renew()
    application = await _submit(mall, nik, plate)
    assert application["status"] == "submitted" and application["title"].startswith("Perpanjangan")
    waiting = await _until(mall, application["tracking_no"], "awaiting_payment")
    bill = waiting["details"]
    assert bill["virtual_account"] and bill["amount"] == waiting["details"]["total"]
    await _pay(mall, bill["virtual_account"], times=3)
    done = await _until(mall, application["tracking_no"], "done")
    steps = [(h["step"], h["status"]) for h in done["history"]]
    assert steps == [
        ("submitted", "submitted"),
        ("price", "in_progress"),  # identity verified, on to pricing
        ("bill", "in_progress"),  # priced, on to billing
        ("await_payment", "awaiting_payment"),
        ("post", "in_progress"),  # paid, on to posting
        ("post", "done"),
    ]
    assert all(h["message"] for h in done["history"]) and done["details"]["receipt_number"]
    assert _stats(mall, "bank")["bill_references"].count(application["tracking_no"]) == 1
    postings = [ref for ref, p in _stats(mall, "samsat")["payments"].items() if p == plate]
    assert len(postings) == 1
    steps_audited = [
        r for r in await _records_of(bus, application["tracking_no"]) if (r.consumer or "").startswith("process-")
    ]
    assert steps_audited and {r.channel for r in steps_audited} == {"kiosk"}  # the channel the citizen came by


async def _records_of(bus: BusAccess, correlation_id: str) -> list[AuditRecord]:
    nc = await connect(bus, Role.CLI)
    try:
        log = AuditLog(nc.jetstream(), TEST_AUDIT_KEY)
        return [r async for r in log.records() if r.correlation_id == correlation_id]
    finally:
        await nc.close()


async def test_status_changes_are_events(mall: Mall, bus: BusAccess) -> None:
    """Every status an application passes through is published once as application.<status>, with ids and the
    NIK masked: no NIK, no name (the events stream keeps 90 days)."""
    nik, plate = _vehicle_to_renew()
    application = await _submit(mall, nik, plate)
    await _until(mall, application["tracking_no"], "awaiting_payment")
    nc = await connect(bus, Role.WORKER)  # workers read the events
    try:
        js = nc.jetstream()
        # Everything published up to now, to the last message: no wait that would only prove nothing came.
        last = (await js.get_last_msg("MPP_EVENTS", "mpp.events.application.>")).seq or 0
        sub = await js.subscribe("mpp.events.application.>", ordered_consumer=True)
        seen, events = [], []
        while True:
            msg = await sub.next_msg(timeout=10)
            if json.loads(msg.data)["tracking_no"] == application["tracking_no"]:
                seen.append(msg.subject.rsplit(".", 1)[-1])
                events.append(msg.data)
            if msg.metadata.sequence.stream >= last:
                break
    finally:
        await nc.close()
    assert seen == ["submitted", "in_progress", "awaiting_payment"]
    parsed = [ApplicationEvent.model_validate_json(data) for data in events]
    assert [e.status.value for e in parsed] == seen and {e.applicant_nik for e in parsed} == {NIK_MASK.apply(nik)}
    assert parsed[-1].step == "await_payment" and "virtual account" in parsed[-1].message
    assert not any(nik.encode() in data or _owner_name(plate).encode() in data for data in events)


async def test_identity_mismatch_is_rejected_with_the_reason(mall: Mall) -> None:
    """Someone who does not own the vehicle is refused, and told why."""
    owner, plate = _vehicle_to_renew()
    stranger = next(n for n in residents.samples(10) if n != owner)
    application = await _submit(mall, stranger, plate)
    rejected = await _until(mall, application["tracking_no"], "rejected")
    assert "bukan pemilik kendaraan" in rejected["history"][-1]["message"]
    assert application["tracking_no"] not in _stats(mall, "bank")["bill_references"]


async def test_an_expired_bill_ends_as_expired(mall: Mall) -> None:
    """A bill not paid before it expires closes the application as expired."""
    nik, plate = _vehicle_to_renew()
    application = await _submit(mall, nik, plate)
    await _until(mall, application["tracking_no"], "awaiting_payment")
    mall.clock.now += dt.timedelta(days=2)
    await mall.hub.engine.kick(application["tracking_no"])  # the timer would, within its poll interval
    expired = await _until(mall, application["tracking_no"], "expired")
    assert "kedaluwarsa" in expired["history"][-1]["message"]


async def test_samsat_outage_during_posting_waits_then_completes(mall: Mall) -> None:
    """With Samsat down after the payment, the application waits (and says so) and finishes when it is back."""
    nik, plate = _vehicle_to_renew()
    application = await _submit(mall, nik, plate)
    waiting = await _until(mall, application["tracking_no"], "awaiting_payment")
    mall.sandboxes.servers["samsat"].stop()
    try:
        await _pay(mall, waiting["details"]["virtual_account"])

        async def paused() -> dict[str, Any] | None:
            answer = await mall.http.get(f"/v1/applications/{application['tracking_no']}", headers=mall.headers())
            current: dict[str, Any] = answer.json()
            return current if _paused(current) else None

        current = await until(paused, "the posting to wait for Samsat and say so", timeout=30)
        assert current["status"] == "in_progress"
    finally:
        mall.sandboxes.restart("samsat")
    await mall.hub.engine.kick(application["tracking_no"])  # rather than wait out the retry interval
    done = await _until(mall, application["tracking_no"], "done")
    assert done["details"]["receipt_number"]


async def test_citizen_lookup_needs_number_and_birth_date(mall: Mall) -> None:
    """Right number + birth date shows the status; a wrong number, a wrong date and a typo reveal nothing."""
    nik, plate = _vehicle_to_renew()
    application = await _submit(mall, nik, plate)
    born = parse_nik(nik).birth_date.isoformat()
    number = application["tracking_no"]
    found = await mall.http.post(
        "/v1/applications/lookup", json={"tracking_no": number, "birth_date": born}, headers=mall.headers()
    )
    assert found.status_code == 200 and found.json()["tracking_no"] == number
    assert "applicant_nik" not in found.json() and nik not in found.text
    other_day = (parse_nik(nik).birth_date + dt.timedelta(days=1)).isoformat()
    wrong_date = await mall.http.post(
        "/v1/applications/lookup", json={"tracking_no": number, "birth_date": other_day}, headers=mall.headers()
    )
    unknown = await mall.http.post(
        "/v1/applications/lookup",
        json={"tracking_no": new_tracking_number(), "birth_date": born},
        headers=mall.headers(),
    )
    assert wrong_date.status_code == unknown.status_code == 404
    assert wrong_date.json()["message"] == unknown.json()["message"]
    typo = number[:1] + ("X" if number[1] != "X" else "Y") + number[2:]
    mistyped = await mall.http.post(
        "/v1/applications/lookup", json={"tracking_no": typo, "birth_date": born}, headers=mall.headers()
    )
    assert mistyped.status_code == 400 and "mistyped" in mistyped.json()["message"]


async def test_a_citizens_applications_are_listed(mall: Mall) -> None:
    """The desk sees every application of one NIK, and no one else's."""
    nik, plate = _vehicle_to_renew()
    first, second = await _submit(mall, nik, plate), await _submit(mall, nik, plate, channel="desk")
    listed = (await mall.http.get(f"/v1/citizens/{nik}/applications", headers=mall.headers())).json()
    assert [a["tracking_no"] for a in listed][-2:] == [first["tracking_no"], second["tracking_no"]]
    assert all(a["applicant_nik"] == NIK_MASK.apply(nik) for a in listed)  # the desk asked by NIK: it has it


async def test_bad_applications_are_refused_clearly(mall: Mall) -> None:
    """An unknown service or a bad plate is a 400 naming the field; rights apply."""
    nik, _ = _vehicle_to_renew()
    body = {"service": "vehicle-tax-renewal", "applicant_nik": nik, "channel": "kiosk", "params": {"plate": "12"}}
    bad_plate = await mall.http.post("/v1/applications", json=body, headers=mall.headers())
    assert bad_plate.status_code == 400 and bad_plate.json()["issues"][0]["field"] == "params.plate"
    unknown = await mall.http.post("/v1/applications", json={**body, "service": "passport"}, headers=mall.headers())
    assert unknown.status_code == 400 and "vehicle-tax-renewal" in unknown.json()["message"]
    stranger = await mall.http.post("/v1/applications", json=body)
    assert stranger.status_code == 401


async def _dead_letter(hub: Hub, subject: str, timeout: float = 20) -> DeadLetter:
    letters = hub.dead_letters
    assert letters is not None

    async def buried() -> DeadLetter | None:
        return next(
            (x for x in await letters.letters() if x.subject == subject and x.headers.get("Mpp-Test") == subject), None
        )

    return await until(buried, f"the message on {subject} in the dead-letter stream", timeout)


async def test_an_unreadable_payment_event_is_dead_lettered_not_dropped(mall: Mall, bus: BusAccess) -> None:
    """A payment event no consumer can read waits in the dead-letter stream, its card number masked."""
    nc = await connect(bus, Role.EDGE)  # the edge publishes what agencies' callbacks report
    try:
        garbage = json.dumps({"bank": "jateng", "virtual_account": "8808123456789012", "amount": 1.5}).encode()
        subject = "mpp.events.payment.paid"
        await nc.jetstream().publish(subject, garbage, headers={"Mpp-Test": subject})
        letter = await _dead_letter(mall.hub, subject)
    finally:
        await nc.close()
    assert letter.stream == "MPP_EVENTS" and letter.data == garbage
    assert "payment.paid event" in letter.reason and "8808123456789012" not in letter.preview()


async def _payments_settled(js: JetStreamContext, timeout: float = 30) -> None:
    """Until the hub's payment consumer has taken and acknowledged every payment event up to the last one."""
    last = (await js.get_last_msg("MPP_EVENTS", "mpp.events.payment.paid")).seq

    async def settled() -> bool:
        info = await js.consumer_info("MPP_EVENTS", PAYMENTS_DURABLE)
        return info.delivered.stream_seq >= last and not info.num_pending and not info.num_ack_pending

    await until(settled, f"the payment consumer to acknowledge every payment event up to #{last}", timeout)


async def test_a_replayed_payment_posts_once(mall: Mall, bus: BusAccess) -> None:
    """The payment event of a finished renewal, dead-lettered and replayed twice at once: still one posting."""
    nik, plate = _vehicle_to_renew()
    application = await _submit(mall, nik, plate)
    waiting = await _until(mall, application["tracking_no"], "awaiting_payment")
    await _pay(mall, waiting["details"]["virtual_account"])
    done = await _until(mall, application["tracking_no"], "done")

    nc = await connect(bus, Role.WORKER)
    try:
        events = await nc.jetstream().pull_subscribe("mpp.events.payment.paid", durable=None)
        while True:
            (msg,) = await events.fetch(1, timeout=5)
            if json.loads(msg.data).get("reference") == application["tracking_no"]:
                break
        await mall.hub.dead_letters.bury(msg, "test: as if its consumer had given up")
        letter = next(
            letter for letter in await mall.hub.dead_letters.letters()
            if letter.stream == "MPP_EVENTS" and json.loads(letter.data).get("reference") == application["tracking_no"]
        )  # fmt: skip
        # Replays are the operator's (`mpp-hub dlq replay`, the CLI role), two of them racing.
        cli = await connect(bus, Role.CLI)
        try:
            letters, audit = DeadLetters(cli.jetstream()), AuditLog(cli.jetstream(), TEST_AUDIT_KEY)
            replays = [letters.replay(letter.seq, audit=audit, operator="ops") for _ in range(2)]
            replayed = await asyncio.gather(*replays, return_exceptions=True)
        finally:
            await cli.close()
        assert any(isinstance(r, DeadLetter) for r in replayed), replayed
        assert all(isinstance(r, DeadLetter | NoSuchLetter) for r in replayed), replayed
        await _payments_settled(nc.jetstream())  # a double posting, if there were one, has happened by now
    finally:
        await nc.close()
    after = (await mall.http.get(f"/v1/applications/{application['tracking_no']}", headers=mall.headers())).json()
    assert after["status"] == "done" and after["history"] == done["history"]
    postings = [ref for ref, p in _stats(mall, "samsat")["payments"].items() if p == plate]
    assert len(postings) == 1
