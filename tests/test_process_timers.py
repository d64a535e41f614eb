"""A waiting application has one timer, however often it is kicked (worker starts, events)."""

from __future__ import annotations

from pydantic import BaseModel

from contracts import ApplicationRequest
from hub import Process, ProcessContext, Wait, hookimpl, load_plugins
from hub._bus_access import BusAccess
from hub._process import Outcome
from plugins._synthetic import residents
from tests._stack import Stack
from tests._streams import messages_on
from tests._until import until
from tests.conftest import TEST_PURPOSE

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
    """Each kick runs the step, whose Wait arms a timer; only the newest timer re-arms, the others are dropped
    when due. So the work queue, which holds every armed timer until it has run, comes back to one message for
    the application and stays there while the timer keeps polling; six live timers would keep it at six."""
    poller = _Poller()
    async with Stack(bus, plugins=load_plugins(only=set(), extra=[("poller", poller)]), edge=False) as stack:
        engine, js = stack.hub.engine, stack.hub.nc.jetstream()
        request = ApplicationRequest(
            service="permit-status-poll", applicant_nik=residents.samples(1)[0], channel="desk", params={}
        )
        tracking_no = (await engine.submit(request)).tracking_no
        subject = f"mpp.process.{tracking_no.replace('-', '')}"
        for _ in range(5):  # five workers starting, or five events about it
            await engine.kick(tracking_no)

        async def one_timer() -> bool:
            return await messages_on(js, "MPP_PROCESS", subject) == 1

        await until(one_timer, f"the work queue to hold one timer for {tracking_no}")
        ran = poller.runs
        await until(lambda: poller.runs >= ran + 3, "the timer to poll three more times")
        await until(one_timer, f"the work queue to hold one timer for {tracking_no}, still")
