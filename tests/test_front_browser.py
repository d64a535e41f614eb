"""The board and the citizen page in a real headless Chromium: a citizen takes a ticket on a phone, the board
shows it waiting, a desk calls it over HTTP, and both pages show the call; then the citizen follows an
application by its tracking number and birth date. Screenshots: ``tests/artifacts/papan.png``, ``warga.png``,
``warga-phone.png``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import io
import re
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest
import zxingcpp
from PIL import Image

from contracts import NoticeRequest, SiteVisit, parse_nik
from hub import load_plugins
from hub._bus_access import BusAccess
from hub._roles import Role
from hub._site_schedule import SiteSchedule
from hub._time import WIB, utcnow
from hub.testing._bus import TestBus
from tests._browser import ARTIFACTS, NEEDS_CHROMIUM, Browser, save
from tests._stack import Grant, Stack
from tests._until import until
from tests.conftest import ANY_PURPOSE

pytestmark = NEEDS_CHROMIUM
PHONE = (390, 844)
BOARD = (1600, 900)
NOTICE = {
    "kind": "evacuation", "title": "Evakuasi gedung", "instructions": "Tinggalkan gedung melalui tangga darurat.",
    "where_to_go": "Titik kumpul di halaman parkir depan",
}  # fmt: skip


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A bus of this test's own: tickets other tests leave waiting today would change what the board counts."""
    server = TestBus(tmp_path_factory.mktemp("nats-front"))
    yield server.start()
    server.stop()


@pytest.fixture
async def mall(own_nats: BusAccess) -> AsyncIterator[Stack]:
    consumers = {
        "desk": Grant(["*"]), "screen": Grant(["queue.display"]), "kiosk": Grant(["queue.take"]),
        "desk04": Grant(["queue.desk.loket4"]),
    }  # fmt: skip
    async with Stack(
        own_nats, agencies=("samsat", "bank", "lapor"), processes=("vehicle_tax_renewal", "pengaduan"),
        consumers=consumers, purpose=ANY_PURPOSE,
    ) as stack:  # fmt: skip
        yield stack


@contextlib.asynccontextmanager
async def _browser(size: tuple[int, int], *, phone: bool = False) -> AsyncIterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="mpp-chromium-") as profile:
        opened = await Browser.open(profile, size, phone=phone)
        try:
            yield opened
        finally:
            await opened.close()


def _text(testid: str) -> str:
    return f"const e = document.querySelector('[data-testid=\"{testid}\"]'); return e ? e.textContent.trim() : null;"


async def _log_in(board: Browser, mall: Stack) -> None:
    await board.go(f"{mall.url}/papan")
    assert await board.script("return document.body.dataset.view") == "login"
    await board.type("[data-testid=login-key]", mall.keys["screen"])
    await board.click("[data-testid=login-submit]")
    await board.until("return document.body.dataset.view === 'board'")
    assert await board.script("return document.cookie") == ""  # HttpOnly: the key is out of the page's reach
    await board.until("return document.querySelector('[data-testid=live]').dataset.state === 'live'")


async def test_a_ticket_taken_on_a_phone_is_called_on_the_board_and_on_the_phone(mall: Stack) -> None:
    kiosk = await mall.http.post(
        "/v1/queue/tickets", json={"service": "samsat", "channel": "kiosk"}, headers=mall.headers("kiosk", None)
    )
    assert kiosk.status_code == 201, kiosk.text
    async with _browser(BOARD) as board, _browser(PHONE, phone=True) as phone:
        await _log_in(board, mall)
        await board.until(f"return (() => {{ {_samsat_waiting()} }})() === '1'")

        # The citizen takes a ticket on the phone: one kiosk ticket waits ahead of it.
        await phone.go(f"{mall.url}/warga")
        await phone.until("return !!document.querySelector('[data-testid=take-samsat]')")
        assert await phone.script("return window.innerWidth") == PHONE[0]
        assert await phone.script("return document.documentElement.scrollWidth") <= PHONE[0], "no sideways scroll"
        height = await phone.script("return document.querySelector('[data-testid=take-samsat]').offsetHeight")
        assert height >= 48, "a touch target a thumb can hit"
        # Every section is shown, the complaint's too: this hub runs the complaint process.
        sections = (
            "return [...document.querySelectorAll('[data-feature], [data-feature-link]')].map(e => !!e.offsetParent)"
        )
        assert all(await phone.script(sections)), "a feature the hub serves is hidden"
        assert await phone.script("return document.querySelector('[data-testid=booking]').offsetParent !== null")
        await phone.click("[data-testid=take-samsat]")
        number = await phone.until(_text("ticket-number"))
        assert re.fullmatch(r"C-\d{3}", number)
        assert await phone.until(_text("ticket-ahead")) == "1 orang di depan Anda"
        await board.until(f"return (() => {{ {_samsat_waiting()} }})() === '2'")

        # The desk calls twice: the kiosk's ticket, then the citizen's, which both pages show within seconds.
        desk = mall.headers("desk04", None)
        first = await mall.http.post("/v1/queue/desks/loket4/call", headers=desk)
        assert first.json()["number"] == kiosk.json()["ticket"]["number"]
        await phone.until(f"return (() => {{ {_text('ticket-ahead')} }})() === 'Anda berikutnya'")
        second = await mall.http.post("/v1/queue/desks/loket4/call", headers=desk)
        assert second.status_code == 200 and second.json()["number"] == number
        await board.until(f"return (() => {{ {_text('now-number')} }})() === arguments[0]", number)
        assert await board.script(_text("now-desk")) == "Loket 4"
        assert await board.until(f"return (() => {{ {_samsat_waiting()} }})() === '0'")
        status = await phone.until(
            f"const t = (() => {{ {_text('ticket-status')} }})(); return t && t.startsWith('Dipanggil') && t"
        )
        assert status == "Dipanggil — silakan ke Loket 4"
        recent = await board.script("return [...document.querySelectorAll('[data-testid=recent-call]')].length")
        assert recent == 2
        await asyncio.to_thread(save, ARTIFACTS / "warga-phone.png", await phone.screenshot())

        # Served: the phone opens the satisfaction survey for this ticket, which its code proves the citizen's.
        for move in ("start", "finish"):
            moved = await mall.http.post(f"/v1/queue/desks/loket4/tickets/{second.json()['id']}/{move}", headers=desk)
            assert moved.status_code == 200, moved.text
        await phone.until("return !document.querySelector('[data-testid=survey-form]').hidden")
        await phone.script(
            "for (let n = 1; n <= 9; n++)"
            " document.querySelector(`[data-testid=skm-U${n}-${1 + n % 4}]`).closest('label').click()"
        )
        await phone.click("[data-testid=survey-submit]")
        await phone.until("return !document.querySelector('[data-testid=survey-thanks]').hidden")
        assert await phone.script(_text("survey-error")) == ""
        assert mall.edge is not None
        day = dt.date.fromisoformat(second.json()["day"])
        assert [r.ticket_id for r in await mall.edge.front.surveys.between(day, day)] == [second.json()["id"]]

        # An emergency notice raised (by the lead's notice board, at this edge) shows on the board at once, and goes
        # when it is cleared.
        assert mall.edge is not None
        await mall.edge.front.notices.raise_notice(NoticeRequest.model_validate(NOTICE))
        await board.until("return document.querySelector('[data-testid=notice]').dataset.active === 'true'")
        assert await board.script(_text("notice-title")) == "Evakuasi gedung"
        assert await board.script(_text("notice-kind")) == "Evakuasi"
        assert "Titik kumpul" in await board.script(_text("notice-instructions"))
        await asyncio.to_thread(save, ARTIFACTS / "papan-darurat.png", await board.screenshot())
        await mall.edge.front.notices.clear()
        await board.until("return document.querySelector('[data-testid=notice]').dataset.active === 'false'")
        await asyncio.to_thread(save, ARTIFACTS / "papan.png", await board.screenshot())
        assert await board.console_errors() == [] and await phone.console_errors() == []


async def _next_open_day(mall: Stack) -> str:
    today = dt.datetime.now(dt.UTC).astimezone(WIB).date()
    for ahead in range(1, 15):  # no weekend, no national holiday
        day = (today + dt.timedelta(days=ahead)).isoformat()
        found = await mall.http.get("/warga/api/slots", params={"service": "samsat", "day": day})
        if found.json()["slots"]:
            return day
    raise AssertionError("no open day in the next two weeks")


def _samsat_waiting() -> str:
    return (
        "const e = document.querySelector('[data-testid=service-samsat] [data-testid=waiting]');"
        "return e ? e.firstChild.textContent : null;"
    )


_QR_AS_PNG = """
const img = document.querySelector('[data-testid=booking-qr]');
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth * 4;
canvas.height = img.naturalHeight * 4;
const pen = canvas.getContext('2d');
pen.fillStyle = '#fff';
pen.fillRect(0, 0, canvas.width, canvas.height);
pen.imageSmoothingEnabled = false;
pen.drawImage(img, 0, 0, canvas.width, canvas.height);
return canvas.toDataURL('image/png').split(',')[1];
"""


async def test_a_citizen_follows_an_application_by_number_and_birth_date(mall: Stack) -> None:
    samsat = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()
    body = {
        "service": "vehicle-tax-renewal", "applicant_nik": samsat["nik"][0], "channel": "desk",
        "params": {"plate": samsat["plate"][0]},
    }  # fmt: skip
    filed = await mall.http.post("/v1/applications", json=body, headers=mall.headers("desk"))
    assert filed.status_code == 201, filed.text
    tracking_no = filed.json()["tracking_no"]
    born = parse_nik(samsat["nik"][0]).birth_date.isoformat()
    async with _browser((1280, 1100)) as browser:
        await browser.go(f"{mall.url}/warga#lacak")
        # A wrong birth date first: the contract error's message, in Indonesian, and nothing of the application.
        await browser.type("[data-testid=track-number]", tracking_no)
        await browser.script("document.querySelector('[data-testid=track-birth]').value = '1900-01-01'")
        await browser.click("[data-testid=track-submit]")
        error = await browser.until(_text("track-error"))
        assert error.startswith("Tidak ada permohonan") and "tanggal lahir" in error
        assert await browser.script("return document.querySelector('[data-testid=track-result]').hidden")

        await browser.script("document.querySelector('[data-testid=track-birth]').value = arguments[0]", born)
        await browser.click("[data-testid=track-submit]")
        steps = await browser.until(
            "const s = [...document.querySelectorAll('[data-testid=history-step]')]; return s.length && s.length"
        )
        assert steps >= 1
        assert await browser.script(_text("track-error")) == ""
        status = await browser.script(_text("track-status"))
        assert status in {"Diajukan", "Sedang diproses", "Menunggu pembayaran"}, status
        history = await browser.script(_text("track-history"))
        assert "WIB" in history
        page = await browser.script("return document.body.innerText")
        assert samsat["nik"][0] not in page and not re.search(r"(?<!\d)\d{16}(?!\d)", page)
        # A time slot booked for the next day the mall opens: its code and its QR code, drawn under the page's policy.
        day = await _next_open_day(mall)
        await browser.script("document.querySelector('[data-testid=booking-service]').value = 'samsat'")
        await browser.script("document.querySelector('[data-testid=booking-day]').value = arguments[0]", day)
        await browser.click("[data-testid=booking-look]")
        await browser.until("return document.querySelectorAll('[data-testid=booking-slot]').length")
        await browser.click("[data-testid=booking-slot]")
        code = await browser.until(_text("booking-code"))
        assert re.fullmatch(r"[A-Za-z0-9_-]{8,64}", code)
        assert await browser.until("return document.querySelector('[data-testid=booking-qr]').naturalWidth > 0")
        # The QR code scans: drawn at four times its size on white, a real decoder reads the booking and its code.
        png = await browser.script(_QR_AS_PNG)
        scanned = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(png))))
        assert [(found.text.startswith("MPPB1:"), found.text.endswith(f":{code}")) for found in scanned] == [
            (True, True)
        ]
        await asyncio.to_thread(save, ARTIFACTS / "warga-pesan.png", await browser.screenshot())
        await browser.script("document.querySelector('[data-testid=track-title]').scrollIntoView()")
        await asyncio.to_thread(save, ARTIFACTS / "warga.png", await browser.screenshot())
        assert await browser.console_errors() == []


async def test_a_citizen_files_a_complaint_on_a_phone_and_follows_it(mall: Stack) -> None:
    nik = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()["nik"][1]
    born = parse_nik(nik).birth_date.isoformat()
    async with _browser((390, 1600), phone=True) as phone:
        await phone.go(f"{mall.url}/warga#pengaduan")
        assert not await phone.script("return document.querySelector('[data-testid=complaint]').hidden")
        await phone.type("[data-testid=complaint-nik]", nik)
        await phone.type("[data-testid=complaint-title]", "x")  # too short: the process's own rule, in a message
        await phone.type("[data-testid=complaint-text]", "Menunggu dua jam tanpa dipanggil di loket Samsat.")
        await phone.click("[data-testid=complaint-submit]")
        assert "title" in await phone.until(_text("complaint-error"))
        await phone.script("document.querySelector('[data-testid=complaint-title]').value = 'Antrean Samsat lama'")
        await phone.click("[data-testid=complaint-submit]")
        number = await phone.until(_text("complaint-number"))
        assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]", number), number
        await asyncio.to_thread(save, ARTIFACTS / "warga-pengaduan.png", await phone.screenshot())

        # The same page follows it like any application: by its number and the reporter's birth date.
        await phone.type("[data-testid=track-number]", number)
        await phone.script("document.querySelector('[data-testid=track-birth]').value = arguments[0]", born)
        await phone.click("[data-testid=track-submit]")
        title = await phone.until(_text("track-title"))
        assert number in title
        assert nik not in await phone.script(_text("track-result"))  # the application shows no NIK
        assert await phone.script(_text("track-error")) == ""
        assert await phone.console_errors() == []


_HARI = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_BULAN = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")  # fmt: skip


async def test_the_citizen_page_shows_the_mpp_keliling_schedule(mall: Stack, own_nats: BusAccess) -> None:
    """Jadwal MPP Keliling: "Belum ada jadwal" while nothing is scheduled; then the days ahead, each with its day in
    Indonesian, the place, the hours in WIB and the services by their names."""
    today = utcnow().astimezone(WIB).date()
    tomorrow = today + dt.timedelta(days=1)
    async with _browser(PHONE, phone=True) as phone:
        await phone.go(f"{mall.url}/warga#keliling")
        await phone.until("return !document.querySelector('[data-testid=schedule-empty]').hidden")
        assert (await phone.script(_text("schedule-empty"))).startswith("Belum ada jadwal")

        admin = await own_nats.connect(Role.ADMIN)
        try:
            book = await SiteSchedule.open(admin.jetstream())
            for site, day, place, services in (
                ("van-2", tomorrow, "Pasar Banjaran", ("bpjs",)),
                ("van-1", today, "Balai Desa Kedungbanteng", ("dukcapil", "samsat")),
            ):
                opens, closes = dt.time(8), dt.time(13, 30)
                await book.put(
                    SiteVisit(site=site, day=day, place=place, opens=opens, closes=closes, services=services)
                )
        finally:
            await admin.close()

        loads = iter(range(1, 1000))

        async def shown() -> int:
            # The edge reads the schedule at most every few seconds: the page is loaded again (a new URL, so the
            # browser does load it) until it shows the visits.
            await phone.go(f"{mall.url}/warga?load={next(loads)}#keliling")
            await phone.until("return document.querySelector('[data-testid=schedule-loading]').hidden")
            count: int = await phone.script("return document.querySelectorAll('[data-testid=schedule-visit]').length")
            return count

        assert await until(shown, "the schedule's two visits on the citizen page", timeout=30) == 2
        visits = await phone.script(
            "return [...document.querySelectorAll('[data-testid=schedule-visit]')].map(v => Object.fromEntries("
            "['visit-day', 'visit-place', 'visit-hours', 'visit-services'].map(id => "
            "[id, v.querySelector(`[data-testid=${id}]`).textContent.trim()])))"
        )
        label = [f"{_HARI[d.weekday()]}, {d.day} {_BULAN[d.month - 1]} {d.year}" for d in (today, tomorrow)]
        assert visits == [
            {"visit-day": f"{label[0]}Hari ini", "visit-place": "Balai Desa Kedungbanteng",
             "visit-hours": "08.00\u201313.30 WIB",
             "visit-services": "Layanan: Dukcapil: KTP-el, KK, akta \u00b7 Samsat: pajak kendaraan bermotor"},
            {"visit-day": label[1], "visit-place": "Pasar Banjaran", "visit-hours": "08.00\u201313.30 WIB",
             "visit-services": "Layanan: BPJS Kesehatan"},
        ]  # fmt: skip
        assert await phone.script("return document.querySelector('[data-testid=schedule-empty]').hidden")
        assert await phone.script("return document.documentElement.scrollWidth") <= PHONE[0], "no sideways scroll"
        await phone.script("document.querySelector('[data-testid=schedule]').scrollIntoView()")
        await asyncio.to_thread(save, ARTIFACTS / "warga-keliling.png", await phone.screenshot())
        assert await phone.console_errors() == []
