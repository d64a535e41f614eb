"""The sites (MPP bergerak) in the ops views: `/ops/state`'s ``sites``, the dashboard's panel and `mpp-hub top`.

The states are written as the hub's site-sync worker writes them (:class:`hub._site_state.SiteBook`), with their
times given: a van that reported two seconds ago, linked for ten; a kiosk last seen three days ago; a van
registered and never heard from. The views read them over real NATS and real HTTP.

A hub reads the registrations when it starts (and syncs those sites' streams): the tests register after their hub
is up, and take the registrations away again after each test.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from nats.aio.client import Client as NATS
from rich.console import Console

from contracts import SiteState
from hub._bus_access import BusAccess
from hub._roles import Role
from hub._site_state import SITES_BUCKET, SiteBook
from hub._sites import SiteRecord
from hub._time import utcnow
from hub._watch import site_states, sites_json, sites_table, top
from hub.testing._bus import TestBus
from tests._stack import Grant, Stack
from tests.conftest import connect

SITES = ("kios-2", "van-1", "van-3")


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A bus of this module's own: every view lists every registered site, so no other test's may be there."""
    server = TestBus(tmp_path_factory.mktemp("sites-bus"))
    yield server.start()
    server.stop()


Seed = Callable[[dt.datetime], Awaitable[list[SiteState]]]


def _registration(site: str, letter: str) -> bytes:
    """A registration as `mpp-hub site add` writes it (the keys are placeholders: nothing here verifies them)."""
    record = SiteRecord(
        name=site, prefix=f"{letter}1", ticket_letter=letter, consumers=(f"desk-{site}",),
        leaf_nkey=f"U{letter * 55}", issuer=base64.b64encode(bytes(32)).decode(),
    )  # fmt: skip
    return record.model_dump_json().encode()


async def _purge(bus: BusAccess) -> None:
    """The three sites' registrations and states gone (purge markers, whether they were there or not)."""
    nc = await connect(bus, Role.ADMIN)
    try:
        kv = await nc.jetstream().key_value(SITES_BUCKET)
        for site in SITES:
            for key in (f"site.{site}", f"seen.{site}", f"synced.{site}"):
                await kv.purge(key)
    finally:
        await nc.close()


@pytest.fixture
async def seed(bus: BusAccess) -> AsyncIterator[Seed]:
    """Writes the three sites' states as of a moment (:func:`_seed`); takes them away after the test."""
    await _purge(bus)
    yield lambda now: _seed(bus, now)
    await _purge(bus)


async def _seed(bus: BusAccess, now: dt.datetime) -> list[SiteState]:
    """The three sites registered and their states as of ``now``; the states expected."""
    nc = await connect(bus, Role.ADMIN)
    try:
        book = await SiteBook.open(nc.jetstream())
        for site, letter in zip(SITES, "KVW", strict=True):
            await book.register(site, _registration(site, letter))
        # van-1: linked since ten seconds ago, reported two seconds ago with 3 waiting; two batches synced.
        await book.record_seen("van-1", waiting=7, at=now - dt.timedelta(seconds=10))
        await book.record_seen("van-1", waiting=3, at=now - dt.timedelta(seconds=2))
        await book.record_synced("van-1", seq=12, at=now - dt.timedelta(seconds=5))
        await book.record_synced("van-1", seq=14, at=now - dt.timedelta(seconds=3))
        # kios-2: last seen three days ago holding 9, nothing synced since it was set up.
        await book.record_seen("kios-2", waiting=9, at=now - dt.timedelta(days=3))
    finally:
        await nc.close()
    van = SiteState(
        site="van-1", connected=True, since=now - dt.timedelta(seconds=10), waiting=3, synced=2,
        last_sync=now - dt.timedelta(seconds=3),
    )  # fmt: skip
    return [
        SiteState(site="kios-2", connected=False, since=now - dt.timedelta(days=3), waiting=9, synced=0),
        van,
        SiteState(site="van-3", connected=False, since=None, waiting=0, synced=0),
    ]


@pytest.fixture
async def watcher(bus: BusAccess) -> AsyncIterator[NATS]:
    """A connection as the ops role, which `mpp-hub top` uses."""
    nc = await connect(bus, Role.OPS)
    yield nc
    await nc.close()


def _local(moment: dt.datetime, now: dt.datetime) -> str:
    local = moment.astimezone()
    return f"{local:%H:%M:%S}" if local.date() == now.astimezone().date() else f"{local:%Y-%m-%d %H:%M}"


async def test_top_reads_the_sites_as_the_ops_role_and_draws_a_line_each(seed: Seed, watcher: NATS) -> None:
    """The ops role may read the bucket; at a given moment each site's line says connected or offline, since when,
    what waits, what was synced and when last."""
    now = dt.datetime(2031, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    expected = await seed(now)
    states = await site_states(watcher, now)
    assert states == expected
    assert sites_json(states) == [state.model_dump(mode="json") for state in expected]
    assert sites_json(None) is None

    out = io.StringIO()
    Console(file=out, width=120).print(sites_table(expected, now))
    text = out.getvalue()
    assert text.splitlines()[0].strip() == "Sites (MPP bergerak)"
    lines = {line.split()[0]: line for line in text.splitlines() if line.split()[:1] and line.split()[0] in SITES}
    assert set(lines) == set(SITES)
    assert lines["van-1"].split() == [
        "van-1", "connected", _local(now - dt.timedelta(seconds=10), now), "3", "2",
        _local(now - dt.timedelta(seconds=3), now),
    ]  # fmt: skip
    kiosk = now - dt.timedelta(days=3)
    assert re.fullmatch(rf"kios-2\s+offline\s+{re.escape(_local(kiosk, now))}\s+9\s+0\s+-", lines["kios-2"].strip())
    assert lines["van-3"].split() == ["van-3", "offline", "-", "0", "0", "-"]


async def test_top_once_prints_the_sites_in_json_and_in_its_table(seed: Seed, watcher: NATS) -> None:
    """`top --once --json` has a ``sites`` list beside the traffic's rows; the table has a line per site."""
    expected = await seed(utcnow())
    as_json = io.StringIO()
    rows = await top(watcher, once=True, seconds=0.1, as_json=True, out=as_json)
    snapshot = json.loads(as_json.getvalue())
    assert snapshot["rows"] == rows == []
    assert [SiteState.model_validate(site) for site in snapshot["sites"]] == expected

    as_text = io.StringIO()
    await top(watcher, once=True, seconds=0.1, out=as_text)
    text = as_text.getvalue()
    assert "Sites (MPP bergerak)" in text and "waiting for traffic" in text
    assert re.search(r"van-1\s+connected\s", text) and re.search(r"kios-2\s+offline\s", text)


async def test_ops_state_and_the_page_show_the_sites(bus: BusAccess, seed: Seed) -> None:
    """`/ops/state` over HTTP carries the sites' states for the ops right (and nobody else); the page has the
    panel, in Bahasa Indonesia."""
    consumers = {"ops": Grant(["ops.dashboard"]), "kiosk": Grant(["identity.lookup"])}
    async with Stack(bus, consumers=consumers, purpose=None) as ops:
        expected = await seed(utcnow())
        refused = await ops.http.get("/ops/state", headers=ops.headers("kiosk"))
        assert refused.status_code == 403 and "sites" not in refused.json()
        answer = await ops.http.get("/ops/state", headers=ops.headers("ops"))
        assert answer.status_code == 200, answer.text
        assert [SiteState.model_validate(site) for site in answer.json()["sites"]] == expected

        page = await ops.http.get("/ops", headers=ops.headers("ops"))
        assert page.status_code == 200 and 'data-testid="sites"' in page.text
        for label in ("Situs / MPP bergerak", "sejak", "menunggu sinkron", "sinkron terakhir", "Terhubung", "Terputus"):
            assert label in page.text
