"""The board (``/papan``) and the citizen page (``/warga``) over real HTTP: who may see the board, the pages'
content security policy, the public API's per-address limit, a lookup that reveals nothing on a wrong birth
date, and a board stream that carries numbers and desks only."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from contracts import NoticeKind, NoticeRequest, new_tracking_number, parse_nik
from hub import load_plugins
from hub._bus_access import BusAccess
from hub._documents import Document
from hub._time import WIB
from tests._stack import Grant, Stack
from tests._until import until
from tests.conftest import ANY_PURPOSE

CONSUMERS = {
    "desk": Grant(["*"]),  # files the applications the citizen then follows
    "screen": Grant(["queue.display"]),
    "kiosk": Grant(["queue.take", "queue.read"]),  # queue rights, but not the board's
    "desk04": Grant(["queue.desk.loket4"]),  # Samsat's desk
}
_NIK = re.compile(r"(?<![0-9A-Za-z])\d{16}(?![0-9A-Za-z])")


@pytest.fixture
async def mall(bus: BusAccess) -> AsyncIterator[Stack]:
    async with Stack(
        bus,
        agencies=("samsat", "bank", "lapor"),
        processes=("vehicle_tax_renewal", "pengaduan"),
        consumers=CONSUMERS,
        purpose=ANY_PURPOSE,
    ) as stack:
        yield stack


async def _submit(mall: Stack, index: int = 0) -> tuple[str, str, str]:
    """A vehicle tax renewal filed at a desk: its tracking number, the applicant's NIK and birth date."""
    samsat = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()
    nik = samsat["nik"][index]
    body = {
        "service": "vehicle-tax-renewal", "applicant_nik": nik, "channel": "desk",
        "params": {"plate": samsat["plate"][index]},
    }  # fmt: skip
    answer = await mall.http.post("/v1/applications", json=body, headers=mall.headers("desk"))
    assert answer.status_code == 201, answer.text
    return answer.json()["tracking_no"], nik, parse_nik(nik).birth_date.isoformat()


async def _drain(mall: Stack) -> None:
    """Other tests on the shared bus may have left Samsat tickets waiting today: call them away first."""
    headers = mall.headers("desk04", None)
    while (await mall.http.post("/v1/queue/desks/loket4/call", headers=headers)).status_code == 200:
        pass


async def _stream(mall: Stack, path: str, **headers: str) -> str:
    """One whole stream (the hub ends each after a few seconds)."""
    async with mall.http.stream("GET", path, headers=headers) as answer:
        assert answer.status_code == 200
        return "".join([chunk async for chunk in answer.aiter_text()])


async def test_the_board_needs_a_key_with_queue_display_and_never_shows_it(mall: Stack) -> None:
    anonymous = await mall.http.get("/papan")
    assert anonymous.status_code == 401 and 'data-view="login"' in anonymous.text
    assert 'lang="id"' in anonymous.text and "Kunci API" in anonymous.text

    kiosk = mall.keys["kiosk"]
    refused = await mall.http.get("/papan", headers={"Cookie": f"mpp_board_key={kiosk}"})
    assert refused.status_code == 403 and "queue.display" in refused.text
    assert kiosk not in refused.text and 'data-view="login"' in refused.text
    assert 'mpp_board_key=""' in refused.headers["set-cookie"]  # the refused key is forgotten
    wrong = await mall.http.post("/papan/session", data={"api_key": kiosk})
    assert wrong.status_code == 403 and kiosk not in wrong.text and "set-cookie" not in wrong.headers
    for path in ("/papan/state", "/papan/stream"):
        assert (await mall.http.get(path)).status_code == 401
        answer = await mall.http.get(path, headers={"Authorization": f"Bearer {kiosk}"})
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden" and kiosk not in answer.text
    other_site = await mall.http.post(
        "/papan/session", data={"api_key": mall.keys["screen"]}, headers={"Origin": "https://elsewhere.example"}
    )
    assert other_site.status_code == 403 and "set-cookie" not in other_site.headers

    screen = mall.keys["screen"]
    login = await mall.http.post("/papan/session", data={"api_key": screen})
    assert login.status_code == 303 and login.headers["location"] == "/papan"
    cookie = login.headers["set-cookie"]
    assert f"mpp_board_key={screen}" in cookie and "HttpOnly" in cookie and "Path=/papan" in cookie
    assert "samesite=strict" in cookie.lower()
    board = await mall.http.get("/papan", headers={"Cookie": f"mpp_board_key={screen}"})
    assert board.status_code == 200 and 'data-view="board"' in board.text and screen not in board.text


async def test_the_pages_run_under_a_strict_policy_and_load_nothing_from_elsewhere(mall: Stack) -> None:
    for path, headers in (("/warga", {}), ("/papan", {"Cookie": f"mpp_board_key={mall.keys['screen']}"})):
        answer = await mall.http.get(path, headers=headers)
        assert answer.status_code == 200, path
        policy = answer.headers["content-security-policy"]
        nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]{16,})'", policy)
        assert nonce and f"style-src 'nonce-{nonce.group(1)}'" in policy, policy
        assert "default-src 'none'" in policy and "unsafe" not in policy and "frame-ancestors 'none'" in policy
        assert "connect-src 'self'" in policy and "http" not in policy
        tags = re.findall(r"<(script|style)\b([^>]*)>", answer.text)
        assert tags and all(f'nonce="{nonce.group(1)}"' in attributes for _, attributes in tags), tags
        assert not re.search(r"(src|href)=\"(https?:)?//", answer.text), f"{path} loads something from elsewhere"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
    first, second = [(await mall.http.get("/warga")).headers["content-security-policy"] for _ in range(2)]
    assert first != second, "a nonce is fresh on every response"


async def test_a_burst_of_lookups_from_one_address_is_refused_with_a_contract_error(mall: Stack) -> None:
    body = {"tracking_no": new_tracking_number(), "birth_date": "1990-01-01"}
    answers = [await mall.http.post("/warga/api/applications/lookup", json=body) for _ in range(12)]
    assert [a.status_code for a in answers[:10]] == [404] * 10
    limited = answers[10]
    assert limited.status_code == 429, limited.text
    assert limited.json()["code"] == "rate_limited" and limited.json()["retryable"] is True
    assert "Terlalu banyak permintaan" in limited.json()["message"]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Taking tickets has a limit of its own, and the board's screen is not held back by citizens' lookups.
    assert (await mall.http.post("/warga/api/tickets", json={"service": "samsat"})).status_code == 201
    assert (await mall.http.get("/papan/state", headers=mall.headers("screen", None))).status_code == 200


async def test_a_wrong_birth_date_reveals_nothing_an_unknown_number_does_not(mall: Stack) -> None:
    tracking_no, nik, born = await _submit(mall)
    found = await mall.http.post(
        "/warga/api/applications/lookup", json={"tracking_no": tracking_no, "birth_date": born}
    )
    assert found.status_code == 200, found.text
    application = found.json()
    assert application["tracking_no"] == tracking_no and application["history"]
    assert set(application) == {"tracking_no", "service", "title", "status", "details", "history", "updated_at"}
    assert nik not in found.text and "applicant_nik" not in found.text

    other_day = (dt.date.fromisoformat(born) + dt.timedelta(days=1)).isoformat()
    wrong = await mall.http.post(
        "/warga/api/applications/lookup", json={"tracking_no": tracking_no, "birth_date": other_day}
    )
    unknown = await mall.http.post(
        "/warga/api/applications/lookup", json={"tracking_no": new_tracking_number(), "birth_date": born}
    )
    assert wrong.status_code == unknown.status_code == 404
    assert {k: v for k, v in wrong.json().items() if k != "correlation_id"} == {
        k: v for k, v in unknown.json().items() if k != "correlation_id"
    }
    assert tracking_no not in wrong.text and "tanggal lahir" in wrong.json()["message"]
    download = await mall.http.post(
        "/warga/api/applications/document", json={"tracking_no": tracking_no, "birth_date": other_day}
    )
    assert download.status_code == 404 and download.json()["message"] == unknown.json()["message"]
    right = {"tracking_no": tracking_no, "birth_date": born}
    none_yet = await mall.http.post("/warga/api/applications/document", json=right)
    assert none_yet.status_code == 404 and "belum punya dokumen" in none_yet.json()["message"]
    assert mall.edge is not None
    await mall.edge.engine.documents.keep(
        tracking_no, Document(filename="surat.pdf", media_type="application/pdf", content=b"%PDF-1.4")
    )
    kept = await mall.http.post("/warga/api/applications/document", json=right)
    assert kept.status_code == 200 and kept.content == b"%PDF-1.4" and kept.headers["content-type"] == "application/pdf"
    assert kept.headers["content-disposition"] == 'attachment; filename="surat.pdf"'
    bad = await mall.http.post("/warga/api/applications/lookup", json={"tracking_no": "nope", "birth_date": "x"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"
    assert "nope" not in bad.text and "nomor pelacakan" in bad.json()["message"]


async def test_the_streams_carry_numbers_and_desks_never_what_a_ticket_led_to(mall: Stack) -> None:
    tracking_no, nik, _ = await _submit(mall, 1)
    await _drain(mall)
    taken = await mall.http.post("/warga/api/tickets", json={"service": "samsat"})
    assert taken.status_code == 201, taken.text
    place = taken.json()
    assert place["ahead"] == 0 and place["status"] == "waiting" and place["number"].startswith("C-")
    desk = mall.headers("desk04", None)
    called = await mall.http.post("/v1/queue/desks/loket4/call", headers=desk)
    assert called.status_code == 200 and called.json()["id"] == place["id"]
    assert called.json()["channel"] == "portal"
    linked = await mall.http.post(
        f"/v1/queue/desks/loket4/tickets/{place['id']}/link", json={"tracking_no": tracking_no}, headers=desk
    )
    assert linked.status_code == 200, linked.text

    async def board_shows_it() -> dict[str, Any] | None:
        state: dict[str, Any] = (await mall.http.get("/papan/state", headers=mall.headers("screen", None))).json()
        return state if any(c["number"] == place["number"] for c in state["calling"]) else None

    state = await until(board_shows_it, "the board to show the call")
    assert state["calling"][0] == {**state["calling"][0], "desk": "loket4", "desk_label": "Loket 4"}
    board = await _stream(mall, "/papan/stream", Authorization=f"Bearer {mall.keys['screen']}")
    mine = await _stream(mall, f"/warga/api/tickets/{place['id']}/stream")
    read = (await mall.http.get(f"/warga/api/tickets/{place['id']}")).text
    assert place["number"] in board and "Loket 4" in board and '"status": "called"' in mine
    for text in (board, mine, read):
        assert tracking_no not in text and "tracking_no" not in text and nik not in text and not _NIK.search(text)
        assert "channel" not in text
    assert place["id"] not in board, "the board names tickets by number, not by the id a citizen follows"


async def test_a_call_reaches_an_open_board_stream_within_a_second(mall: Stack) -> None:
    """Not at the stream's next reconnect: the watch wakes the open stream as the call reaches the bucket."""
    await _drain(mall)
    place = (await mall.http.post("/warga/api/tickets", json={"service": "samsat"})).json()
    loop = asyncio.get_running_loop()
    headers = {"Authorization": f"Bearer {mall.keys['screen']}"}
    async with mall.http.stream("GET", "/papan/stream", headers=headers) as answer:
        events = answer.aiter_text()
        assert "event: board" in await anext(events)  # the snapshot the stream opens with
        called = await mall.http.post("/v1/queue/desks/loket4/call", headers=mall.headers("desk04", None))
        assert called.status_code == 200 and called.json()["number"] == place["number"]
        sent = loop.time()
        seen = ""
        async for chunk in events:
            seen += chunk
            if f'"calling": [{{"number": "{place["number"]}"' in seen:
                break
        else:
            raise AssertionError(f"the stream ended without the call: {seen}")
    assert loop.time() - sent < 1.0, f"the call took {loop.time() - sent:.2f} s to reach the board"


async def test_a_citizen_books_a_slot_and_rates_a_served_ticket_with_its_code(mall: Stack) -> None:
    today = dt.datetime.now(dt.UTC).astimezone(WIB).date()
    for ahead in range(1, 15):  # the next day the mall opens (no weekend, no national holiday)
        day = (today + dt.timedelta(days=ahead)).isoformat()
        found = await mall.http.get("/warga/api/slots", params={"service": "samsat", "day": day})
        assert found.status_code == 200, found.text
        if found.json()["slots"]:
            break
    slot = found.json()["slots"][0]
    start = dt.datetime.fromisoformat(slot["starts_at"]).astimezone(WIB)
    booked = await mall.http.post(
        "/warga/api/bookings", json={"service": "samsat", "day": day, "slot": f"{start:%H:%M}"}
    )
    assert booked.status_code == 201, booked.text
    receipt = booked.json()
    assert receipt["booking"]["channel"] == "portal" and receipt["code"] and receipt["qr_svg"].lstrip().startswith("<")
    bad_day = await mall.http.get("/warga/api/slots", params={"service": "samsat", "day": "kemarin"})
    assert bad_day.status_code == 400 and "tanggal" in bad_day.json()["message"] and "kemarin" not in bad_day.text

    await _drain(mall)
    place = (await mall.http.post("/warga/api/tickets", json={"service": "samsat"})).json()
    assert re.fullmatch(r"[A-Z2-7]{8}", place["code"])
    assert "code" not in (await mall.http.get(f"/warga/api/tickets/{place['id']}")).json(), "the code is given once"
    answers = {f"U{n}": 1 + n % 4 for n in range(1, 10)}
    survey = {"answers": answers, "ticket_id": place["id"], "code": place["code"]}
    early = await mall.http.post("/warga/api/survey", json=survey)
    assert early.status_code == 409 and "selesai dilayani" in early.json()["message"]
    desk = mall.headers("desk04", None)
    assert (await mall.http.post("/v1/queue/desks/loket4/call", headers=desk)).json()["id"] == place["id"]
    for move in ("start", "finish"):
        moved = await mall.http.post(f"/v1/queue/desks/loket4/tickets/{place['id']}/{move}", headers=desk)
        assert moved.status_code == 200, moved.text
    other_code = "A" * 8 if place["code"] != "A" * 8 else "B" * 8
    guessed = await mall.http.post("/warga/api/survey", json={**survey, "code": other_code})
    assert guessed.status_code == 403 and "Kode tiket" in guessed.json()["message"]
    rated = await mall.http.post("/warga/api/survey", json=survey)
    assert rated.status_code == 201, rated.text
    again = await mall.http.post("/warga/api/survey", json=survey)
    assert again.status_code == 409 and again.json()["code"] == "conflict"


async def test_the_citizen_page_shows_the_emergency_notice_while_it_is_up(mall: Stack) -> None:
    assert mall.edge is not None
    notice = NoticeRequest(kind=NoticeKind.POWER_CUT, title="Listrik padam", instructions="Harap tetap tenang.")
    await mall.edge.front.notices.raise_notice(notice)
    try:

        async def shown() -> dict[str, Any] | None:
            hall: dict[str, Any] = (await mall.http.get("/warga/api/hall")).json()
            return hall if hall["notice"] else None

        hall = await until(shown, "the notice on the citizen page")
        assert hall["notice"]["title"] == "Listrik padam" and hall["notice"]["kind"] == "power_cut"
        assert {s["code"] for s in hall["services"]} == {"dukcapil", "bpjs", "samsat", "bank"}
    finally:
        await mall.edge.front.notices.clear()

    async def gone() -> bool:
        return (await mall.http.get("/warga/api/hall")).json()["notice"] is None

    await until(gone, "the notice to go")


async def test_a_citizen_files_a_complaint_and_follows_it_to_lapor(mall: Stack) -> None:
    """Filed on the page with no key, sent on to LAPOR! anonymously, followed by its number and birth date."""
    nik = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()["nik"][2]
    born = parse_nik(nik).birth_date.isoformat()
    page = await mall.http.get("/warga")
    assert re.search(r'data-features="[^"]*&quot;complaint&quot;: true', page.text), page.text[:1500]
    for body, field in (
        ({"nik": "123", "params": {"title": "Antrean lama", "text": "Menunggu dua jam."}}, "NIK"),
        ({"nik": nik, "params": {"title": "x", "text": "Menunggu dua jam."}}, "title"),
        ({"nik": nik, "params": {"title": "Antrean lama", "text": "Menunggu dua jam.", "bribe": 1}}, "bribe"),
    ):
        refused = await mall.http.post("/warga/api/complaints", json=body)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_input", refused.text
        assert field in refused.json()["message"] and nik not in refused.text
    filed = await mall.http.post(
        "/warga/api/complaints",
        json={"nik": nik, "params": {"title": "Antrean loket lama", "text": "Menunggu dua jam tanpa panggilan."}},
    )
    assert filed.status_code == 201, filed.text
    number = filed.json()["tracking_no"]

    async def at_lapor() -> dict[str, Any] | None:
        answer = await mall.http.post(
            "/warga/api/applications/lookup", json={"tracking_no": number, "birth_date": born}
        )
        found: dict[str, Any] = answer.json()
        return found if found.get("details", {}).get("lapor_tracking_id") else None

    followed = await until(at_lapor, f"complaint {number} to be filed at LAPOR!", 60)
    assert followed["service"] == "pengaduan" and nik not in str(followed)


async def test_a_tracking_number_takes_ten_wrong_birth_dates_an_hour_from_anywhere(mall: Stack) -> None:
    """Birth dates cannot be tried out on one number: past ten wrong ones, even the right date waits."""
    number, _, born = await _submit(mall, 2)
    other, _, other_born = await _submit(mall, 3)
    desk = mall.headers("desk")
    day = dt.date.fromisoformat(born)
    for n in range(10):  # through the API with a portal's key, as a guesser with many addresses would not need
        wrong = (day + dt.timedelta(days=n + 1)).isoformat()
        answer = await mall.http.post(
            "/v1/applications/lookup", json={"tracking_no": number, "birth_date": wrong}, headers=desk
        )
        assert answer.status_code == 404, answer.text
    for route in ("/v1/applications/lookup", "/v1/applications/document"):
        locked = await mall.http.post(route, json={"tracking_no": number, "birth_date": born}, headers=desk)
        assert locked.status_code == 429 and locked.json()["code"] == "rate_limited", locked.text
        assert int(locked.headers["retry-after"]) > 0
    page = await mall.http.post("/warga/api/applications/lookup", json={"tracking_no": number, "birth_date": born})
    assert page.status_code == 429  # the citizen page counts the same misses
    fine = await mall.http.post(
        "/v1/applications/lookup", json={"tracking_no": other, "birth_date": other_born}, headers=desk
    )
    assert fine.status_code == 200, fine.text  # another number is not held up
