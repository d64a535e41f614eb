"""The monthly report from tickets a simulated month left in the real front of house bucket (a real nats-server):
taken, called and moved on through TicketQueue with a test clock, read back as the cli role, written as a CSV and
a PDF, and opened again (csv, pypdf) to check the figures and the charts. Then `mpp-hub report` end to end.

The month is February 2032 (a leap year), which no other test takes tickets in. What happened, in WIB:

- Monday 2 February, from 08:00: A-001, A-002 (Dukcapil), C-001 (Samsat), A-003, C-002 taken a minute apart.
  A-001 called to loket1 at 08:10 (waited 600 s), served 300 s; A-002 called to loket2 at 08:15:30 (870 s), no
  show; C-001 called to loket4 at 08:16:30 (870 s), served 420 s; C-002 cancelled; A-003 called to loket1 at
  08:23:30 (1230 s: over Dukcapil's 20 minutes), served 1200 s (over its 15).
- The citizens of A-001 and C-001 rate every element 4, the one of A-003 3: IKM Dukcapil 87.50 (B), Samsat
  100.00 (A), the mall 275/3 = 91.66 (A).
- Saturday 31 January 23:59:59, Sunday 29 February 23:59:50 and Monday 1 March 00:00:10: one Dukcapil ticket
  each; only the one of the 29th is February's (and it still waits).

So February: 6 taken, 3 served, 1 no-show, 1 cancelled, 1 open. Waits 600 870 870 1230: p50 (rank 2) 870,
p90 (rank ceil(3.6) = 4) 1230; within their own standard 3 (Samsat's 870 s is within its 15 minutes).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from contracts import Channel, SkmElement, Ticket, TicketMove
from hub._bus_access import BusAccess
from hub._mall_report import MallReport, month_period, read_tickets, write_report
from hub._queue import DEFAULT_QUEUE_SERVICES, FRONT_BUCKET, TicketQueue
from hub._roles import Role
from hub._survey import SurveyBox, survey_record_for_ticket
from hub._time import WIB
from hub.testing._bus import TestBus
from tests._browser import ARTIFACTS, NEEDS_CHROMIUM, Browser, save
from tests._processes import run_cli
from tests._stack import Grant, Stack
from tests.conftest import ANY_PURPOSE, connect

MONTH = "2032-02"


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> dt.datetime:
        return self.at

    def set(self, day: dt.date, hour: int, minute: int = 0, second: int = 0) -> None:
        self.at = dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=WIB).astimezone(dt.UTC)


async def _simulate(queue: TicketQueue, box: SurveyBox, clock: Clock) -> None:
    monday = dt.date(2032, 2, 2)
    taken = []
    for minute, service in enumerate(("dukcapil", "dukcapil", "samsat", "dukcapil", "samsat")):
        clock.set(monday, 8, minute)
        taken.append(await queue.take(service, Channel.KIOSK))
    a001, a002, c001, a003, c002 = taken

    async def served(desk: str, service: str, at: tuple[int, int, int], seconds: int) -> None:
        clock.set(monday, *at)
        called = await queue.call_next(desk, [service])
        assert called is not None
        await queue.move(called.id, TicketMove.START, desk)
        clock.at += dt.timedelta(seconds=seconds)
        await queue.move(called.id, TicketMove.FINISH, desk)

    await served("loket1", "dukcapil", (8, 10, 0), 300)
    await queue.link(a001.id, "9AKY-WS6R-D")
    clock.set(monday, 8, 15, 30)
    assert (await queue.call_next("loket2", ["dukcapil"])) == await queue.get(a002.id)
    clock.at += dt.timedelta(seconds=60)
    await queue.move(a002.id, TicketMove.NO_SHOW, "loket2")
    await served("loket4", "samsat", (8, 16, 30), 420)  # C-001
    clock.set(monday, 8, 23, 30)
    await queue.move(c002.id, TicketMove.CANCEL)
    await served("loket1", "dukcapil", (8, 23, 30), 1200)
    assert (await queue.get(a003.id)).status.value == (await queue.get(c001.id)).status.value == "done"
    for ticket, score in ((a001, 4), (a003, 3), (c001, 4)):  # rated at the desk as they leave
        served_ticket = await queue.get(ticket.id)
        rated = queue.services[served_ticket.service]
        answers = dict.fromkeys(SkmElement, score)
        await box.submit(survey_record_for_ticket(served_ticket, answers, rated, at=clock()))

    for day, at in ((dt.date(2032, 1, 31), (23, 59, 59)), (dt.date(2032, 2, 29), (23, 59, 50)),
                    (dt.date(2032, 3, 1), (0, 0, 10))):  # fmt: skip
        clock.set(day, *at)
        await queue.take("dukcapil", Channel.PORTAL)


@pytest.fixture(scope="module")
def report_dir(bus: BusAccess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The month simulated once on the bus (as the edge, which takes tickets), then read back as the cli role
    and written: the directory holding the report, and a record of the progress calls."""
    out = tmp_path_factory.mktemp("report")

    async def run() -> list[tuple[dt.date, int]]:
        edge = await connect(bus, Role.EDGE)
        clock = Clock(dt.datetime.now(dt.UTC))
        js = edge.jetstream()
        await _simulate(await TicketQueue.open(js, DEFAULT_QUEUE_SERVICES, clock), await SurveyBox.open(js), clock)
        await edge.close()
        cli = await connect(bus, Role.CLI)
        progress: list[tuple[dt.date, int]] = []
        kv = await cli.jetstream().key_value(FRONT_BUCKET)
        tickets = await read_tickets(kv, month_period(MONTH), lambda day, n: progress.append((day, n)))
        surveys = await SurveyBox(kv).of_month(2032, 2)
        await cli.close()
        write_report(MallReport.of(MONTH, tickets, surveys=surveys), out)
        return progress

    progress = asyncio.run(run())
    (out / "progress.json").write_text(json.dumps([[day.isoformat(), n] for day, n in progress]))
    return out


def _csv_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return {(row["service"], row["desk"]): row for row in csv.DictReader(file) if row["section"] == "tickets"}


def test_every_day_of_the_month_is_read_and_only_the_months_tickets(report_dir: Path) -> None:
    progress = json.loads((report_dir / "progress.json").read_text())
    assert [day for day, _ in progress][0::28] == ["2032-02-01", "2032-02-29"] and len(progress) == 29
    assert dict(progress)["2032-02-02"] == 5 and dict(progress)["2032-02-29"] == 1
    assert sum(n for _, n in progress) == 6


def test_the_csv_has_the_months_figures_per_service_and_desk(report_dir: Path) -> None:
    rows = _csv_rows(report_dir / f"mpp-report-{MONTH}.csv")
    mall = rows["all", "all"]
    counts = ("tickets_taken", "tickets_served", "no_shows", "cancelled", "still_open")
    assert [mall[column] for column in counts] == ["6", "3", "1", "1", "1"]
    waits = ("waits_measured", "wait_p50_seconds", "wait_p90_seconds", "waits_within_standard")
    assert [mall[column] for column in waits] == ["4", "870", "1230", "3"]
    assert mall["wait_standard_seconds"] == ""  # two services, each judged by its own

    dukcapil = rows["dukcapil", "all"]
    assert [dukcapil[c] for c in (*waits, "wait_standard_seconds")] == ["3", "870", "1230", "2", "1200"]
    services = ("services_measured", "service_p50_seconds", "service_p90_seconds", "services_within_standard")
    assert [dukcapil[column] for column in services] == ["2", "300", "1200", "1"]
    assert dukcapil["tickets_with_application"] == "1"
    assert [rows["dukcapil", "loket1"][c] for c in ("tickets_taken", "tickets_served", "wait_p90_seconds")] == [
        "2", "2", "1230"]  # fmt: skip
    assert rows["dukcapil", "loket2"]["no_shows"] == "1"
    assert rows["dukcapil", "none"]["still_open"] == "1"  # the 29th's, never called
    assert rows["samsat", "loket4"]["waits_within_standard"] == "1"
    assert rows["samsat", "none"]["cancelled"] == "1"
    assert rows["all", "loket1"]["tickets_taken"] == "2"
    # IKM: Dukcapil all 4s and all 3s, 87.50 (B); Samsat all 4s, 100.00 (A); the mall 275/3, 91.66 (A)
    assert [rows["dukcapil", "loket1"][c] for c in ("ikm", "ikm_band", "ikm_respondents")] == ["87.50", "B", "2"]
    assert [rows["samsat", "all"][c] for c in ("ikm", "ikm_band")] == ["100.00", "A"]
    assert [mall[c] for c in ("ikm", "ikm_band", "ikm_respondents")] == ["91.66", "A", "3"]
    assert rows["dukcapil", "none"]["ikm"] == ""  # nobody rated a ticket still waiting


def test_the_pdf_shows_the_figures_in_indonesian_with_three_charts(report_dir: Path) -> None:
    reader = PdfReader(report_dir / f"mpp-report-{MONTH}.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Laporan bulanan Mal Pelayanan Publik" in text
    assert "2032-02-01 s.d. 2032-02-29" in text
    assert "Tiket diambil: 6" in text and "tidak hadir: 1" in text
    assert "p50 14:30, p90 20:30" in text  # 870 s and 1230 s, as minutes:seconds
    assert "IKM mal: 91.66 (mutu A, Sangat Baik) dari 3 responden" in text
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 3  # tickets per day, waiting time against the standard, IKM
    for image in images:
        with Image.open(io.BytesIO(image.data)) as picture:
            assert picture.width > 600 and picture.height > 200


def _cli_env(bus: BusAccess) -> dict[str, str]:
    assert bus.ca_file is not None
    return {"MPP_HUB_NATS_URL": bus.url, "MPP_HUB_NATS_CREDENTIALS": str(bus.credentials),
            "MPP_HUB_NATS_TLS_CA": str(bus.ca_file)}  # fmt: skip


def test_the_report_command_end_to_end(bus: BusAccess, report_dir: Path, tmp_path: Path) -> None:
    done = run_cli("report", "--month", MONTH, "--out", str(tmp_path / "out"), "--json", cwd=tmp_path,
                   env=_cli_env(bus), timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["month"], summary["tickets_taken"], summary["no_shows"]) == (MONTH, 6, 1)
    assert (summary["wait_p50_seconds"], summary["wait_p90_seconds"]) == (870, 1230)
    assert (summary["ikm"]["converted"], summary["ikm"]["band"], summary["ikm"]["respondents"]) == ("91.66", "A", 3)
    written = [Path(path) for path in summary["files"]]
    assert [path.name for path in written] == [f"mpp-report-{MONTH}.csv", f"mpp-report-{MONTH}.pdf"]
    assert _csv_rows(written[0]) == _csv_rows(report_dir / f"mpp-report-{MONTH}.csv")

    human = run_cli("report", "--month", MONTH, "--out", str(tmp_path), cwd=tmp_path, env=_cli_env(bus), timeout=120)
    assert human.returncode == 0, human.stderr
    assert "2032-02-29: 1 tickets" in human.stderr and "6 tickets of 2032-02" in human.stdout


@pytest.mark.parametrize("month", ["2026-13", "nov", "2026-1", ""])
def test_a_bad_month_is_a_usage_error(month: str, tmp_path: Path) -> None:
    done = run_cli("report", "--month", month, cwd=tmp_path)
    assert done.returncode == 2
    assert "is not a month: give YYYY-MM, e.g. 2026-11" in done.stderr and "Traceback" not in done.stderr


# --- the dashboard's front of house ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A bus of this test's own, so that today's tickets are only the ones it takes."""
    server = TestBus(tmp_path_factory.mktemp("nats-front"))
    yield server.start()
    server.stop()


async def _desk_work(mall: Stack) -> None:
    """Three Dukcapil tickets at the kiosk: loket1 serves the first (whose citizen rates every element 4), the
    second does not come, the third waits."""
    for _ in range(3):
        taken = await mall.http.post("/v1/queue/tickets", json={"service": "dukcapil", "channel": "kiosk"},
                                     headers=mall.headers())  # fmt: skip
        assert taken.status_code == 201, taken.text
    desk = "/v1/queue/desks/loket1"
    for move in ("start", "finish"), ("no_show",):
        called = await mall.http.post(f"{desk}/call", headers=mall.headers())
        assert called.status_code == 200, called.text
        for step in move:
            moved = await mall.http.post(f"{desk}/tickets/{called.json()['id']}/{step}", headers=mall.headers())
            assert moved.status_code == 200, moved.text
        if move[-1] == "finish":
            edge = await connect(mall.bus, Role.EDGE)
            served = Ticket.model_validate(moved.json())
            service = next(s for s in DEFAULT_QUEUE_SERVICES if s.code == served.service)
            await SurveyBox(await edge.jetstream().key_value(FRONT_BUCKET)).submit(
                survey_record_for_ticket(served, dict.fromkeys(SkmElement, 4), service)
            )
            await edge.close()


@NEEDS_CHROMIUM
async def test_the_dashboard_shows_the_front_of_house(own_bus: BusAccess) -> None:
    consumers = {"desk": Grant(["*"]), "operator": Grant(["ops.dashboard"])}
    async with Stack(own_bus, agencies=("dukcapil",), consumers=consumers, purpose=ANY_PURPOSE) as mall:
        await _desk_work(mall)
        state = (await mall.http.get("/ops/state", headers=mall.headers("operator", None))).json()
        front = state["front"]
        today = front["periods"]["today"]
        assert today["period"] == dt.datetime.now(WIB).date().isoformat()
        total = today["total"]
        assert (total["taken"], total["served"], total["no_show"], total["open"]) == (3, 1, 1, 1)
        assert total["waiting"]["count"] == 2 and total["service_time"]["count"] == 1
        assert [row["desk"] for row in today["desks"]] == ["-", "loket1"]
        assert front["periods"]["month"]["total"]["taken"] >= 3  # today is in this month (and in this week)
        assert front["standards"]["dukcapil"] == {"waiting_seconds": 1200, "service_seconds": 900}
        assert (today["ikm"]["converted"], today["ikm"]["band"], today["ikm"]["respondents"]) == ("100.00", "A", 1)
        assert today["complaints"] is None  # nobody complained (and this hub runs no complaint process)

        with tempfile.TemporaryDirectory(prefix="mpp-chromium-") as profile:
            browser = await Browser.open(profile)
            try:
                await browser.go(f"{mall.url}/ops")
                await browser.type("[data-testid=login-key]", mall.keys["operator"])
                await browser.click("[data-testid=login-submit]")
                taken = "return document.querySelector('[data-testid=front-taken]').textContent.trim()"
                assert await browser.until(f"const t = (() => {{ {taken} }})(); return t !== '0' && t") == "3"
                row = "return document.querySelector('[data-testid=front-row-dukcapil] td:nth-child(4)').textContent"
                assert await browser.script(row) == "1"  # the no-show
                ikm = "return document.querySelector('[data-testid=front-ikm]').textContent"
                assert await browser.script(ikm) == "100.00 A (n=1)"
                await browser.click("[data-testid=front-periods] button[data-period=month]")
                period = "return document.querySelector('[data-testid=front-period]').textContent"
                assert await browser.until(f"return ({period.removeprefix('return ')}).startsWith(arguments[0])",
                                           f"{dt.datetime.now(WIB):%Y-%m} ")  # fmt: skip
                # A script error would show here (the login page's 401 and the favicon's 404 are no script's).
                errors = await browser.console_errors()
                assert [error for error in errors if "Failed to load resource" not in error] == []
                await asyncio.to_thread(save, ARTIFACTS / "dashboard-front.png", await browser.screenshot())
            finally:
                await browser.close()
