"""A secured bus for tests: the embedded nats-server as `mpp-hub up` runs it, provisioned, with an admin at hand."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from contracts import Channel
from hub._assertions import Issuer
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._embedded_bus import EmbeddedBus
from hub._provision import provision
from hub._roles import Permissions, Role

__all__ = ["TestBus", "add_consumer", "issuer_for", "provision_bus"]


async def provision_bus(bus: BusAccess) -> None:
    """Create the hub's streams and buckets, as `mpp-hub up` does with its admin credential."""
    nc = await bus.connect(Role.ADMIN)
    try:
        await provision(nc.jetstream())
    finally:
        await nc.close()


async def add_consumer(
    bus: BusAccess,
    name: str,
    allow: Sequence[str],
    *,
    quota_per_minute: int | None = None,
    channel: Channel | None = None,
    names_officers: bool = False,
) -> str:
    """Register a consumer (the admin's work) and return its API key."""
    nc = await bus.connect(Role.ADMIN)
    try:
        registry = await ConsumerRegistry.open(nc.jetstream())
        try:
            _, key = await registry.add(
                name, allow, quota_per_minute=quota_per_minute, channel=channel, names_officers=names_officers
            )
        finally:
            await registry.close()
    finally:
        await nc.close()
    return key


def issuer_for(bus: BusAccess, role: Role, audit_key: bytes) -> Issuer:
    """The assertion issuer of ``role`` on this bus (the edge's, the CLI's, a worker's)."""
    return bus.issuer(role, audit_key)


class TestBus:
    """An :class:`EmbeddedBus` in ``directory`` on a free loopback port, provisioned once started."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        directory: Path,
        *,
        extra_users: Mapping[str, Permissions] | None = None,
        leaf_listen: str | None = None,
    ) -> None:
        self.embedded = EmbeddedBus(directory, port=-1, extra_users=extra_users, leaf_listen=leaf_listen)
        self.access: BusAccess | None = None

    def start(self) -> BusAccess:
        self.access = self.embedded.start()
        asyncio.run(provision_bus(self.access))
        return self.access

    async def astart(self) -> BusAccess:
        self.access = await self.embedded.astart()
        await provision_bus(self.access)
        return self.access

    def stop(self) -> None:
        self.embedded.stop()

    async def astop(self) -> None:
        await self.embedded.astop()
