"""Bookings and emergency notices through the edge over real HTTP: rights per key, the codes, the audit."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from contracts import ErrorCode, HubError
from hub._audit import AuditLog, AuditRecord
from hub._bus_access import BusAccess
from hub._roles import Role
from hub._time import WIB
from tests._stack import Grant, Stack
from tests.conftest import TEST_AUDIT_KEY, connect

CONSUMERS = {
    "portal": Grant(["queue.book", "queue.read"]),
    "kiosk": Grant(["queue.take", "queue.read"]),
    "manager": Grant(["front.notice"], names_officers=True),
    "screen": Grant(["queue.read"]),
}
NOTICE = {
    "kind": "evacuation",
    "title": "Evakuasi gedung",
    "instructions": "Tinggalkan gedung melalui tangga darurat. Jangan memakai lift.",
    "where_to_go": "Titik kumpul di halaman parkir depan",
    "contact": "Petugas keamanan: (0283) 000-000",
}


@pytest.fixture
async def hall(bus: BusAccess) -> AsyncIterator[Stack]:
    async with Stack(bus, agencies=(), consumers=CONSUMERS) as stack:
        yield stack


def _next_open_day() -> dt.date:
    day = dt.datetime.now(WIB).date() + dt.timedelta(days=1)
    while day.weekday() >= 5:  # a holiday has no slots either: the test asks the slots and picks one that exists
        day += dt.timedelta(days=1)
    return day


async def _a_slot(hall: Stack) -> tuple[dt.date, str]:
    day = _next_open_day()
    for _ in range(10):
        slots = await hall.http.get(
            "/v1/queue/slots", params={"service": "samsat", "day": str(day)}, headers=hall.headers("screen", None)
        )
        assert slots.status_code == 200, slots.text
        if free := [s for s in slots.json()["slots"] if s["free"] > 0]:
            return day, dt.datetime.fromisoformat(free[-1]["starts_at"]).astimezone(WIB).strftime("%H:%M")
        day += dt.timedelta(days=1)
    raise AssertionError("no open day with a free slot in ten days")


async def test_a_portal_books_a_slot_and_only_its_code_cancels_it(hall: Stack) -> None:
    day, slot = await _a_slot(hall)
    request = {"service": "samsat", "day": str(day), "slot": slot, "channel": "portal"}
    refused = await hall.http.post("/v1/queue/bookings", json=request, headers=hall.headers("kiosk", None))
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"  # a kiosk checks in, not books

    booked = await hall.http.post("/v1/queue/bookings", json=request, headers=hall.headers("portal", None))
    assert booked.status_code == 201, booked.text
    receipt = booked.json()
    assert receipt["qr_svg"].startswith("<svg") and booked.headers["cache-control"] == "no-store"
    booking_id = receipt["booking"]["id"]
    read = await hall.http.get(f"/v1/queue/bookings/{booking_id}", headers=hall.headers("screen", None))
    assert read.status_code == 200 and "code" not in read.json() and read.json()["status"] == "booked"

    wrong = await hall.http.post(
        f"/v1/queue/bookings/{booking_id}/cancel", json={"code": "x" * 16}, headers=hall.headers("portal", None)
    )
    assert wrong.status_code == 403 and receipt["code"] not in wrong.text
    early = await hall.http.post(
        f"/v1/queue/bookings/{booking_id}/check-in", json={"code": receipt["code"]}, headers=hall.headers("kiosk", None)
    )
    assert early.status_code == 409 and "opens at" in early.json()["message"]  # the slot is on a later day
    cancelled = await hall.http.post(
        f"/v1/queue/bookings/{booking_id}/cancel", json={"code": receipt["code"]}, headers=hall.headers("portal", None)
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


async def test_bad_booking_requests_get_typed_errors(hall: Stack) -> None:
    portal = hall.headers("portal", None)
    day = _next_open_day()
    for body, field in (
        ({"service": "samsat", "day": str(day), "slot": "09:10", "channel": "portal"}, "slot"),
        ({"service": "samsat", "day": "2020-01-06", "slot": "09:00", "channel": "portal"}, "day"),
        ({"service": "samsat", "day": str(day), "slot": "25:00", "channel": "portal"}, "slot"),
    ):
        answer = await hall.http.post("/v1/queue/bookings", json=body, headers=portal)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_input", answer.text
        assert field in {issue["field"] for issue in answer.json()["issues"]}, answer.text
    unknown = await hall.http.post(
        "/v1/queue/bookings", json={"service": "paspor", "day": str(day), "slot": "09:00", "channel": "portal"},
        headers=portal,
    )  # fmt: skip
    assert unknown.status_code == 404 and "samsat" in unknown.json()["message"]
    missing = await hall.http.get("/v1/queue/bookings/20261207-C0930-1", headers=hall.headers("screen", None))
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def _front_records(bus: BusAccess) -> list[AuditRecord]:
    nc = await connect(bus, Role.CLI)
    try:
        log = AuditLog(nc.jetstream(), TEST_AUDIT_KEY)
        return [r async for r in log.records() if r.operation.startswith("front.notice")]
    finally:
        await nc.close()


async def test_a_manager_raises_and_clears_the_notice_and_both_are_audited(hall: Stack, bus: BusAccess) -> None:
    screen, manager = hall.headers("screen", None), hall.headers("manager", None, **{"X-Officer": "kepala-mpp"})
    before = len(await _front_records(bus))
    assert (await hall.http.post("/v1/front/notice", json=NOTICE, headers=screen)).status_code == 403

    raised = await hall.http.post("/v1/front/notice", json=NOTICE, headers=manager)
    assert raised.status_code == 201, raised.text
    shown = await hall.http.get("/v1/front/notice", headers=screen)
    assert shown.status_code == 200 and shown.json()["title"] == NOTICE["title"]
    assert shown.json()["raised_at"] == raised.json()["raised_at"]

    cleared = await hall.http.delete("/v1/front/notice", headers=manager)
    assert cleared.status_code == 200
    assert (await hall.http.get("/v1/front/notice", headers=screen)).status_code == 404
    assert (await hall.http.delete("/v1/front/notice", headers=manager)).status_code == 404

    records = (await _front_records(bus))[before:]
    raised_by = [(r.operation, r.consumer, r.officer, r.outcome) for r in records if r.outcome == "ok"]
    assert raised_by == [
        ("front.notice.raise", hall.name("manager"), "kepala-mpp", "ok"),
        ("front.notice.clear", hall.name("manager"), "kepala-mpp", "ok"),
    ]
    refused = [r for r in records if r.outcome == "forbidden"]
    assert [r.consumer for r in refused] == [hall.name("screen")]  # the screen's attempt is on record too


async def test_a_notice_is_refused_unless_it_says_what_to_do(hall: Stack) -> None:
    manager = hall.headers("manager", None)
    for broken in ({**NOTICE, "kind": "fire drill"}, {**NOTICE, "instructions": ""}, {"kind": "evacuation"}):
        answer = await hall.http.post("/v1/front/notice", json=broken, headers=manager)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_input", answer.text


async def test_a_ticket_gets_its_code_when_taken_and_never_again(hall: Stack) -> None:
    kiosk = hall.headers("kiosk", None)
    taken = [
        (await hall.http.post("/v1/queue/tickets", json={"service": "bpjs", "channel": "kiosk"}, headers=kiosk)).json()
        for _ in range(2)
    ]
    codes = [place["code"] for place in taken]
    assert all(len(code) == 8 for code in codes) and codes[0] != codes[1]
    read = await hall.http.get(f"/v1/queue/tickets/{taken[0]['ticket']['id']}", headers=kiosk)
    assert read.status_code == 200 and "code" not in read.json() and codes[0] not in read.text

    assert hall.edge is not None
    queue = hall.edge.queue
    queue.check_code(taken[0]["ticket"]["id"], codes[0])
    queue.check_code(taken[0]["ticket"]["id"], codes[0].lower())  # as a person types it from the slip
    for ticket, code in ((taken[0], codes[1]), (taken[1], codes[0]), (taken[0], "AAAAAAAA")):
        with pytest.raises(HubError) as refused:
            queue.check_code(ticket["ticket"]["id"], code)
        assert refused.value.error.code is ErrorCode.FORBIDDEN


async def test_an_evacuation_notice_goes_up_even_when_its_audit_record_cannot_be_written(hall: Stack) -> None:
    assert hall.edge is not None
    gate = hall.edge.gate
    kept, gate.audit = (
        gate.audit,
        AuditLog(hall.edge.nc.jetstream(), TEST_AUDIT_KEY, stream="MPP_AUDIT_MISSING", subject="mpp.nowhere"),
    )
    try:
        raised = await hall.http.post("/v1/front/notice", json=NOTICE, headers=hall.headers("manager", None))
        assert raised.status_code == 201, raised.text
        shown = await hall.http.get("/v1/front/notice", headers=hall.headers("screen", None))
        assert shown.status_code == 200 and shown.json()["kind"] == "evacuation"
    finally:
        gate.audit = kept
        await hall.http.delete("/v1/front/notice", headers=hall.headers("manager", None))
