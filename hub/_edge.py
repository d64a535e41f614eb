"""The HTTP edge's own link to the bus, made as the edge role (even inside `mpp-hub up`, beside a worker).

The edge identifies callers by API key and puts on the bus only caller assertions signed with the edge's key;
what it reads and writes there (consumers to check keys, its refusals in the audit log, applications it takes
in, agencies' callbacks as events, the traffic for /ops) is what the edge role's permissions allow, no more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS

from hub._access import Gate
from hub._applications import ApplicationStore
from hub._assertions import Issuer
from hub._audit import AuditLog
from hub._bus_access import BusAccess
from hub._citizen_lookup import CitizenLookup
from hub._client import HubClient
from hub._consumers import ConsumerRegistry
from hub._dlq import DeadLetters
from hub._events import EventPublisher
from hub._front import Front, FrontSettings, ticket_code_key
from hub._metrics import Metrics
from hub._process import Process, ProcessEngine
from hub._purposes import Purpose
from hub._queue import TicketQueue
from hub._roles import Role

__all__ = ["EdgeBus"]


@dataclass
class EdgeBus:
    nc: NATS
    gate: Gate
    issuer: Issuer
    events: EventPublisher
    #: Takes applications in (submit, read); the workers' engines run them.
    engine: ProcessEngine
    #: The mall's queue, bookings and emergency notice, shared with every other edge through the bus.
    front: Front
    #: A citizen's lookups by tracking number and birth date, with this edge's count of wrong dates per number.
    lookups: CitizenLookup = field(default_factory=CitizenLookup)

    @classmethod
    async def open(
        cls,
        bus: BusAccess,
        *,
        audit_key: bytes,
        purposes: Mapping[str, Purpose],
        processes: Mapping[str, Process],
        metrics: Metrics,
        front: FrontSettings | None = None,
    ) -> EdgeBus:
        nc = await bus.connect(Role.EDGE, max_reconnect_attempts=-1)
        js = nc.jetstream()
        refusals = metrics.anonymous_refusals.labels(metrics.worker, "edge")
        gate = Gate(await ConsumerRegistry.open(js), AuditLog(js, audit_key), purposes, refusals.inc)
        issuer = bus.issuer(Role.EDGE, audit_key)
        events = await EventPublisher.open(js)
        store = await ApplicationStore.open(js, audit_key)
        engine = ProcessEngine(nc, store, events, DeadLetters(js), processes, issuer)
        return cls(
            nc, gate, issuer, events, engine, await Front.open(js, front or FrontSettings(), ticket_code_key(audit_key))
        )

    @property
    def queue(self) -> TicketQueue:
        return self.front.queue

    def client(self, timeout: float) -> HubClient:
        return HubClient(self.nc, timeout=timeout, issuer=self.issuer, consumers=self.gate.consumers)

    async def close(self) -> None:
        await self.gate.consumers.close()
        if not self.nc.is_closed:
            await self.nc.drain()
