"""Dead letters: a process step that keeps failing is given up on, shown, mended, replayed and audited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from contracts import Application, ApplicationRequest, ApplicationStatus
from hub import Finish, Process, ProcessContext, hookimpl, load_plugins
from hub._audit import AuditLog
from hub._bus_access import BusAccess
from hub._dlq import DeadLetter
from hub._process import MAX_FAILURES, Outcome
from hub._roles import Role
from hub._runtime import Hub
from hub.testing._bus import TestBus
from plugins._synthetic import residents
from tests._processes import run_cli
from tests._stack import Stack
from tests._streams import messages_on
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY, TEST_PURPOSE, bus_env, connect, make_hub

SERVICE = "land-certificate-check"


class _Params(BaseModel):
    pass


class _LandOffice:
    """A process whose only step fails while the (imaginary) land office answers in a format it cannot read."""

    def __init__(self) -> None:
        self.broken = True

    async def _check(self, ctx: ProcessContext) -> Outcome:
        if self.broken:
            # The message names the citizen, as careless agency errors do: the dead letter must mask it.
            raise RuntimeError(f"unreadable answer about NIK {ctx.applicant_nik}")
        return Finish(ApplicationStatus.DONE, "Sertifikat sudah diperiksa.")

    @hookimpl
    def mpp_hub_process(self) -> Process:
        return Process(
            service=SERVICE, title="Pemeriksaan sertifikat tanah", params=_Params, agencies=(), purpose=TEST_PURPOSE,
            first_step="check", steps={"check": self._check}, failure_backoff=0.05,
        )  # fmt: skip


async def _letter_for(hub: Hub, tracking_no: str, timeout: float = 20) -> DeadLetter:
    subject = f"mpp.process.{tracking_no.replace('-', '')}"

    async def buried() -> DeadLetter | None:
        return next((letter for letter in await hub.dead_letters.letters() if letter.subject == subject), None)

    return await until(buried, f"a dead letter for {tracking_no}", timeout)


async def _status(hub: Hub, tracking_no: str, wanted: ApplicationStatus, timeout: float = 20) -> None:
    async def reached() -> bool:
        found = await hub.engine.store.get(tracking_no)
        return found is not None and found[0].application.status is wanted

    await until(reached, f"{tracking_no} to become {wanted.value}", timeout)


async def _queued(bus: BusAccess, subject: str) -> int:
    """How many messages the engine's work queue holds on ``subject`` (a kick, or a step to retry)."""
    nc = await connect(bus)
    try:
        return await messages_on(nc.jetstream(), "MPP_PROCESS", subject)
    finally:
        await nc.close()


@pytest.fixture
async def land_hub(bus: BusAccess) -> AsyncIterator[tuple[Hub, _LandOffice]]:
    office = _LandOffice()
    async with Stack(bus, plugins=load_plugins(only=set(), extra=[("land", office)]), edge=False) as stack:
        yield stack.hub, office


async def test_a_failing_step_is_dead_lettered_then_replayed_and_audited(
    land_hub: tuple[Hub, _LandOffice], bus: BusAccess, tmp_path: Path
) -> None:
    hub, office = land_hub
    nik = residents.samples(1)[0]
    request = ApplicationRequest(service=SERVICE, applicant_nik=nik, channel="kiosk", params={})
    tracking_no = (await hub.engine.submit(request)).tracking_no

    letter = await _letter_for(hub, tracking_no)
    assert letter.stream == "MPP_PROCESS" and letter.deliveries == MAX_FAILURES
    assert "RuntimeError: unreadable answer" in letter.reason and nik not in letter.reason

    async def noted() -> Application | None:  # the note for the citizen is written right after the letter
        found = await hub.engine.store.get(tracking_no)
        assert found is not None
        return found[0].application if "pemeriksaan petugas" in found[0].application.history[-1].message else None

    application = await until(noted, f"the note that {tracking_no} waits for the staff")
    assert not application.status.final

    env = {**bus_env(bus), "MPP_HUB_AUDIT_KEY": TEST_AUDIT_KEY.decode()}  # the CLI role's credentials
    listed = run_cli("dlq", "list", "--json", "--nats-url", bus.url, cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    shown = next(entry for entry in json.loads(listed.stdout) if entry["seq"] == letter.seq)
    assert shown["subject"] == letter.subject and nik not in listed.stdout

    # A worker starting now leaves it alone: only the replay below may send it round again. A kick would be in
    # the work queue once _resume returns (it publishes before it returns), and would stay there while it fails.
    await hub.engine._resume()
    assert await _queued(bus, letter.subject) == 0
    assert [kept.seq for kept in await hub.dead_letters.letters() if kept.subject == letter.subject] == [letter.seq]

    office.broken = False  # the land office fixed its answers
    replayed = run_cli(
        "dlq", "replay", str(letter.seq), "--operator", "ops-ani", "--nats-url", bus.url, cwd=tmp_path, env=env
    )
    assert replayed.returncode == 0, replayed.stderr
    await _status(hub, tracking_no, ApplicationStatus.DONE)

    replays = [r async for r in hub.audit.records() if r.operation == "dlq.replay" and r.consumer == "ops-ani"]
    assert any(f"#{letter.seq}" in r.outcome and "MPP_PROCESS" in r.outcome for r in replays)
    again = run_cli("dlq", "replay", str(letter.seq), "--nats-url", bus.url, cwd=tmp_path, env=env)
    assert again.returncode == 1 and f"no dead letter {letter.seq}" in again.stderr


async def test_replay_needs_the_audit_log(land_hub: tuple[Hub, _LandOffice]) -> None:
    """A replay that cannot be audited does not happen: the letter stays."""
    hub, _ = land_hub
    request = ApplicationRequest(service=SERVICE, applicant_nik=residents.samples(1)[0], channel="portal", params={})
    tracking_no = (await hub.engine.submit(request)).tracking_no
    letter = await _letter_for(hub, tracking_no)
    unwritable = AuditLog(hub.dead_letters.js, TEST_AUDIT_KEY, stream="MPP_AUDIT_MISSING", subject="mpp.nowhere")
    with pytest.raises(Exception, match="audit"):
        await hub.dead_letters.replay(letter.seq, audit=unwritable, operator="ops-budi")
    assert letter.seq in [kept.seq for kept in await hub.dead_letters.letters()]


async def test_a_message_no_worker_ever_answers_is_dead_lettered(tmp_path: Path) -> None:
    """Workers that take a step's message and die before answering (five times) leave it to the dead letters.

    The dying workers are played by a bare consumer on the engine's durable consumer that takes the message
    and hands it back unanswered; then a real worker starts and gives up on it instead of dying a sixth time.
    """
    server = TestBus(tmp_path / "nats")
    bus = await server.astart()
    nc = await bus.connect(Role.WORKER)  # the dying workers hold a worker's credentials
    try:
        first = make_hub(load_plugins(only=set(), extra=[("land", _LandOffice())]), bus, {})
        await first.start()  # creates the engine's durable consumer on the provisioned work queue
        await first.stop()
        js = nc.jetstream()
        subject = "mpp.process.ZZZZZZZZZ"  # a kick for an application this hub never heard of
        await js.publish(subject, b"")
        dying = await js.pull_subscribe(subject, durable="mpp-process-engine")
        for _ in range(MAX_FAILURES):
            (msg,) = await dying.fetch(1, timeout=5)
            await msg.nak()  # as a worker killed mid-step would, only sooner than the ack wait
        async with Stack(bus, plugins=load_plugins(only=set(), extra=[("land", _LandOffice())]), edge=False) as second:

            async def buried() -> list[DeadLetter]:
                return [x for x in await second.hub.dead_letters.letters() if x.subject == subject]

            letters = await until(buried, f"the message on {subject} in the dead letters", timeout=20)
    finally:
        await nc.close()
        await server.astop()
    assert letters[0].deliveries == MAX_FAILURES + 1
    assert letters[0].reason == f"a worker took it {MAX_FAILURES} times and never answered"
