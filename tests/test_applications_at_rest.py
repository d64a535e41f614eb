"""Less personal data at rest (UU 27/2022): what an application leaves in JetStream, open and closed.

The applicant's NIK is kept as keyed hashes and masked; while the application is open, the NIK and the process's
state (the owner's name among it) are sealed; once it is closed, the sealed part is gone. The JetStream store is
encrypted besides (tests/test_store_encryption.py): so these tests read what JetStream holds both ways, as
messages through the server (what the hub itself wrote) and as bytes on disk.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from pydantic import BaseModel

from contracts import Application, ApplicationRequest, ApplicationStatus, HubError, StatusStep, new_tracking_number
from contracts import parse_nik as nik_parts
from hub import Finish, Process, ProcessContext, hookimpl, load_plugins
from hub._applications import APPLICATIONS_BUCKET, ApplicationStore
from hub._audit import AuditLog
from hub._bus_access import BusAccess
from hub._process import Outcome
from hub._roles import Role
from hub._runtime import Hub
from hub.testing._bus import TestBus
from plugins._synthetic import residents
from plugins.dukcapil.plugin import _sandbox_settings
from tests._servers import ThreadedServer
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY, TEST_PURPOSE, connect, make_hub
from tests.test_applications import (
    NIK_MASK,
    Mall,
    _owner_name,
    _pay,
    _submit,
    _until,
    _vehicle_to_renew,
    mall,  # noqa: F401  # the fixture, used by the tests below
    open_mall,
)


async def _every_message(bus: BusAccess) -> dict[str, list[bytes]]:
    """Every message of every stream on the bus (KV buckets included), headers and data, by stream."""
    nc = await connect(bus)
    try:
        js = nc.jetstream()
        found: dict[str, list[bytes]] = {}
        for info in await js.streams_info():
            name = info.config.name or ""
            found[name] = []
            for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1 if info.state.messages else 1):
                try:
                    msg = await js.get_msg(name, seq)
                except NotFoundError:  # removed (a work queue's done message, an older revision)
                    continue
                found[name].append(repr(msg.headers).encode() + (msg.data or b""))
        return found
    finally:
        await nc.close()


async def _raw_record(bus: BusAccess, tracking_no: str) -> tuple[bytes, int]:
    """The application's record as the bucket holds it, and how many revisions of it the bucket keeps."""
    nc = await connect(bus)
    try:
        kv = await nc.jetstream().key_value(APPLICATIONS_BUCKET)
        key = "app." + tracking_no.replace("-", "")
        entry = await kv.get(key)
        return entry.value or b"", len(await kv.history(key))
    finally:
        await nc.close()


def _personal(nik: str, name: str) -> list[bytes]:
    return [nik.encode(), name.encode(), name.title().encode()]


async def test_a_finished_renewal_leaves_no_nik_and_no_name_at_rest(tmp_path: Path) -> None:
    """Submit, pay, done: no message JetStream keeps and no byte of its store holds the NIK or the owner's name;
    the desk still finds the application by NIK, and the citizen by tracking number and birth date."""
    server = TestBus(tmp_path)
    bus = await server.astart()
    try:
        async with open_mall(bus) as shop:
            nik, plate = _vehicle_to_renew()
            number = (await _submit(shop, nik, plate))["tracking_no"]
            waiting = await _until(shop, number, "awaiting_payment")
            await _pay(shop, waiting["details"]["virtual_account"])
            await _until(shop, number, "done")
            listed = await shop.http.get(f"/v1/citizens/{nik}/applications", headers=shop.headers())
            assert [a["tracking_no"] for a in listed.json()] == [number]
            born = nik_parts(nik).birth_date.isoformat()
            lookup = {"tracking_no": number, "birth_date": born}
            found = await shop.http.post("/v1/applications/lookup", json=lookup, headers=shop.headers())
            assert found.status_code == 200 and found.json()["status"] == "done"
        messages = await _every_message(bus)
    finally:
        await server.astop()

    # The scan reads what the hub wrote: the application, its events, the audit records of its calls.
    assert any(number.encode() in m for m in messages["KV_mpp_applications"])
    assert any(number.encode() in m for m in messages["MPP_EVENTS"]) and messages["MPP_AUDIT"]
    for secret in _personal(nik, _owner_name(plate)):
        holding = {stream for stream, found in messages.items() if any(secret in m for m in found)}
        assert holding == set(), f"{holding} hold personal data in clear"

    store = tmp_path / "nats" / "jetstream"
    files = {path: path.read_bytes() for path in store.rglob("*") if path.is_file()}
    assert sum(len(data) for path, data in files.items() if path.suffix == ".blk") > 0
    for secret in _personal(nik, _owner_name(plate)):
        assert [str(path) for path, data in files.items() if secret in data] == []


async def test_an_open_application_is_sealed_and_a_closed_one_keeps_no_sealed_nik(
    mall: Mall,  # noqa: F811  # the fixture imported above
    bus: BusAccess,
) -> None:
    """Open: the NIK and the state (the owner's name) are sealed, not in clear. Done: the sealed part is gone,
    in every revision the bucket keeps; what is left is the masked NIK, the hashes and what the citizen saw."""
    nik, plate = _vehicle_to_renew()
    number = (await _submit(mall, nik, plate))["tracking_no"]
    waiting = await _until(mall, number, "awaiting_payment")
    raw, _ = await _raw_record(bus, number)
    record = json.loads(raw)
    assert set(record) == {"application", "keys", "sealed"} and record["sealed"]
    assert not any(secret in raw for secret in [*_personal(nik, _owner_name(plate)), plate.encode()])
    assert record["application"]["applicant_nik"] == NIK_MASK.apply(nik)

    await _pay(mall, waiting["details"]["virtual_account"])
    await _until(mall, number, "done")
    raw, revisions = await _raw_record(bus, number)
    record = json.loads(raw)
    assert record["sealed"] is None and revisions == 1
    assert set(record["keys"]) == {"citizen", "subject", "born"}
    assert not any(secret in raw for secret in _personal(nik, _owner_name(plate)))
    found = await mall.hub.engine.store.get(number)
    assert found is not None and found[0].nik is None and found[0].state == {}


async def test_reading_a_closed_application_is_audited_under_its_citizen(mall: Mall) -> None:  # noqa: F811
    """The hub keeps no NIK of a closed application, yet `audit who-read NIK` finds who read it."""
    nik, _ = _vehicle_to_renew()
    stranger = next(n for n in residents.samples(10) if n != nik)
    number = (await _submit(mall, stranger, _vehicle_to_renew()[1]))["tracking_no"]
    await _until(mall, number, "rejected")  # not the owner: closed at once
    correlation = f"desk-read-{uuid.uuid4().hex[:8]}"
    read = await mall.http.get(
        f"/v1/applications/{number}", headers={**mall.headers(), "X-Correlation-Id": correlation}
    )
    assert read.status_code == 200 and read.json()["applicant_nik"] == NIK_MASK.apply(stranger)
    records = [r for r in await mall.hub.audit.who_read(stranger) if r.correlation_id == correlation]
    assert [(r.operation, r.subject_masked) for r in records] == [("application.read", NIK_MASK.apply(stranger))]


class _Params(BaseModel):
    about: str


class _Lookup:
    """A process whose one step reads the resident its params name, and says how the hub answered."""

    async def _look(self, ctx: ProcessContext) -> Outcome:
        try:
            await ctx.call("identity.lookup", {"nik": ctx.state["about"]})
        except HubError as exc:
            return Finish(ApplicationStatus.REJECTED, f"ditolak: {exc.code.value}")
        return Finish(ApplicationStatus.DONE, "dibaca")

    @hookimpl
    def mpp_hub_process(self) -> Process:
        return Process(
            service="resident-check", title="Cek data penduduk", params=_Params, agencies=("dukcapil",),
            purpose=TEST_PURPOSE, first_step="look", steps={"look": self._look},
        )  # fmt: skip


@pytest.fixture
async def lookup_hub(bus: BusAccess, dukcapil_sandbox: ThreadedServer) -> AsyncIterator[Hub]:
    plugins = load_plugins(only={"dukcapil"}, extra=[("resident-check", _Lookup())])
    hub = make_hub(plugins, bus, {"dukcapil": dict(_sandbox_settings(dukcapil_sandbox.url))})
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def _closed(hub: Hub, tracking_no: str, timeout: float = 20) -> Application:
    async def closed() -> Application | None:
        found = await hub.engine.store.get(tracking_no)
        return found[0].application if found is not None and found[0].application.status.final else None

    return await until(closed, f"{tracking_no} to be closed", timeout)


async def test_a_process_step_may_read_its_applicant_only(lookup_hub: Hub) -> None:
    """The worker checks a step's request against the applicant by keyed hash (no NIK in clear to compare)."""
    applicant, other = residents.samples(2)
    numbers = []
    for about in (applicant, other):
        request = ApplicationRequest(
            service="resident-check", applicant_nik=applicant, channel="desk", params={"about": about}
        )
        numbers.append((await lookup_hub.engine.submit(request)).tracking_no)
    own, foreign = [await _closed(lookup_hub, number) for number in numbers]
    assert (own.status, own.history[-1].message) == (ApplicationStatus.DONE, "dibaca")
    assert (foreign.status, foreign.history[-1].message) == (ApplicationStatus.REJECTED, "ditolak: unauthorized")


def _legacy(status: ApplicationStatus, nik: str) -> tuple[str, dict[str, Any]]:
    """A record as hubs before sealing wrote it: the whole Application, NIK and state in clear."""
    now = dt.datetime.now(dt.UTC)
    app = Application(
        tracking_no=new_tracking_number(), service="vehicle-tax-renewal", title="Perpanjangan PKB",
        applicant_nik=nik, channel="desk", agencies=["samsat"], status=status, step="price",
        history=[StatusStep(at=now, status=status, step="price", message="Diterima.")], created_at=now, updated_at=now,
    )  # fmt: skip
    state = {"plate": "G 1150 YD", "owner_name": "SRI WAHYUNI"}
    return app.tracking_no, {"application": {**app.model_dump(mode="json"), "applicant_nik": nik}, "state": state}


async def test_records_an_older_hub_left_in_clear_are_sealed_by_a_starting_worker(bus: BusAccess) -> None:
    """Open ones keep their NIK and state, sealed; closed ones keep neither."""
    nik = residents.samples(1)[0]
    legacy = [_legacy(ApplicationStatus.IN_PROGRESS, nik), _legacy(ApplicationStatus.DONE, nik)]
    nc = await connect(bus, Role.WORKER)
    try:
        kv = await nc.jetstream().key_value(APPLICATIONS_BUCKET)
        for number, record in legacy:
            await kv.put("app." + number.replace("-", ""), json.dumps(record).encode())
        store = await ApplicationStore.open(nc.jetstream(), TEST_AUDIT_KEY)
        assert await store.rewrite_legacy() >= 2
        raws = [(await kv.get("app." + number.replace("-", ""))).value or b"" for number, _ in legacy]
        opened = [await store.get(number) for number, _ in legacy]
    finally:
        await nc.close()
    assert not any(secret in raw for raw in raws for secret in [nik.encode(), b"SRI WAHYUNI"])
    (open_app, _), (closed_app, _) = [found for found in opened if found is not None]
    assert (open_app.nik, open_app.state["owner_name"]) == (nik, "SRI WAHYUNI")
    assert (closed_app.nik, closed_app.state) == (None, {})
    assert open_app.keys.subject == AuditLog(nc.jetstream(), TEST_AUDIT_KEY).subject_hash(nik)
