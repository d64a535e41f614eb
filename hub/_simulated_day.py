"""A simulated day in the hall (`mpp-hub simulate-day`), against a sandbox hub over its own HTTP API.

Citizens take tickets at kiosks, on the portal and in the van; every desk calls from its own queues at once
(so desks race for tickets as they do in the hall), a few called citizens do not come, the served ones rate their
visit now and then, and a few file a complaint to LAPOR!. What each ticket and survey came to is returned, so a
test (or a trainer) can work the day's figures out independently and hold the dashboard and the report to them.

It runs at the machine's pace, not the hall's: a day of tickets takes seconds, and its waits are seconds long.
Every choice is drawn from ``seed``, per ticket, so the same seed gives the same day whatever order the desks
happen to call in.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from contracts import Channel, QueueService, SkmElement
from hub._consumers import ConsumerRegistry
from hub._front import FrontSettings
from hub._queue import desk_right

__all__ = ["SIMULATION_RIGHTS", "DayPlan", "DayResult", "run_simulated_day", "simulate_day"]

#: What the simulation's consumers may do, by the part they play; a desk's key is ``desk:<desk>``.
SIMULATION_RIGHTS: Mapping[str, tuple[str, ...]] = {
    "kiosk": ("queue.take",),
    "tablet": ("survey.submit",),
    "complaints": ("application.submit",),
}
#: Where tickets are taken, and how often: the kiosks most, then the portal, then the van.
_CHANNELS: tuple[Channel, ...] = (Channel.KIOSK, Channel.PORTAL, Channel.MOBILE)
_CHANNEL_WEIGHTS = (6, 3, 1)
_COMPLAINT_PURPOSE = "pengaduan"


@dataclass(frozen=True)
class DayPlan:
    """How big the day is, and how its citizens behave."""

    tickets: int = 240
    no_show: float = 0.08  # of the tickets called
    surveys: float = 0.6  # of the tickets served
    complaints: int = 4
    seed: int = 2026


@dataclass
class DayResult:
    """What the day came to: each ticket as its last move left it, each survey given, each complaint filed."""

    tickets: list[dict[str, Any]] = field(default_factory=list)
    surveys: list[dict[str, Any]] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # what the hub refused, which a clean day has none of

    def to_json(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets, "surveys": self.surveys, "complaints": self.complaints, "refused": self.refused,
        }  # fmt: skip

    def summary(self) -> str:
        """A few lines for people: tickets per status, per desk, surveys, complaints, refusals."""
        statuses = Counter(ticket["status"] for ticket in self.tickets)
        desks = Counter(ticket["desk"] for ticket in self.tickets)
        lines = [
            f"{len(self.tickets)} tickets called: "
            + ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())),
            "by desk: " + ", ".join(f"{desk} {n}" for desk, n in sorted(desks.items())),
            f"{len(self.surveys)} surveys given, {len(self.complaints)} complaints filed to LAPOR!",
            "see the figures: /ops (a key with ops.dashboard), or mpp-hub report --month <this month>",
        ]
        lines += [f"refused: {why}" for why in self.refused]
        return "\n".join(lines)


async def run_simulated_day(
    registry: ConsumerRegistry,
    url: str,
    front: FrontSettings,
    plan: DayPlan,
    complainants: Sequence[str],
    progress: Callable[[str], None],
) -> DayResult:
    """Register the day's consumers (each with only its part's rights), then run ``plan`` against ``url``."""
    tag = hashlib.sha256(f"{plan.seed}:{random.random()}".encode()).hexdigest()[:6]
    parts = {**SIMULATION_RIGHTS, **{f"desk:{desk}": (desk_right(desk),) for desk in front.desks}}
    keys = {}
    for part, rights in parts.items():
        _, keys[part] = await registry.add(f"sim-{tag}-{part.replace('desk:', '')}", list(rights))
    progress(f"{len(keys)} consumers registered (sim-{tag}-*)")
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for key in keys.values():
            await _until_known(http, key)
        return await simulate_day(http, keys, front.services, front.desks, plan, complainants, progress)


async def _until_known(http: httpx.AsyncClient, key: str) -> None:
    """Until the edge has the new key from its watch of the consumers (milliseconds): asked for a ticket none of
    the keys may read, it answers 403 once it knows the key and 401 before."""
    for attempt in range(20):
        answer = await http.get("/v1/queue/tickets/19700101-A001", headers={"Authorization": f"Bearer {key}"})
        if answer.status_code != 401:
            return
        await asyncio.sleep(0.05 * (attempt + 1))
    raise RuntimeError("the hub's edge did not learn the simulation's consumers in 10 s: is it the hub you meant?")


async def simulate_day(
    http: httpx.AsyncClient,
    keys: Mapping[str, str],
    services: Sequence[QueueService],
    desks: Mapping[str, tuple[str, ...]],
    plan: DayPlan,
    complainants: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _: None,
) -> DayResult:
    """Run ``plan`` through the hub ``http`` points at, with ``keys`` (by part, see SIMULATION_RIGHTS);
    ``complainants``: NIKs the complaints are filed under (none: no complaints)."""
    day = _Day(http, keys, plan, progress)
    await day.take_tickets([s.code for s in services if any(s.code in served for served in desks.values())])
    await asyncio.gather(*(day.work_desk(desk, served) for desk, served in desks.items()))
    await day.file_complaints(complainants[: plan.complaints])
    return day.result


class _Day:
    def __init__(
        self, http: httpx.AsyncClient, keys: Mapping[str, str], plan: DayPlan, progress: Callable[[str], None]
    ) -> None:
        self._http = http
        self._keys = keys
        self._plan = plan
        self._progress = progress
        self._codes: dict[str, str] = {}  # ticket id -> its code, as the slip has it
        self.result = DayResult()

    def _draw(self, *about: str) -> random.Random:
        """The chances of one ticket or complaint, the same whichever desk happens to call it."""
        text = ":".join((str(self._plan.seed), *about))
        return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))

    def _headers(self, part: str, purpose: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._keys[part]}"}
        return {**headers, "X-Purpose": purpose} if purpose else headers

    async def take_tickets(self, services: Sequence[str]) -> None:
        for n in range(self._plan.tickets):
            draw = self._draw("take", str(n))
            body = {"service": draw.choice(services), "channel": draw.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0].value}
            answer = await self._http.post("/v1/queue/tickets", json=body, headers=self._headers("kiosk"))
            if answer.status_code != 201:
                self.result.refused.append(f"take: {answer.status_code} {answer.text[:200]}")
                continue
            place = answer.json()
            self._codes[place["ticket"]["id"]] = place["code"]
            if (n + 1) % 50 == 0 or n + 1 == self._plan.tickets:
                self._progress(f"{n + 1} of {self._plan.tickets} tickets taken")

    async def work_desk(self, desk: str, services: tuple[str, ...]) -> None:
        """Call, serve or mark no-show until nobody waits for the desk's queues."""
        headers = self._headers(f"desk:{desk}")
        while True:
            called = await self._http.post(f"/v1/queue/desks/{desk}/call", headers=headers)
            if called.status_code == 404:
                return
            if called.status_code != 200:
                self.result.refused.append(f"{desk} call: {called.status_code} {called.text[:200]}")
                return
            ticket = called.json()
            draw = self._draw("serve", ticket["id"])
            moves = ("no_show",) if draw.random() < self._plan.no_show else ("start", "finish")
            for move in moves:
                answer = await self._http.post(f"/v1/queue/desks/{desk}/tickets/{ticket['id']}/{move}", headers=headers)
                if answer.status_code != 200:
                    self.result.refused.append(f"{desk} {move}: {answer.status_code} {answer.text[:200]}")
                    break
                ticket = answer.json()
            self.result.tickets.append(ticket)
            if ticket["status"] == "done" and draw.random() < self._plan.surveys:
                await self._rate(ticket, draw)

    async def _rate(self, ticket: dict[str, Any], draw: random.Random) -> None:
        # Most citizens are content, some less so: scores lean to 3 and 4.
        answers = {element.value: draw.choices((1, 2, 3, 4), (1, 2, 6, 5))[0] for element in SkmElement}
        body = {"answers": answers, "ticket_id": ticket["id"], "code": self._codes[ticket["id"]]}
        answer = await self._http.post("/v1/survey", json=body, headers=self._headers("tablet"))
        if answer.status_code != 201:
            self.result.refused.append(f"survey: {answer.status_code} {answer.text[:200]}")
            return
        kept = answer.json()
        self.result.surveys.append({key: kept[key] for key in ("ticket_id", "service", "desk", "channel", "answers")})

    async def file_complaints(self, complainants: Sequence[str]) -> None:
        for n, nik in enumerate(complainants):
            params = {
                "title": f"Antrean loket lambat (simulasi {n + 1})",
                "text": "Menunggu lama di ruang tunggu; mohon ditambah petugas pada jam sibuk.",
                "category": "21", "agency": "Mal Pelayanan Publik", "anonymous": True, "confidential": True,
            }  # fmt: skip
            body = {"service": "pengaduan", "applicant_nik": nik, "channel": "kiosk", "params": params}
            headers = self._headers("complaints", _COMPLAINT_PURPOSE)
            answer = await self._http.post("/v1/applications", json=body, headers=headers)
            if answer.status_code != 201:
                self.result.refused.append(f"complaint: {answer.status_code} {answer.text[:200]}")
                continue
            self.result.complaints.append(answer.json()["tracking_no"])
