"""Fail closed, with the audit write beside the agency call: a worker records a call as it lets it through to
the agency and releases the answer only once both the agency's answer and the record's acknowledgement are in.

The bus is real (a nats-server without TLS, so that a relay can read what it sends); between the worker and it
runs ``tests._nats_proxy``, which holds back or drops JetStream's acknowledgements of audit writes and nothing
else. The client reaches NATS directly.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nats.aio.subscription import Subscription

from contracts import ErrorCode, HubError, TrafficRecord
from hub import WIB, HubClient, load_plugins
from hub._audit import AUDIT_STREAM
from hub._bus_access import BusAccess
from hub._credentials import ensure_credentials
from hub._nats_server import EmbeddedNats
from hub._roles import Role
from hub._runtime import Hub
from hub._traffic import traffic_subject
from hub._usage_report import Period, usage_report
from hub.testing._bus import provision_bus
from plugins._synthetic import residents
from plugins.dukcapil.plugin import _sandbox_settings
from tests._nats_proxy import Mode, NatsProxy, is_ack_from
from tests._stack import Sandboxes
from tests._until import until
from tests.conftest import connect_client, make_hub

NIK = residents.samples()[0]
#: The caller's whole budget: while the record's acknowledgement is held, it passes without an answer.
_BUDGET = 2.0


@dataclass
class _Rig:
    bus: BusAccess
    proxy: NatsProxy
    hub: Hub
    client: HubClient
    sandboxes: Sandboxes


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[_Rig]:
    nats = EmbeddedNats(tmp_path / "nats", port=-1)
    ensure_credentials(tmp_path / "credentials")
    bus = BusAccess.unauthenticated(await nats.astart(), tmp_path / "credentials")
    await provision_bus(bus)
    proxy = NatsProxy(bus.url, is_ack_from(AUDIT_STREAM))
    with Sandboxes(["dukcapil"], faults=True) as sandboxes:
        settings = {"dukcapil": dict(_sandbox_settings(sandboxes.url("dukcapil")))}
        hub = make_hub(load_plugins(only={"dukcapil"}), bus.with_url(await proxy.start()), settings)
        await hub.start()
        client = await connect_client(bus, timeout=_BUDGET)
        try:
            yield _Rig(bus, proxy, hub, client, sandboxes)
        finally:
            await client.close()
            await hub.stop()
            await proxy.stop()
            await nats.astop()


@contextlib.asynccontextmanager
async def _traffic(bus: BusAccess) -> AsyncIterator[Subscription]:
    """The worker's traffic records of identity.lookup, subscribed to before the test calls."""
    nc = await bus.connect(Role.OPS)
    try:
        yield await nc.subscribe(traffic_subject("dukcapil", "identity.lookup"))
    finally:
        await nc.close()


async def _record_of(traffic: Subscription, cid: str) -> TrafficRecord:
    async for msg in traffic.messages:
        record = TrafficRecord.model_validate_json(msg.data)
        if record.correlation_id == cid:
            return record
    raise AssertionError("the traffic subscription ended")


async def test_no_answer_leaves_before_its_audit_record_is_acknowledged(rig: _Rig) -> None:
    """With the record written and its acknowledgement held, the agency's answer waits: the caller's whole budget
    passes without it. Let go, the worker then answers, and says the agency had answered in time all along."""
    cid = uuid.uuid4().hex
    async with _traffic(rig.bus) as traffic:
        rig.proxy.mode = Mode.HOLD
        with pytest.raises(HubError) as no_answer:
            await rig.client.call("identity.lookup", {"nik": NIK}, correlation_id=cid)
        assert no_answer.value.code is ErrorCode.AGENCY_TIMEOUT, no_answer.value.error
        assert len(rig.proxy.held) == 1, "the record was written (acknowledged by JetStream) before the budget ran out"
        assert rig.sandboxes.fault_stats("dukcapil")["requests"] >= 1

        rig.proxy.release()
        record = await _record_of(traffic, cid)
    assert record.outcome == "ok", "the agency answered within the budget: only the record's ack was missing"
    assert record.latency_ms >= _BUDGET * 1000 * 0.9
    assert (await rig.client.call("identity.lookup", {"nik": NIK})).nik == NIK  # type: ignore[attr-defined]


async def test_an_audit_outage_releases_nothing(rig: _Rig) -> None:
    """Acknowledgements lost (the audit stream unreachable): the agency's answer is withheld, with an error that
    says why and names no one."""
    client = await connect_client(rig.bus, timeout=15.0)  # longer than JetStream's own wait for an ack
    rig.proxy.mode = Mode.DROP
    try:
        with pytest.raises(HubError) as refused:
            await client.call("identity.lookup", {"nik": NIK})
    finally:
        await client.close()
    assert rig.proxy.dropped >= 1
    error = refused.value.error
    assert error.code is ErrorCode.INTERNAL and "audit log cannot be written" in error.message
    assert NIK not in error.model_dump_json()


async def test_a_call_that_fails_after_being_recorded_is_amended(rig: _Rig) -> None:
    """The agency failing after the call was recorded as let through: a second record amends the first, and
    who-read and the usage report count a refusal, not a read."""
    rig.sandboxes.faults("dukcapil", error_rate=1.0)
    cid = uuid.uuid4().hex
    with pytest.raises(HubError) as failed:
        await rig.client.call("identity.lookup", {"nik": NIK}, correlation_id=cid)
    assert failed.value.code is ErrorCode.AGENCY_UNAVAILABLE

    records = [r async for r in rig.hub.audit.records() if r.correlation_id == cid]
    assert [(r.outcome, r.amends) for r in records] == [("ok", None), ("agency_unavailable", records[0].index)]
    assert [r.outcome for r in await rig.hub.audit.who_read(NIK) if r.correlation_id == cid] == ["agency_unavailable"]
    today = records[0].time.astimezone(WIB).date()
    report = await usage_report(rig.hub.audit.records(), "dukcapil", Period(today, today))
    assert (report.total_reads, report.total_refusals) == (0, 1)

    rig.sandboxes.clear_faults()
    await until(lambda: _answered(rig.client), "the agency answering again (its circuit closed)")
    report = await usage_report(rig.hub.audit.records(), "dukcapil", Period(today, today))
    assert (report.total_reads, report.total_refusals) == (1, 1)


async def _answered(client: HubClient) -> bool:
    try:
        await client.call("identity.lookup", {"nik": NIK})
    except HubError:
        return False
    return True
