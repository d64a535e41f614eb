"""The HTTP edge's rough edges, over real HTTP in front of a real hub on a real bus: the applications list the
CLI asks for, /docs without internet (in a real headless Chromium), 405 with Allow, a body that is not JSON,
and a refused key blamed on the hub instead of an agency."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService

from contracts import ErrorCode, HubError, Mask
from hub import load_plugins
from hub._asgi import AsgiServer
from hub._audit import AuditLog, AuditRecord
from hub._bus_access import BusAccess
from hub._edge import EdgeBus
from hub._http import create_app
from hub._runtime import Hub
from hub.testing._bus import TestBus
from plugins._synthetic import residents
from plugins.samsat import _data as samsat_data
from tests._browser import CHROMIUM, DRIVER, Browser
from tests._processes import run_cli
from tests.conftest import (
    TEST_AUDIT_KEY,
    TEST_PURPOSE,
    add_known_consumer,
    connect_client,
    make_hub,
    open_edge,
    revoke_consumer,
)

#: The edge's hub knows the vehicle tax renewal (so it takes applications in) but runs no engine: the
#: applications stay submitted, which makes the status filter's answer certain.
EDGE_PLUGINS = {"dukcapil", "vehicle_tax_renewal"}
NIK_MASK = Mask(keep_start=4, keep_end=2)
APPLICANTS = residents.samples(3)
#: A plate the renewal's params accept (nobody works the application on: any well-formed plate does).
PLATE = next(iter(samsat_data.by_plate()))


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A bus of this module's own: applications other tests left open on the shared one would be listed too."""
    server = TestBus(tmp_path_factory.mktemp("nats-edge"))
    yield server.start()
    server.stop()


@dataclass
class Edge:
    url: str
    http: httpx.AsyncClient
    bus: BusAccess
    edge: EdgeBus
    worker: Hub  # serves identity.* (dukcapil) on the bus
    tag: str
    keys: dict[str, str]

    def headers(self, consumer: str = "desk", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[consumer]}", "X-Purpose": TEST_PURPOSE, **extra}

    async def add(self, name: str, allow: list[str]) -> str:
        self.keys[name] = await add_known_consumer(self.bus, f"{name}-{self.tag}", allow, self.edge.gate.consumers)
        return self.keys[name]


@pytest.fixture
async def front(bus: BusAccess, hub: Hub) -> AsyncIterator[Edge]:
    """The conftest's dukcapil worker, and an HTTP edge on a real port in front of it."""
    edge_hub = make_hub(load_plugins(only=EDGE_PLUGINS), bus, {})
    edge_bus = await open_edge(edge_hub, bus)
    server = AsgiServer(create_app(edge_hub, edge_bus, embedded_nats=False))
    url = await server.start()
    opened = Edge(url, httpx.AsyncClient(base_url=url, timeout=10), bus, edge_bus, hub, uuid.uuid4().hex[:6], {})
    try:
        await opened.add("desk", ["application.*", "identity.lookup"])
        await opened.add("kiosk", ["identity.lookup"])
        yield opened
    finally:
        await opened.http.aclose()
        await server.stop()
        await edge_bus.close()


async def _records(front: Edge, correlation_id: str) -> list[AuditRecord]:
    log = AuditLog(front.worker.nc.jetstream(), TEST_AUDIT_KEY)
    return [r async for r in log.records() if r.correlation_id == correlation_id]


async def _submit(front: Edge, nik: str) -> dict[str, Any]:
    body = {"service": "vehicle-tax-renewal", "applicant_nik": nik, "channel": "desk", "params": {"plate": PLATE}}
    answer = await front.http.post("/v1/applications", json=body, headers=front.headers())
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


# --- GET /v1/applications -----------------------------------------------------------------------------------


async def test_the_applications_list_is_served_with_its_status_filter_and_audited_per_applicant(
    front: Edge,
) -> None:
    """Every application, oldest first, NIKs masked; ?status= narrows it; each applicant's trail has the read."""
    submitted = [await _submit(front, nik) for nik in APPLICANTS]
    mine = [a["tracking_no"] for a in submitted]
    cid = f"list-{uuid.uuid4().hex}"
    listed = await front.http.get("/v1/applications", headers=front.headers(**{"X-Correlation-Id": cid}))
    assert listed.status_code == 200, listed.text
    found = [a for a in listed.json() if a["tracking_no"] in mine]
    assert [a["tracking_no"] for a in found] == mine  # oldest first
    assert [a["applicant_nik"] for a in found] == [NIK_MASK.apply(nik) for nik in APPLICANTS]
    assert not any(nik in listed.text for nik in APPLICANTS)
    records = await _records(front, cid)
    assert {r.subject_masked for r in records} >= {NIK_MASK.apply(nik) for nik in APPLICANTS}
    assert all(r.operation == "application.read" and r.outcome == "ok" and r.purpose == TEST_PURPOSE for r in records)
    assert len(records) == len({r.subject_hash for r in records})  # one record per applicant
    submitted_only = await front.http.get("/v1/applications", params={"status": "submitted"}, headers=front.headers())
    assert {a["tracking_no"] for a in submitted_only.json()} >= set(mine)
    assert all(a["status"] == "submitted" for a in submitted_only.json())
    done = await front.http.get("/v1/applications", params={"status": "done"}, headers=front.headers())
    assert done.status_code == 200 and done.json() == []
    first = await front.http.get("/v1/applications", params={"limit": 1}, headers=front.headers())
    assert first.status_code == 200 and len(first.json()) == 1, first.text
    for limit in (0, 1001):
        refused = await front.http.get("/v1/applications", params={"limit": limit}, headers=front.headers())
        assert refused.status_code == 400 and refused.json()["issues"][0]["field"] == "query.limit", refused.text


async def test_the_applications_list_needs_the_right_a_purpose_and_a_known_status(front: Edge) -> None:
    kiosk = await front.http.get("/v1/applications", headers=front.headers("kiosk"))
    assert kiosk.status_code == 403 and kiosk.json()["code"] == "forbidden"
    assert "application.read" in kiosk.json()["message"]
    no_purpose = {"Authorization": f"Bearer {front.keys['desk']}"}
    unstated = await front.http.get("/v1/applications", headers=no_purpose)
    assert unstated.status_code == 400 and "X-Purpose" in unstated.json()["message"]
    stranger = await front.http.get("/v1/applications", headers={"X-Purpose": TEST_PURPOSE})
    assert stranger.status_code == 401 and stranger.json()["code"] == "unauthorized"
    odd = await front.http.get("/v1/applications", params={"status": "lost"}, headers=front.headers())
    assert odd.status_code == 400 and odd.json()["code"] == "invalid_input"
    assert odd.json()["issues"][0]["field"] == "query.status"


async def test_mpp_hub_applications_list_reads_the_served_list(front: Edge, tmp_path: Path) -> None:
    """The CLI finds the edge by the state file `up` leaves and prints the list, filtered by --status."""
    application = await _submit(front, APPLICANTS[0])
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # What `mpp-hub up` writes (hub._up.write_state); this test process stands in for the running hub.
    (data_dir / "hub.json").write_text(
        json.dumps({"pid": os.getpid(), "nats_url": front.bus.url, "http_url": front.url})
    )
    env = {"MPP_HUB_DATA_DIR": str(data_dir), "MPP_HUB_API_KEY": front.keys["desk"], "MPP_HUB_PURPOSE": TEST_PURPOSE}

    def cli(*args: str) -> str:
        result = run_cli("applications", "list", *args, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    listed = json.loads(await asyncio.to_thread(cli, "--status", "submitted", "--json"))
    assert application["tracking_no"] in {a["tracking_no"] for a in listed}
    assert all(a["status"] == "submitted" for a in listed)
    assert json.loads(await asyncio.to_thread(cli, "--status", "done", "--json")) == []
    text = await asyncio.to_thread(cli)
    assert application["tracking_no"] in text and "submitted" in text and APPLICANTS[0] not in text


# --- /docs without internet ---------------------------------------------------------------------------------


_NETWORK = ("http", "https", "ws", "wss")


class _OfflineBrowser(Browser):
    """Headless Chromium that can resolve no host but loopback (a mall's network without internet), and keeps
    the DevTools network log, so a request that failed is still seen."""

    chrome: webdriver.Chrome

    @classmethod
    async def open_offline(cls, profile: str) -> _OfflineBrowser:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
            options.add_argument(arg)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        service = ChromeService(executable_path=str(DRIVER))
        driver = await asyncio.to_thread(webdriver.Chrome, options=options, service=service)
        opened = cls(driver)
        opened.chrome = driver
        return opened

    async def requested(self) -> list[str]:
        """Every URL the page asked for since the last call, failed ones included."""
        entries = await asyncio.to_thread(self.chrome.get_log, "performance")
        messages = [json.loads(entry["message"])["message"] for entry in entries]
        return [m["params"]["request"]["url"] for m in messages if m["method"] == "Network.requestWillBeSent"]


@pytest.fixture
async def offline_browser(tmp_path: Path) -> AsyncIterator[_OfflineBrowser]:
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
    opened = await _OfflineBrowser.open_offline(str(tmp_path / "chromium-profile"))
    yield opened  # pytest runs the rest even when the test failed
    await opened.close()


async def test_docs_render_the_operations_with_no_network(front: Edge, offline_browser: _OfflineBrowser) -> None:
    """Swagger UI comes from the hub itself: the operations appear, and nothing is asked of another host."""
    await offline_browser.go(f"{front.url}/docs")
    await offline_browser.until("return document.querySelector('[data-path=\"/v1/identity.lookup\"]') !== null")
    assert await offline_browser.script("return document.querySelector('[data-path=\"/v1/applications\"]') !== null")
    requested = await offline_browser.requested()
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in requested), requested
    assert any(url.endswith("/openapi.json") for url in requested), requested
    off_host = [url for url in requested if url.split(":")[0] in _NETWORK and not url.startswith(f"{front.url}/")]
    assert off_host == [], off_host  # chrome:// (the browser's own start page) and data: are no network
    redoc = await front.http.get("/redoc")
    assert redoc.status_code == 404 and redoc.json()["code"] == "not_found"


# --- HTTP's own refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/identity.lookup", "POST"),
        ("DELETE", "/v1/applications", "GET, POST"),
        ("PUT", "/healthz", "GET"),
        ("POST", "/v1/applications/K7Q3-9XH2-9", "GET"),
    ],
)
async def test_a_wrong_method_is_told_the_methods_the_path_serves(
    front: Edge, method: str, path: str, allowed: str
) -> None:
    answer = await front.http.request(method, path, headers=front.headers())
    assert answer.status_code == 405 and answer.headers["Allow"] == allowed
    error = answer.json()
    assert error["code"] == "invalid_input" and f"{method} is not allowed on {path}" in error["message"]
    for served in allowed.split(", "):  # each method Allow names is one the path does serve
        assert (await front.http.request(served, path, headers=front.headers())).status_code != 405


async def test_a_body_that_is_not_json_is_named_with_its_line_and_column(front: Edge) -> None:
    body = b'{\n  "nik": "3328104505900001",\n  nik\n}'
    answer = await front.http.post(
        "/v1/identity.lookup", content=body, headers={**front.headers(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["code"] == "invalid_input"
    (issue,) = error["issues"]
    assert issue["field"] == "(body)"
    assert "not JSON" in issue["message"] and "line 3, column 3" in issue["message"], issue
    assert "Expecting property name" in issue["message"]


# --- a refused key ---------------------------------------------------------------------------------------------


async def test_a_revoked_key_is_refused_by_the_hub_not_by_an_agency(front: Edge) -> None:
    """Refused at the door, or by a worker that heard of the revoke before the edge did: never `(dukcapil)`."""
    nik = APPLICANTS[1]
    for name in ("gone", "late"):
        await front.add(name, ["identity.lookup"])
        known = await front.http.post("/v1/identity.lookup", json={"nik": nik}, headers=front.headers(name))
        assert known.status_code == 200, known.text
    await revoke_consumer(front.bus, f"gone-{front.tag}", front.edge.gate.consumers, front.worker.gate.consumers)
    gone = await front.http.post("/v1/identity.lookup", json={"nik": nik}, headers=front.headers("gone"))
    assert gone.status_code == 401 and gone.json()["agency"] is None and "revoked" in gone.json()["message"]
    async with await connect_client(front.bus, consumer=f"gone-{front.tag}") as on_the_bus:  # as `mpp-hub call`
        with pytest.raises(HubError) as refused:
            await on_the_bus.call("identity.lookup", {"nik": nik})
    assert refused.value.error.code is ErrorCode.UNAUTHORIZED and refused.value.error.agency is None
    # The edge stops hearing of changes: it still takes "late" for a valid consumer, as an edge would while the
    # revoke is on its way to it; the worker has it.
    await front.edge.gate.consumers.close()
    await revoke_consumer(front.bus, f"late-{front.tag}", front.worker.gate.consumers)
    late = await front.http.post("/v1/identity.lookup", json={"nik": nik}, headers=front.headers("late"))
    assert late.status_code == 401 and late.json()["code"] == "unauthorized"
    assert late.json()["agency"] is None and "hub refused this API key" in late.json()["message"], late.text
    unknown = await front.http.post(
        "/v1/identity.lookup", json={"nik": nik}, headers={**front.headers(), "Authorization": "Bearer mpp_x_y"}
    )
    assert unknown.status_code == 401 and unknown.json()["agency"] is None
