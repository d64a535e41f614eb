"""The queue through the edge over real HTTP: a kiosk takes tickets, desks call only their own services' tickets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub._bus_access import BusAccess
from tests._stack import Grant, Stack

CONSUMERS = {
    "kiosk": Grant(["queue.take", "queue.read"]),
    "desk03": Grant(["queue.desk.loket3"]),  # BPJS's desk
    "desk05": Grant(["queue.desk.loket5"]),  # Samsat and the bank
    "screen": Grant(["queue.read"]),
}


@pytest.fixture
async def hall(bus: BusAccess) -> AsyncIterator[Stack]:
    async with Stack(bus, agencies=(), consumers=CONSUMERS) as stack:
        yield stack


async def _take(hall: Stack, service: str) -> dict[str, Any]:
    taken = await hall.http.post(
        "/v1/queue/tickets", json={"service": service, "channel": "kiosk"}, headers=hall.headers("kiosk", purpose=None)
    )
    assert taken.status_code == 201, taken.text
    place: dict[str, Any] = taken.json()
    return place


async def _drain(hall: Stack, desk: str) -> None:
    """Other tests on the shared bus may have left tickets waiting today: call them away first."""
    headers = hall.headers("desk" + desk[-1].zfill(2), purpose=None)
    while (await hall.http.post(f"/v1/queue/desks/{desk}/call", headers=headers)).status_code == 200:
        pass


async def test_a_desk_calls_its_own_services_and_moves_the_ticket_on(hall: Stack) -> None:
    for desk in ("loket3", "loket5"):
        await _drain(hall, desk)
    bpjs, samsat = await _take(hall, "bpjs"), await _take(hall, "samsat")
    second = await _take(hall, "samsat")
    assert (bpjs["ahead"], samsat["ahead"], second["ahead"]) == (0, 0, 1)
    assert str(bpjs["ticket"]["number"]).startswith("B-")

    desk05 = hall.headers("desk05", purpose=None)
    called = await hall.http.post("/v1/queue/desks/loket5/call", headers=desk05)
    assert called.status_code == 200, called.text
    assert called.json()["id"] == samsat["ticket"]["id"] and called.json()["desk"] == "loket5"
    ticket_id = called.json()["id"]

    screen = await hall.http.get(
        f"/v1/queue/tickets/{second['ticket']['id']}", headers=hall.headers("screen", purpose=None)
    )
    assert screen.status_code == 200 and screen.json()["ahead"] == 0

    for move, status in (("start", "in_service"), ("finish", "done")):
        moved = await hall.http.post(f"/v1/queue/desks/loket5/tickets/{ticket_id}/{move}", headers=desk05)
        assert moved.status_code == 200 and moved.json()["status"] == status, moved.text
    again = await hall.http.post(f"/v1/queue/desks/loket5/tickets/{ticket_id}/start", headers=desk05)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    bad = await hall.http.post(f"/v1/queue/desks/loket5/tickets/{ticket_id}/teleport", headers=desk05)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"

    # Desk 05 serves Samsat and the bank only: BPJS's ticket stays for desk 03.
    assert (await hall.http.post("/v1/queue/desks/loket5/call", headers=desk05)).json()["id"] == second["ticket"]["id"]
    nobody = await hall.http.post("/v1/queue/desks/loket5/call", headers=desk05)
    assert nobody.status_code == 404 and "samsat, bank" in nobody.json()["message"]
    desk03 = await hall.http.post("/v1/queue/desks/loket3/call", headers=hall.headers("desk03", purpose=None))
    assert desk03.json()["id"] == bpjs["ticket"]["id"]


async def test_rights_keep_each_desk_to_itself(hall: Stack) -> None:
    ticket = (await _take(hall, "samsat"))["ticket"]
    for consumer, path in (
        ("desk03", "/v1/queue/desks/loket5/call"),  # another desk's right
        ("kiosk", "/v1/queue/desks/loket5/call"),  # a kiosk takes tickets, it calls none
        ("desk05", "/v1/queue/tickets"),  # a desk's key does not take tickets
    ):
        body = {"service": "samsat", "channel": "desk"} if path.endswith("tickets") else None
        refused = await hall.http.post(path, json=body, headers=hall.headers(consumer, purpose=None))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden", (consumer, path)
        assert "--allow queue." in refused.json()["message"]
    await _drain(hall, "loket5")
    moved = await hall.http.post(
        f"/v1/queue/desks/loket3/tickets/{ticket['id']}/start",
        headers=hall.headers("desk03", purpose=None),
    )
    assert moved.status_code == 403  # called to desk 05, not 03
    unknown = await hall.http.post("/v1/queue/desks/loket9/call", headers=hall.headers("desk05", purpose=None))
    assert unknown.status_code == 404 and "loket1, loket2, loket3, loket4, loket5" in unknown.json()["message"]
    nokey = await hall.http.post("/v1/queue/tickets", json={"service": "samsat", "channel": "kiosk"})
    assert nokey.status_code == 401


async def test_bad_tickets_get_typed_errors(hall: Stack) -> None:
    kiosk = hall.headers("kiosk", purpose=None)
    wrong = await hall.http.post("/v1/queue/tickets", json={"service": "pajak", "channel": "kiosk"}, headers=kiosk)
    assert wrong.status_code == 404 and "dukcapil" in wrong.json()["message"]
    channel = await hall.http.post("/v1/queue/tickets", json={"service": "bpjs", "channel": "fax"}, headers=kiosk)
    assert channel.status_code == 400 and channel.json()["code"] == "invalid_input"
    for ticket_id, status in (("20991231-A999", 404), ("nonsense", 400)):
        answer = await hall.http.get(f"/v1/queue/tickets/{ticket_id}", headers=kiosk)
        assert answer.status_code == status, answer.text
