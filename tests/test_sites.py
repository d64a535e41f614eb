"""MPP bergerak, end to end: a hub and a site (a van) on loopback, the leaf link cut and restored.

The link runs through a TCP relay the test cuts (the network between the van and the mall); everything else is
the real thing: the hub's nats-server with its leaf listener, the site's nats-server as a leaf node with its own
JetStream domain, the site's edge over HTTP, the hub's worker and edge, the agencies' sandboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import pytest

from contracts import SiteVisit, SkmElement
from hub import SandboxContext, load_plugins
from hub._asgi import AsgiServer
from hub._audit import AuditLog
from hub._bus_access import BusAccess
from hub._kv_watch import current_entries
from hub._queue import DEFAULT_QUEUE_SERVICES, FRONT_BUCKET
from hub._roles import SITE_STREAM, Role
from hub._site import Site
from hub._site_edge import create_site_app
from hub._site_schedule import SiteSchedule
from hub._site_state import SiteBook
from hub._site_sync import provision_sites
from hub._sites import load_sites, register_site
from hub._survey import SurveyBox
from hub._time import WIB, utcnow
from hub.testing._bus import TestBus
from plugins.bank import sandbox as bank_sandbox
from plugins.samsat import _data as samsat_data
from tests._stack import Grant, Sandboxes, Stack
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY, Clock

AGENCIES = ("dukcapil", "samsat", "bank")
VAN = "van-1"


class LinkRelay:
    """A TCP relay between the site's nats-server and the hub's leaf listener, which the test cuts and restores."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("tls://").rsplit(":", 1)
        self._upstream = (host, int(port))
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"tls://127.0.0.1:{self.port}"

    async def cut(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@dataclass
class Van:
    site: Site
    http: httpx.AsyncClient
    server: AsgiServer
    key: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Purpose": "layanan-kependudukan"}

    async def info(self) -> dict[str, Any]:
        answer = await self.http.get("/v1/site", headers=self.headers())
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def open_van(bundle: Path, data: Path, key: str) -> AsyncIterator[Van]:
    site = Site(bundle, data, report_every=0.3)
    await site.start()
    app, edge = create_site_app(site, DEFAULT_QUEUE_SERVICES, load_plugins(only={"vehicle_tax_renewal"}).processes)
    await edge.start()
    server = AsgiServer(app)
    url = await server.start()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        try:
            yield Van(site, http, server, key)
        finally:
            await server.stop()
            await site.stop()


@pytest.fixture
async def hub_bus(tmp_path: Path) -> AsyncIterator[tuple[TestBus, BusAccess]]:
    bus = TestBus(tmp_path / "hub", leaf_listen="127.0.0.1:-1")
    access = await bus.astart()
    yield bus, access
    await bus.astop()


async def _register(bus: TestBus, access: BusAccess, stack: Stack, out: Path, hub_leaf: str) -> None:
    registry = next(r for r in stack.registries)
    record = registry.get(stack.name("van"))
    assert record is not None
    register_site(
        bus.embedded._data_dir, name=VAN, prefix="V1", ticket_letter="V", consumer_records=[record], hub_leaf=hub_leaf,
        audit_key=TEST_AUDIT_KEY, bus_ca=bus.embedded.ca.cert_file, out=out,
    )  # fmt: skip
    bus.embedded.reload()
    admin = await access.connect(Role.ADMIN)
    try:
        await provision_sites(admin.jetstream(), load_sites(bus.embedded._data_dir))
    finally:
        await admin.close()
    await stack.hub.refresh_sites()


async def test_a_van_keeps_serving_offline_and_the_hub_processes_everything_once(
    hub_bus: tuple[TestBus, BusAccess], tmp_path: Path
) -> None:
    bus, access = hub_bus
    context, clock = SandboxContext(), Clock()
    bank = bank_sandbox.create_app(bank_sandbox.SandboxConfig(clock=clock), context)
    rights = ["application.*", "queue.take", "queue.read", "queue.desk.*", "survey.submit", "identity.*"]
    with Sandboxes(AGENCIES, apps={"bank": bank}, context=context) as sandboxes:
        async with Stack(
            access, agencies=AGENCIES, processes=("vehicle_tax_renewal",), sandboxes=sandboxes,
            consumers={"desk": Grant(["*"]), "van": Grant(rights)},
        ) as stack:  # fmt: skip
            relay = LinkRelay(await bus.embedded.leaf_url())
            link = await relay.start()
            try:
                await _register(bus, access, stack, tmp_path / "bundle", link)
                await _serve_offline_and_sync(stack, relay, tmp_path, sandboxes)
            finally:
                await relay.cut()


async def _serve_offline_and_sync(stack: Stack, relay: LinkRelay, tmp_path: Path, sandboxes: Sandboxes) -> None:
    samples = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()
    bundle, data = tmp_path / "bundle", tmp_path / "van"
    async with open_van(bundle, data, stack.keys["van"]) as van:
        await until(lambda: _online(van, True), "the van to be online")
        await _the_van_knows_todays_services(van, stack.bus)
        await _the_site_cannot_reach_what_is_not_its_own(van, stack.bus, tmp_path / "bundle")
        await relay.cut()
        await until(lambda: _online(van, False), "the van to see the link down")

        # Offline: an identity lookup answers at once that the site is offline, naming it.
        started = time.monotonic()
        lookup = await van.http.post("/v1/identity.lookup", json={"nik": samples["nik"][0]}, headers=van.headers())
        assert lookup.status_code == 503 and lookup.json()["site"] == VAN, lookup.text
        assert lookup.json()["code"] == "agency_unavailable" and time.monotonic() - started < 5
        assert samples["nik"][0] not in lookup.text

        for body, field in (({"service": "kremasi"}, "service"), ({"params": {}}, "params.plate")):
            refused = await van.http.post(
                "/v1/applications", headers=van.headers(),
                json={"service": "vehicle-tax-renewal", "applicant_nik": samples["nik"][0], "channel": "mobile"} | body,
            )  # fmt: skip
            assert refused.status_code == 400 and field in refused.text and samples["nik"][0] not in refused.text
        renewals = await _apply(van, _overdue_vehicles(20))
        first = renewals[0]["tracking_no"]
        pending = await van.http.get(f"/v1/applications/{first}", headers=van.headers())
        assert pending.status_code == 200 and pending.json()["status"] == "pending_sync", pending.text
        tickets = [await _ticket(van, ("dukcapil", "samsat", "bpjs")[i % 3]) for i in range(30)]
        served = [await _serve_at_the_van_desk(van) for _ in range(5)]  # the first five, called and served
        for place in tickets[:10]:
            answer = await van.http.post(
                "/v1/survey", json={"ticket_id": place["ticket"]["id"], "code": place["code"],
                                    "answers": {element.value: 4 for element in SkmElement}},
                headers=van.headers(),
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
        held = (await van.site.nc.jetstream().stream_info(SITE_STREAM)).state.messages

    # The van's processes are killed while offline (its nats-server with SIGKILL): nothing accepted is lost.
    async with open_van(bundle, data, stack.keys["van"]) as van:
        assert (await van.site.nc.jetstream().stream_info(SITE_STREAM)).state.messages == held
        await _kill_the_vans_server(van)

    async with open_van(bundle, data, stack.keys["van"]) as van:
        assert (await van.site.nc.jetstream().stream_info(SITE_STREAM)).state.messages == held
        await relay.start()  # the link is back
        await until(lambda: _synced(van), "the van's intake to be processed and deleted", 120)
        await _check_hub(stack, sandboxes, renewals, tickets, served)
        received = await van.http.get(f"/v1/applications/{first}", headers=van.headers())
        assert received.status_code == 404 and "sudah diterima pusat" in received.json()["message"]
        local = await van.site.nc.jetstream().key_value("site_local")
        kept = [entry.value for entry in await current_entries(local, "app.*", meta_only=False)]
        assert len(kept) == 20 and all(value and b"applicant_nik" not in value for value in kept)
        await _check_audit_and_surveys(stack, tickets[:10], held)


async def _the_van_knows_todays_services(van: Van, hub: BusAccess) -> None:
    """Today's entry of the schedule, kept by the hub, reaches the van; it takes tickets for those services only."""
    today = utcnow().astimezone(WIB).date()
    visit = SiteVisit(site=VAN, day=today, place="Balai Desa Kalisoka", opens=dt.time(0, 0), closes=dt.time(23, 59),
                      services=("dukcapil", "samsat", "bpjs"))  # fmt: skip
    admin = await hub.connect(Role.ADMIN)
    try:
        await (await SiteSchedule.open(admin.jetstream())).put(visit)
    finally:
        await admin.close()

    async def heard() -> bool:
        return ((await van.info()).get("today") or {}).get("place") == visit.place

    await until(heard, "the van to hear today's schedule entry")
    refused = await van.http.post("/v1/queue/tickets", json={"service": "bank", "channel": "mobile"},
                                  headers=van.headers())  # fmt: skip
    assert refused.status_code == 400 and "dukcapil, samsat, bpjs" in refused.json()["message"]


async def _the_site_cannot_reach_what_is_not_its_own(van: Van, hub: BusAccess, bundle: Path) -> None:
    """The site's leaf key is no client key on the hub; through the link the site reaches no hub stream."""
    seed = (bundle / "leaf.nk").read_text().strip()
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(hub.url, nkeys_seed_str=seed, tls=hub._tls, max_reconnect_attempts=0, connect_timeout=3,
                           allow_reconnect=False)  # fmt: skip
    for subject in (
        "$JS.hub.API.STREAM.INFO.MPP_AUDIT",
        "$JS.hub.API.STREAM.NAMES",
        "$JS.hub.API.DIRECT.GET.KV_mpp_front",
    ):
        with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
            await van.site.nc.request(subject, b"", timeout=1)


async def _check_audit_and_surveys(stack: Stack, rated: list[dict[str, Any]], held: int) -> None:
    """The van's audit records are in the hub's log, in the van's order; its ten surveys are kept, once each."""
    nc = await stack.bus.connect(Role.CLI)
    try:
        log = AuditLog(nc.jetstream(), TEST_AUDIT_KEY)
        folded = [record async for record in log.records() if record.site == VAN]
        sequences = [record.site_seq or 0 for record in folded]
        assert sequences == sorted(set(sequences)) and len(folded) == 20 + 30 + 10 + 1  # intake, and the lookup
        assert {r.outcome for r in folded if r.operation == "identity.lookup"} == {"site_offline"}
        assert sum(1 for r in folded if r.operation == "application.submit" and r.subject_hash) == 20
        surveys = SurveyBox(await nc.jetstream().key_value(FRONT_BUCKET))
        for place in rated:
            found = await surveys.find(ticket_id=place["ticket"]["id"])
            assert found is not None and found.channel.value == "mobile"
    finally:
        await nc.close()
    assert held == 20 + 30 + 15 + 10 + len(folded)  # what the van took and served, and its audit, in one stream


async def _kill_the_vans_server(van: Van) -> None:
    process = van.site.nats._process
    assert process is not None
    process.kill()
    process.wait()


async def _online(van: Van, online: bool) -> bool | None:
    info = await van.info()
    return True if info["online"] is online else None


async def _synced(van: Van) -> bool | None:
    info = await van.info()
    return True if info["online"] and info["waiting"] == 0 else None


def _overdue_vehicles(count: int) -> list[tuple[str, str]]:
    """(owner NIK, plate) of ``count`` vehicles whose tax is overdue in the samsat sandbox."""
    overdue = [v for v in samsat_data.by_plate().values() if v.standing is samsat_data.Standing.OVERDUE]
    return [(vehicle.owner_nik, vehicle.plate) for vehicle in overdue[:count]]


async def _apply(van: Van, cases: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Vehicle tax renewals taken in the van: each kept there, pending sync, under a number with the van's prefix."""
    taken = []
    for nik, plate in cases:
        body = {"service": "vehicle-tax-renewal", "applicant_nik": nik, "channel": "mobile", "params": {"plate": plate}}
        answer = await van.http.post("/v1/applications", json=body, headers=van.headers())
        assert answer.status_code == 202, answer.text
        application = answer.json()
        assert application["status"] == "pending_sync" and application["tracking_no"].startswith("V1")
        assert "tersimpan" in application["history"][-1]["message"] and nik not in answer.text
        taken.append(application | {"plate": plate})
    return taken


async def _ticket(van: Van, service: str) -> dict[str, Any]:
    answer = await van.http.post(
        "/v1/queue/tickets", json={"service": service, "channel": "mobile"}, headers=van.headers()
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def _serve_at_the_van_desk(van: Van) -> str:
    """The van's desk calls the next ticket and serves it; the ticket's id."""
    called = await van.http.post("/v1/queue/desks/meja1/call", headers=van.headers())
    assert called.status_code == 200, called.text
    ticket_id: str = called.json()["id"]
    for move in ("start", "finish"):
        moved = await van.http.post(f"/v1/queue/desks/meja1/tickets/{ticket_id}/{move}", headers=van.headers())
        assert moved.status_code == 200, moved.text
    return ticket_id


async def _check_hub(
    stack: Stack, sandboxes: Sandboxes, renewals: list[dict[str, Any]], tickets: list[dict[str, Any]],
    served: list[str],
) -> None:  # fmt: skip
    desk = stack.headers("desk")

    async def status(tracking_no: str, *wanted: str) -> dict[str, Any] | None:
        answer = await stack.http.get(f"/v1/applications/{tracking_no}", headers=desk)
        found: dict[str, Any] = answer.json()
        return found if answer.status_code == 200 and found["status"] in wanted else None

    for application in renewals:
        number: str = application["tracking_no"]
        waiting = await until(functools.partial(status, number, "awaiting_payment"), "a bill", 60)
        async with httpx.AsyncClient() as http:
            paid = await http.post(f"{sandboxes.url('bank')}/_sandbox/pay",
                                   json={"virtualAccountNo": waiting["details"]["virtual_account"]})  # fmt: skip
        assert paid.status_code == 200, paid.text
        await until(functools.partial(status, number, "done"), "a renewal done", 60)
    bank, samsat = sandboxes.stats("bank"), sandboxes.stats("samsat")
    for application in renewals:
        assert bank["bill_references"].count(application["tracking_no"]) == 1
        assert [p for p in samsat["payments"].values() if p == application["plate"]] == [application["plate"]]
    nc = await stack.bus.connect(Role.CLI)
    try:
        js = nc.jetstream()
        front = await js.key_value(FRONT_BUCKET)
        kept = [entry.key for entry in await current_entries(front, f"s.{VAN}.>")]
        assert sorted(kept) == sorted(f"s.{VAN}.{t['ticket']['id']}" for t in tickets)
        for ticket_id in served:  # every change of a ticket came in order: the hub holds the last
            stored = json.loads((await front.get(f"s.{VAN}.{ticket_id}")).value or b"{}")
            assert stored["status"] == "done" and stored["desk"] == "meja1"
        book = await SiteBook.open(js)
        state = await book.state(VAN)
        assert state.connected and state.waiting == 0 and state.synced >= 60
    finally:
        await nc.close()
