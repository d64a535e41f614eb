"""The ops dashboard in a real headless Chromium: log in through the form, watch the figures, see them move live.

Selenium drives Debian's ``chromium`` through its ``chromium-driver`` (CI installs both). The screenshot
lands in ``tests/artifacts/dashboard.png`` for people to look at.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from hub import load_plugins
from hub._bus_access import BusAccess
from hub._roles import Role
from hub._site_state import SiteBook
from hub._sites import SiteRecord
from hub._time import utcnow
from hub.testing._bus import TestBus
from plugins._synthetic import residents
from tests._browser import ARTIFACTS, NEEDS_CHROMIUM, Browser, save
from tests._stack import Grant, Stack
from tests._until import until
from tests.conftest import ANY_PURPOSE, connect

AGENCIES = ("dukcapil", "bpjs", "samsat", "bank")
UNKNOWN_NIKS = [f"332810010101998{i}" for i in range(1, 10)]

pytestmark = NEEDS_CHROMIUM


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="mpp-chromium-") as profile:
        opened = await Browser.open(profile)
        try:
            yield opened
        finally:
            await opened.close()


@pytest.fixture(scope="module")
def own_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A secured bus of this test's own: open applications other tests left on the shared one would be resumed
    by this hub's process engine, and their calls would change the figures the test counts."""
    server = TestBus(tmp_path_factory.mktemp("nats-browser"))
    yield server.start()
    server.stop()


@pytest.fixture
async def mall(own_nats: BusAccess) -> AsyncIterator[Stack]:
    """Hub, edge on a real port, the four sandboxes and the vehicle tax renewal; a desk allowed everything (the
    default caller) and an operator allowed the dashboard."""
    consumers = {"desk": Grant(["*"]), "operator": Grant(["ops.dashboard"])}
    renewal = ("vehicle_tax_renewal",)
    async with Stack(own_nats, agencies=AGENCIES, processes=renewal, consumers=consumers, purpose=ANY_PURPOSE) as stack:
        yield stack


async def _applications(mall: Stack) -> None:
    """Two renewals today: one paid and done, one waiting for payment; settled before the dashboard opens."""
    samsat = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()
    waiting = []
    for index, channel in ((0, "desk"), (3, "kiosk")):
        body = {
            "service": "vehicle-tax-renewal", "applicant_nik": samsat["nik"][index], "channel": channel,
            "params": {"plate": samsat["plate"][index]},
        }  # fmt: skip
        answer = await mall.http.post("/v1/applications", json=body, headers=mall.headers())
        assert answer.status_code == 201, answer.text
        waiting.append(await _until_status(mall, answer.json()["tracking_no"], "awaiting_payment"))
    async with httpx.AsyncClient(timeout=10) as http:
        paid = await http.post(
            f"{mall.sandboxes.url('bank')}/_sandbox/pay",
            json={"virtualAccountNo": waiting[0]["details"]["virtual_account"], "times": 1},
        )
    assert paid.status_code == 200, paid.text
    await _until_status(mall, waiting[0]["tracking_no"], "done")


async def _until_status(mall: Stack, tracking_no: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        answer = await mall.http.get(f"/v1/applications/{tracking_no}", headers=mall.headers())
        application: dict[str, Any] = answer.json()
        return application if application["status"] == status else None

    return await until(reached, f"{tracking_no} to be {status}", timeout=30)


async def _lookups(mall: Stack, known: int, unknown: int) -> None:
    niks = residents.samples(known) + UNKNOWN_NIKS[:unknown]
    for nik in niks:
        answer = await mall.http.post("/v1/identity.lookup", json={"nik": nik}, headers=mall.headers())
        assert answer.status_code in (200, 404), answer.text


async def _other_traffic(mall: Stack) -> None:
    bpjs = load_plugins(only={"bpjs"}).sandboxes["bpjs"].samples()
    for body in ({"nik": bpjs["nik"][0]}, {"card_number": bpjs["card_number"][1]}, {"card_number": "0000000000019"}):
        await mall.http.post("/v1/health.coverage", json=body, headers=mall.headers())
    for plate in load_plugins(only={"samsat"}).sandboxes["samsat"].samples()["plate"][:3]:
        await mall.http.post("/v1/vehicle.tax_due", json={"plate": plate}, headers=mall.headers())
    bill = {
        "reference": f"OPS-{uuid.uuid4().hex[:8]}", "amount": "250000.00", "customer_name": "SRI WAHYUNI",
        "description": "PKB", "expires_at": "2099-01-01T00:00:00+07:00",
    }  # fmt: skip
    created = await mall.http.post("/v1/payment.create_bill", json=bill, headers=mall.headers())
    va = created.json()["virtual_account"]
    await mall.http.post("/v1/payment.bill_status", json={"virtual_account": va}, headers=mall.headers())


async def _sites(bus: BusAccess) -> None:
    """Two sites (MPP bergerak): a van that reported just now with 4 waiting, a kiosk last seen two days ago.
    Registered once the hub is up, which reads registrations (and syncs those sites) only when it starts."""
    nc = await connect(bus, Role.ADMIN)
    try:
        book = await SiteBook.open(nc.jetstream())
        for site, letter in (("kios-2", "K"), ("van-1", "V")):
            record = SiteRecord(
                name=site, prefix=f"{letter}1", ticket_letter=letter, consumers=(f"desk-{site}",),
                leaf_nkey=f"U{letter * 55}", issuer=base64.b64encode(bytes(32)).decode(),
            )  # fmt: skip
            await book.register(site, record.model_dump_json().encode())
        now = utcnow()
        await book.record_seen("van-1", waiting=4, at=now)
        await book.record_seen("kios-2", waiting=0, at=now - dt.timedelta(days=2))
    finally:
        await nc.close()


def _site(site: str, testid: str) -> str:
    """A script answering the text of one cell of a site's row (null before the row is drawn)."""
    return (
        f'const el = document.querySelector(\'[data-testid="site-row-{site}"] [data-testid="{testid}"]\');'
        "return el ? el.textContent.trim() : null;"
    )


def _figure(agency: str, testid: str) -> str:
    """A script answering the text of one figure on an agency's card (null before the card is drawn)."""
    return (
        f'const el = document.querySelector(\'[data-testid="agency-row-{agency}"] [data-testid="{testid}"]\');'
        "return el ? el.textContent.trim() : null;"
    )


async def _shows(browser: Browser, agency: str, testid: str, expected: str) -> None:
    await browser.until(f"return (() => {{ {_figure(agency, testid)} }})() === arguments[0]", expected)


async def test_dashboard_logs_in_and_updates_live(mall: Stack, browser: Browser) -> None:
    await _applications(mall)

    # The login form: a wrong key is refused on the page, the ops key opens the dashboard.
    await browser.go(f"{mall.url}/ops")
    assert await browser.script("return document.body.dataset.view") == "login"
    await browser.type("[data-testid=login-key]", "mpp_nosuchkey000_x")
    await browser.click("[data-testid=login-submit]")
    error = await browser.until("return document.querySelector('[data-testid=login-error]').textContent.trim()")
    assert "not valid" in error or "malformed" in error
    await browser.type("[data-testid=login-key]", mall.keys["operator"])
    await browser.click("[data-testid=login-submit]")
    await browser.until("return document.body.dataset.view === 'dashboard'")
    assert await browser.script("return document.cookie") == ""  # HttpOnly: the key is out of the page's reach
    await browser.until(_figure("dukcapil", "requests"))  # the agency rows are drawn from the stream

    # The sites' panel: a van that just reported is connected, a kiosk not heard from for days is not.
    await _sites(mall.bus)
    await browser.until(f"return (() => {{ {_site('van-1', 'site-link')} }})() === 'Terhubung'")
    assert await browser.script(_site("van-1", "site-waiting")) == "4"
    assert await browser.script(_site("kios-2", "site-link")) == "Terputus"
    panel = await browser.script("return document.querySelector('[data-testid=sites]').innerText")
    assert "menunggu sinkron" in panel and "kios-2" in panel

    await _lookups(mall, known=9, unknown=3)
    await _other_traffic(mall)
    await _shows(browser, "dukcapil", "requests", "12")
    assert await browser.script(_figure("dukcapil", "errors")) == "3"
    assert await browser.script(_figure("dukcapil", "error-rate")) == "25.0 %"
    assert await browser.script(_figure("dukcapil", "health")) == "up"
    assert await browser.script(_figure("dukcapil", "circuit")) == "circuit closed"
    assert "not_found 3" in (await browser.script(_figure("dukcapil", "errors-by-code")) or "")
    state = (await mall.http.get("/ops/state", headers=mall.headers("operator", None))).json()
    bpjs = next(a for a in state["agencies"] if a["agency"] == "bpjs")
    await _shows(browser, "bpjs", "requests", str(bpjs["total"]))
    rows = await browser.until("return document.querySelectorAll('[data-testid=exchange]').length")
    assert rows >= 12
    applications = await browser.until(
        "const t = document.querySelector('[data-testid=applications-total]').textContent; return t !== '0' && t"
    )
    assert int(applications) >= 2

    # More traffic after the first stream has ended and the page reconnected: it follows without a reload.
    await browser.script("window.__sameDocument = 'yes'")
    await browser.until("return Number(document.querySelector('[data-testid=live]').dataset.connections) >= 2")
    await _lookups(mall, known=6, unknown=2)
    await _shows(browser, "dukcapil", "requests", "20")
    assert await browser.script(_figure("dukcapil", "errors")) == "5"
    assert await browser.script("return window.__sameDocument") == "yes"
    latest = await browser.script("return document.querySelector('[data-testid=exchange] td:nth-child(7)').textContent")
    assert re.fullmatch(r"\d{4}\*{10}\d{2}", latest)

    page = await browser.script("return document.body.innerText")
    assert not re.search(r"(?<![0-9A-Za-z])\d{13,}(?![0-9A-Za-z])", page), "an unmasked identifier is on the page"
    # The screenshot shows the latest figures: every agency's card has what the hub counted.
    state = (await mall.http.get("/ops/state", headers=mall.headers("operator", None))).json()
    for agency in state["agencies"]:
        await _shows(browser, agency["agency"], "requests", str(agency["total"]))
    png = await browser.screenshot()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    await asyncio.to_thread(save, ARTIFACTS / "dashboard.png", png)
    # The other theme too, as operators on a night shift see it.
    theme = await browser.script("return document.documentElement.dataset.theme || ''")
    await browser.click("[data-testid=theme]")
    await browser.until("return (document.documentElement.dataset.theme || '') !== arguments[0]", theme)
    await asyncio.to_thread(save, ARTIFACTS / "dashboard-other-theme.png", await browser.screenshot())
