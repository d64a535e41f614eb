"""A waiting application has one timer, however often it is kicked (worker starts, events)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from contracts import ApplicationRequest
from hub import Process, ProcessContext, Wait, hookimpl, load_plugins
from hub._bus_access import BusAccess
from hub._process import Outcome
from plugins._synthetic import residents
from tests.conftest import TEST_PURPOSE, make_hub

POLL = 0.3


class _Params(BaseModel):
    pass


class _Poller:
    """A process that only ever waits, counting how often its step runs."""

    def __init__(self) -> None:
        self.runs = 0

    async def _poll(self, ctx: ProcessContext) -> Outcome:
        self.runs += 1
        return Wait(POLL)

    @hookimpl
    def mpp_hub_process(self) -> Process:
        return Process(
            service="permit-status-poll", title="Cek status izin", params=_Params, agencies=(), purpose=TEST_PURPOSE,
            first_step="poll", steps={"poll": self._poll},
        )  # fmt: skip


async def test_kicks_do_not_multiply_a_waiting_applications_timer(bus: BusAccess) -> None:
    poller = _Poller()
    hub = make_hub(load_plugins(only=set(), extra=[("poller", poller)]), bus, {})
    await hub.start()
    try:
        request = ApplicationRequest(
            service="permit-status-poll", applicant_nik=residents.samples(1)[0], channel="desk", params={}
        )
        tracking_no = (await hub.engine.submit(request)).tracking_no
        for _ in range(5):  # five workers starting, or five events about it
            await hub.engine.kick(tracking_no)
        await asyncio.sleep(0.5)
        before = poller.runs
        await asyncio.sleep(3.0)
        polls = poller.runs - before
    finally:
        await hub.stop()
    # One timer polls about 3.0 / POLL = 10 times; six timers (one per kick) would poll about 60 times.
    assert 5 <= polls <= 14, polls
