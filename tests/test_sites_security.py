"""A site's credentials, attacked from a site its attacker controls entirely.

The attacker has the van's laptop and its bundle, and runs a nats-server of their own making as the leaf node:
no local permissions, JetStream on, whatever it subscribes to. Only what the hub's server allows the site's leaf
user can then pass; each test tries to pass something else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from contracts import OPERATIONS
from hub._audit import AUDIT_STREAM
from hub._bus_access import BusAccess
from hub._consumers import Consumer, ConsumerRegistry
from hub._nats_server import EmbeddedNats
from hub._roles import Role
from hub._site_sync import provision_sites
from hub._sites import SiteError, load_sites, register_site
from hub.testing._bus import TestBus
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY

VAN = "van-9"


@dataclass
class Hostile:
    """The attacker's nats-server, a leaf node of the hub's with the van's key, and a client on it."""

    server: EmbeddedNats
    nc: NATS


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestBus, BusAccess, Path]]:
    directory = tmp_path_factory.mktemp("hub")
    bus = TestBus(directory, leaf_listen="127.0.0.1:-1")
    access = bus.start()
    bundle = directory.parent / "bundle"
    asyncio.run(_register(bus, access, bundle))
    yield bus, access, bundle
    bus.stop()


async def _register(bus: TestBus, access: BusAccess, bundle: Path) -> None:
    admin = await access.connect(Role.ADMIN)
    try:
        registry = await ConsumerRegistry.open(admin.jetstream())
        record, _ = await registry.add("van-9-desk", ["application.*"])
        await registry.close()
        register_site(
            bus.embedded._data_dir, name=VAN, prefix="V9", ticket_letter="W", consumer_records=[record],
            hub_leaf=await bus.embedded.leaf_url(), audit_key=TEST_AUDIT_KEY, bus_ca=bus.embedded.ca.cert_file,
            out=bundle,
        )  # fmt: skip
        bus.embedded.reload()
        await provision_sites(admin.jetstream(), load_sites(bus.embedded._data_dir))
    finally:
        await admin.close()


@pytest.fixture
async def hostile(hub: tuple[TestBus, BusAccess, Path], tmp_path: Path) -> AsyncIterator[Hostile]:
    _, _, bundle = hub
    site = json.loads((bundle / "site.json").read_text())
    config = {
        "jetstream": {"domain": VAN},
        "leafnodes": {"remotes": [{
            "url": site["hub_leaf"], "nkey": (bundle / "leaf.nk").read_text().strip(),
            "tls": {"ca_file": str(bundle / "ca.pem")},
        }]},
    }  # fmt: skip
    server = EmbeddedNats(tmp_path / "hostile")
    server.store_dir.mkdir(parents=True)
    server.config_file = tmp_path / "hostile.conf"
    server.config_file.write_text(json.dumps(config))
    url = await server.astart()
    nc = await nats.connect(url)
    try:
        await _linked(nc, hub[1])
        yield Hostile(server, nc)
    finally:
        await nc.close()
        await server.astop()


async def _linked(nc: NATS, access: BusAccess) -> None:
    """Until what the site may send reaches the hub: its report, heard by a worker (so the refusals below are the
    hub's permissions at work, not a link that never came up)."""
    heard: list[Msg] = []
    worker = await access.connect(Role.WORKER)
    try:
        await worker.subscribe(f"mpp.site.{VAN}.status", cb=_keep(heard))
        await worker.flush()

        async def reported() -> bool:
            await nc.publish(f"mpp.site.{VAN}.status", b'{"waiting": 0}')
            await nc.flush()
            await asyncio.sleep(0)  # let the worker's callback run
            return bool(heard)

        await until(reported, "the hostile site's report to reach the hub")
    finally:
        await worker.close()


def _keep(into: list[Msg]) -> Callable[[Msg], Awaitable[None]]:
    async def keep(msg: Msg) -> None:
        into.append(msg)

    return keep


async def _hub_client(access: BusAccess, role: Role) -> NATS:
    return await access.connect(role)


async def test_the_site_cannot_answer_for_an_agency(hub: tuple[TestBus, BusAccess, Path], hostile: Hostile) -> None:
    """It subscribes to every service subject; a call on the hub still finds nobody to answer it."""
    _, access, _ = hub
    answered: list[Msg] = []
    await hostile.nc.subscribe("mpp.v1.>", cb=_keep(answered))
    await hostile.nc.flush()
    cli = await _hub_client(access, Role.CLI)
    try:
        with pytest.raises(nats.errors.NoRespondersError):
            await cli.request(OPERATIONS.get("identity.lookup").subject, b"{}", timeout=2)
    finally:
        await cli.close()
    assert answered == []


async def test_the_site_reads_no_hub_stream_and_no_hub_reply(
    hub: tuple[TestBus, BusAccess, Path], hostile: Hostile
) -> None:
    """The hub's JetStream API, in its domain or without one, does not answer the site; the hub's roles' replies
    never reach it."""
    _, access, _ = hub
    for subject in ("$JS.hub.API.STREAM.INFO.MPP_AUDIT", "$JS.hub.API.STREAM.NAMES", "$JS.hub.API.INFO"):
        with pytest.raises((nats.errors.NoRespondersError, nats.errors.TimeoutError)):
            await hostile.nc.request(subject, b"", timeout=1)
    stolen: list[Msg] = []
    for inbox in ("_INBOX_cli.>", "_INBOX_edge.>", "_INBOX_worker.>", "_INBOX.>"):
        await hostile.nc.subscribe(inbox, cb=_keep(stolen))
    await hostile.nc.flush()
    cli = await _hub_client(access, Role.CLI)
    try:
        reply = await cli.request("$JS.API.INFO", b"", timeout=5)  # answered on the CLI's own inbox
        assert b"account_info_response" in reply.data
    finally:
        await cli.close()
    assert stolen == []


async def test_the_site_writes_nothing_of_the_hubs(hub: tuple[TestBus, BusAccess, Path], hostile: Hostile) -> None:
    """Publishing to the hub's audit, events and process subjects, or as another site, lands nowhere."""
    _, access, _ = hub
    cli = await _hub_client(access, Role.CLI)
    try:
        before = (await cli.jetstream().stream_info(AUDIT_STREAM)).state.messages
        for subject in ("mpp.audit.records", "mpp.events.application.done", "mpp.process.X", "mpp.site.van-8.status"):
            await hostile.nc.publish(subject, b'{"forged": true}')
        await hostile.nc.flush()
        # What the site sends crosses its link in order: once its own report is answered, the forgeries would be in.
        with contextlib.suppress(nats.errors.NoRespondersError, nats.errors.TimeoutError):
            await hostile.nc.request(f"mpp.site.{VAN}.status", b'{"waiting": 0}', timeout=1)
        assert (await cli.jetstream().stream_info(AUDIT_STREAM)).state.messages == before
    finally:
        await cli.close()


async def test_the_sites_key_is_no_client_key(hub: tuple[TestBus, BusAccess, Path]) -> None:
    _, access, bundle = hub
    seed = (bundle / "leaf.nk").read_text().strip()
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(
            access.url, nkeys_seed_str=seed, tls=access._tls, allow_reconnect=False, connect_timeout=3,
            max_reconnect_attempts=0,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"name": VAN}, "registered already"),
        ({"name": "hub"}, "site name"),
        ({"prefix": "V"}, "two characters"),
        ({"prefix": "VI"}, "two characters"),  # I is not in the tracking numbers' alphabet
        ({"prefix": "V9", "name": "van-8"}, "has prefix V9"),
        ({"ticket_letter": "w"}, "ticket letter"),
    ],
)
def test_a_site_is_registered_only_as_it_can_work(
    hub: tuple[TestBus, BusAccess, Path], tmp_path: Path, changes: dict[str, str], refusal: str
) -> None:
    bus, _, bundle = hub
    consumers = json.loads((bundle / "consumers.json").read_text())
    wanted = {"name": "van-8", "prefix": "V8", "ticket_letter": "X"} | changes
    with pytest.raises(SiteError, match=refusal):
        register_site(
            bus.embedded._data_dir, **wanted, consumer_records=[Consumer.model_validate(consumers[0])],
            hub_leaf="tls://127.0.0.1:1", audit_key=TEST_AUDIT_KEY, bus_ca=bus.embedded.ca.cert_file,
            out=tmp_path / "bundle",
        )  # fmt: skip
    assert not (tmp_path / "bundle").exists()
