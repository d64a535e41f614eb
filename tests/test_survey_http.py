"""The satisfaction survey through the edge over real HTTP: only a served visit, only with its proof, only once;
the index read back exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from contracts import parse_nik
from hub._bus_access import BusAccess
from hub._time import WIB, utcnow
from hub.testing._bus import TestBus
from tests._stack import Grant, Stack
from tests.test_applications import Mall, _pay, _submit, _until, _vehicle_to_renew, open_mall

CONSUMERS = {
    "kiosk": Grant(["queue.take"]),
    "desk": Grant(["queue.desk.loket3"]),  # BPJS's desk
    "tablet": Grant(["survey.submit"]),
    "manager": Grant(["survey.read"]),
}
ELEMENTS = [f"U{i}" for i in range(1, 10)]


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[BusAccess]:
    """A bus of each test's own, so the index a test reads holds exactly the surveys it gave."""
    server = TestBus(tmp_path / "nats")
    yield await server.astart()
    await server.astop()


@pytest.fixture
async def hall(bus: BusAccess) -> AsyncIterator[Stack]:
    async with Stack(bus, agencies=(), consumers=CONSUMERS) as stack:
        yield stack


async def _served_ticket(hall: Stack, *, finish: bool = True) -> dict[str, Any]:
    kiosk, desk = hall.headers("kiosk", None), hall.headers("desk", None)
    taken: dict[str, Any] = (
        await hall.http.post("/v1/queue/tickets", json={"service": "bpjs", "channel": "kiosk"}, headers=kiosk)
    ).json()
    while True:  # earlier tickets of the shared bus may wait ahead of it: serve them through
        called = (await hall.http.post("/v1/queue/desks/loket3/call", headers=desk)).json()
        moves = ("start", "finish") if finish or called["id"] != taken["ticket"]["id"] else ()
        for move in moves:
            await hall.http.post(f"/v1/queue/desks/loket3/tickets/{called['id']}/{move}", headers=desk)
        if called["id"] == taken["ticket"]["id"]:
            return taken


def _survey(scores: list[int], **subject: str) -> dict[str, Any]:
    return {"answers": dict(zip(ELEMENTS, scores, strict=True)), **subject}


async def test_a_served_ticket_is_rated_once_with_its_code(hall: Stack) -> None:
    tablet = hall.headers("tablet", None)
    unserved = await _served_ticket(hall, finish=False)  # called, not finished
    early = await hall.http.post(
        "/v1/survey", json=_survey([4] * 9, ticket_id=unserved["ticket"]["id"], code=unserved["code"]), headers=tablet
    )
    assert early.status_code == 409 and "belum selesai" in early.json()["message"]

    served = await _served_ticket(hall)
    ticket_id = served["ticket"]["id"]
    for code in (unserved["code"], "AAAAAAAA"):  # another ticket's code, a made-up one
        guessed = await hall.http.post(
            "/v1/survey", json=_survey([1] * 9, ticket_id=ticket_id, code=code), headers=tablet
        )
        assert guessed.status_code == 403 and guessed.json()["code"] == "forbidden"
    kept = await hall.http.post(
        "/v1/survey",
        json=_survey([4, 3, 4, 4, 3, 4, 4, 3, 4], ticket_id=ticket_id, code=served["code"]),
        headers=tablet,
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["desk"] == "loket3" and kept.json()["agency"] == "bpjs" and kept.json()["channel"] == "desk"
    again = await hall.http.post(
        "/v1/survey", json=_survey([1] * 9, ticket_id=ticket_id, code=served["code"]), headers=tablet
    )
    assert again.status_code == 409 and again.json()["code"] == "conflict"

    refused = await hall.http.post(
        "/v1/survey",
        json=_survey([4] * 9, ticket_id=ticket_id, code=served["code"]),
        headers=hall.headers("kiosk", None),
    )
    assert refused.status_code == 403  # a kiosk key without survey.submit


async def test_the_index_of_the_day_is_exact_and_per_desk(hall: Stack) -> None:
    tablet, manager = hall.headers("tablet", None), hall.headers("manager", None)
    today = utcnow().astimezone(WIB).date().isoformat()
    before = await hall.http.get("/v1/survey/ikm", params={"start": today, "grouping": "desk"}, headers=manager)
    assert before.status_code == 200 and before.json()["groups"] == [], before.text

    for scores in ([4] * 9, [3] * 9, [2, 3, 4, 3, 2, 3, 4, 3, 2]):
        served = await _served_ticket(hall)
        body = _survey(scores, ticket_id=served["ticket"]["id"], code=served["code"])
        assert (await hall.http.post("/v1/survey", json=body, headers=tablet)).status_code == 201
    after = await hall.http.get("/v1/survey/ikm", params={"start": today, "grouping": "desk"}, headers=manager)
    loket3 = next(group["figure"] for group in after.json()["groups"] if group["key"] == "loket3")
    assert loket3["respondents"] == 3
    # Worked by hand: element i's NRR is (4 + 3 + the third survey's score) / 3; the IKM is their mean, x25.
    nrr = [Fraction(4 + 3 + score, 3) for score in [2, 3, 4, 3, 2, 3, 4, 3, 2]]
    assert [Fraction(e["nrr"]["exact"]) for e in loket3["elements"]] == nrr
    # The NRRs add up to (9 * 7 + 26) / 3 = 89/3, so the IKM is 89/27 and the converted value 2225/27 (82.40...): B.
    assert Fraction(loket3["ikm"]["exact"]) == Fraction(89, 27) == sum(nrr) / 9
    assert Fraction(loket3["converted"]["exact"]) == Fraction(2225, 27) and loket3["band"] == "B"

    bad = await hall.http.get("/v1/survey/ikm", params={"start": today, "days": 400}, headers=manager)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"
    assert (await hall.http.get("/v1/survey/ikm", params={"start": today}, headers=tablet)).status_code == 403


@pytest.fixture
async def mall(bus: BusAccess) -> AsyncIterator[Mall]:
    async with open_mall(bus) as opened:
        await opened.stack.add_consumer("tablet", Grant(["survey.submit"]))
        yield opened


async def test_an_application_is_rated_once_it_is_done_with_its_birth_date(mall: Mall) -> None:
    tablet = mall.stack.headers("tablet", None)
    nik, plate = _vehicle_to_renew()
    born = parse_nik(nik).birth_date
    application = await _submit(mall, nik, plate)
    number = application["tracking_no"]
    waiting = await _until(mall, number, "awaiting_payment")
    early = await mall.http.post(
        "/v1/survey", json=_survey([4] * 9, tracking_no=number, birth_date=str(born)), headers=tablet
    )
    assert early.status_code == 409 and "belum selesai" in early.json()["message"]

    await _pay(mall, waiting["details"]["virtual_account"])
    await _until(mall, number, "done")
    wrong_day = born.replace(day=born.day % 28 + 1)
    wrong = await mall.http.post(
        "/v1/survey", json=_survey([4] * 9, tracking_no=number, birth_date=str(wrong_day)), headers=tablet
    )
    assert wrong.status_code == 404 and nik not in wrong.text
    kept = await mall.http.post(
        "/v1/survey", json=_survey([3] * 9, tracking_no=number, birth_date=str(born)), headers=tablet
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["service"] == "vehicle-tax-renewal" and kept.json()["channel"] == "kiosk"
    assert nik not in kept.text and str(born) not in kept.text  # the birth date proved it and was not kept
