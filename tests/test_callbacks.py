"""Agencies calling the hub: the HTTP edge's callback route and exactly-once events on JetStream."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.msg import Msg

from contracts import LookupByNik
from hub import Event, load_plugins
from hub._bus_access import BusAccess
from hub._events import EVENTS_STREAM, _key, event_subject
from hub._http import MAX_BODY_BYTES
from hub._runtime import Hub
from tests._stack import Stack
from tests._streams import messages_so_far
from tests.plugins import acme_registry

TOKEN = {"X-Acme-Token": "let-me-in"}


@pytest.fixture
async def edge(bus: BusAccess) -> AsyncIterator[tuple[Hub, httpx.AsyncClient]]:
    """A hub serving the ACME test plugin, with its HTTP edge on a free port."""
    async with Stack(bus, plugins=load_plugins(only=(), extra=[("acme", acme_registry)])) as stack:
        yield stack.hub, stack.http


async def _events(hub: Hub, name: str) -> list[Msg]:
    """Every ``name`` event published so far (the edge answers a callback once its event is stored)."""
    return await messages_so_far(hub.nc.jetstream(), EVENTS_STREAM.name or "", event_subject(name))


async def test_repeated_notification_gives_one_event(edge: tuple[Hub, httpx.AsyncClient]) -> None:
    """An agency sending the same notification three times gets three answers and the hub one event."""
    hub, http = edge
    nik = f"337601520385{uuid.uuid4().int % 9999 + 1:04d}"  # a fresh serial: a fresh dedup id
    answers = [await http.post("/callbacks/acme/notify", json={"nik": nik}, headers=TOKEN) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == {"status": "noted"} and answers[0].headers["x-acme"] == "1"
    events = [m for m in await _events(hub, "acme.moved") if LookupByNik.model_validate_json(m.data).nik == nik]
    assert len(events) == 1
    assert (events[0].headers or {}).get("Mpp-Event") == "acme.moved"


async def test_refused_callback_publishes_nothing(edge: tuple[Hub, httpx.AsyncClient]) -> None:
    """The plugin's refusal (a bad signature, say) reaches the agency in its own form, with no event."""
    hub, http = edge
    before = len(await _events(hub, "acme.moved"))
    answer = await http.post("/callbacks/acme/notify", json={"nik": "3376015203850002"})
    assert answer.status_code == 401 and answer.json() == {"status": "who are you?"}
    assert len(await _events(hub, "acme.moved")) == before


async def test_callback_faults_are_contract_errors(edge: tuple[Hub, httpx.AsyncClient]) -> None:
    """Unknown callbacks, oversized bodies and plugin crashes answer with a contract error, never a trace."""
    _, http = edge
    unknown = await http.post("/callbacks/acme/nope", json={})
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert (await http.post("/callbacks/nobody/notify", json={})).status_code == 404
    huge = await http.post("/callbacks/acme/notify", content=b"x" * (MAX_BODY_BYTES + 1), headers=TOKEN)
    assert huge.status_code == 413 and huge.json()["code"] == "invalid_input"
    crash = await http.post("/callbacks/acme/notify", content=b'{"boom": 1}', headers=TOKEN)
    assert crash.status_code == 500 and crash.json()["code"] == "internal" and "Traceback" not in crash.text
    assert (await http.get("/callbacks/acme/notify")).status_code == 405


async def test_publisher_drops_repeats_even_after_the_duplicate_window(edge: tuple[Hub, httpx.AsyncClient]) -> None:
    """The id record catches a late repeat; JetStream's Nats-Msg-Id catches a repeat racing the record."""
    hub, _ = edge
    event = Event("acme.moved", LookupByNik(nik="3376015203850002"), dedup_id=f"test:{uuid.uuid4()}")
    assert await hub.events.publish(event) is True
    assert await hub.events.publish(event) is False  # the id record
    await hub.events._published.purge(_key(event.dedup_id))
    assert await hub.events.publish(event) is False  # Nats-Msg-Id inside the window
