"""The ops views: the traffic figures, `mpp-hub tail` / `top`, and the /ops dashboard's API, against a real hub.

A scripted burst goes through the HTTP edge to the four agencies' sandboxes; `tail`, `top`, `/ops/state` and the
Prometheus counters must all count it the same way, per agency and outcome, and none may show personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NATS
from prometheus_client.parser import text_string_to_metric_families

from contracts import Application, ApplicationStatus, Channel, TrafficRecord, new_tracking_number
from hub import load_plugins
from hub._bus_access import BusAccess
from hub._embedded_bus import EmbeddedBus
from hub._ops import COOKIE, mall_view
from hub._roles import Role
from hub._traffic_stats import ALL_OPERATIONS, TrafficStats
from hub._watch import tail, top
from plugins._synthetic import residents
from tests._processes import free_port
from tests._stack import Grant, Sandboxes, Stack
from tests._until import until
from tests.conftest import ANY_PURPOSE, bus_env, connect, revoke_consumer

AGENCIES = ("dukcapil", "bpjs", "samsat", "bank")
T0 = dt.datetime(2026, 11, 22, 3, 0, tzinfo=dt.UTC)
#: Valid NIKs (district, birth date) that no synthetic resident holds: the agencies answer not_found.
UNKNOWN_NIKS = [f"332810010101999{i}" for i in range(1, 6)]
UNKNOWN_CARD = "0000000000019"
# A run of 13 or more digits standing alone: an unmasked NIK (16), BPJS card (13) or account number.
_LONG_DIGITS = re.compile(r"(?<![0-9A-Za-z])\d{13,}(?![0-9A-Za-z])")


# --- TrafficStats -------------------------------------------------------------------------------------------------


def _record(
    seconds: float,
    latency: float = 10.0,
    outcome: str = "ok",
    agency: str | None = "dukcapil",
    op: str = "identity.lookup",
) -> TrafficRecord:
    return TrafficRecord(
        at=T0 + dt.timedelta(seconds=seconds), correlation_id=uuid.uuid4().hex, operation=op, agency=agency,
        consumer="portal", outcome=outcome, latency_ms=latency, request_bytes=30, response_bytes=400, worker="w1",
        subject="3328**********01",
    )  # fmt: skip


def test_stats_rate_percentiles_and_errors_over_the_window() -> None:
    """100 lookups with latencies 1..100 ms, 10 of them not_found: nearest-rank percentiles, rate, error rate."""
    stats = TrafficStats(60.0, started=T0 - dt.timedelta(minutes=5))
    for i in range(100):
        stats.add(_record(i * 0.5, latency=float(i + 1), outcome="not_found" if i % 10 == 0 else "ok"))
    [row] = stats.snapshot(T0 + dt.timedelta(seconds=50))
    assert (row.agency, row.operation, row.count) == ("dukcapil", "identity.lookup", 100)
    assert (row.p50_ms, row.p95_ms, row.p99_ms) == (50.0, 95.0, 99.0)
    assert row.rate == pytest.approx(100 / 60)
    assert row.errors == {"not_found": 10} and row.error_rate == pytest.approx(0.1)
    assert row.totals == {"ok": 90, "not_found": 10} and row.total == 100 and row.total_errors == 10


def test_stats_window_slides_but_totals_never_decay() -> None:
    """Records older than the window leave the window figures (and memory); the totals keep them."""
    stats = TrafficStats(10.0, started=T0 - dt.timedelta(minutes=5))
    for i in range(20):
        stats.add(_record(i, outcome="agency_unavailable" if i < 5 else "ok"))
    [row] = stats.snapshot(T0 + dt.timedelta(seconds=19.5))
    assert row.count == 10 and row.errors == {} and row.error_rate == 0.0  # 10..19 are inside [9.5, 19.5]
    assert row.totals == {"agency_unavailable": 5, "ok": 15}
    [later] = stats.snapshot(T0 + dt.timedelta(hours=1))
    assert later.count == 0 and later.rate == 0.0 and later.p50_ms is None and later.totals == row.totals
    assert all(len(recent) == 0 for recent in stats._recent.values())  # bounded: nothing old is kept


def test_stats_rate_right_after_start_is_not_diluted_by_the_empty_window() -> None:
    """Ten records in the first two seconds are 5/s, not 10/60."""
    stats = TrafficStats(60.0, started=T0)
    for i in range(10):
        stats.add(_record(i * 0.2))
    [row] = stats.snapshot(T0 + dt.timedelta(seconds=2))
    assert row.rate == pytest.approx(5.0)


def test_stats_rows_per_operation_and_per_agency() -> None:
    """Rows per (agency, operation), sorted; per agency the latencies merge; agencies without traffic can be listed."""
    stats = TrafficStats(60.0, started=T0 - dt.timedelta(minutes=5))
    stats.add(_record(1, latency=5, op="identity.verify"))
    stats.add(_record(2, latency=50, op="identity.lookup", outcome="not_found"))
    stats.add(_record(3, latency=20, agency="bpjs", op="health.coverage"))
    stats.add(_record(4, latency=1, agency=None, op="hub.services"))
    now = T0 + dt.timedelta(seconds=10)
    assert [(r.agency, r.operation) for r in stats.snapshot(now)] == [
        ("bpjs", "health.coverage"), ("dukcapil", "identity.lookup"), ("dukcapil", "identity.verify"),
        ("hub", "hub.services"),
    ]  # fmt: skip
    rows = {r.agency: r for r in stats.by_agency(now, include=["samsat"])}
    assert set(rows) == {"bpjs", "dukcapil", "hub", "samsat"}
    dukcapil = rows["dukcapil"]
    assert (
        dukcapil.operation == ALL_OPERATIONS and dukcapil.count == 2 and dukcapil.p50_ms == 5 and dukcapil.p99_ms == 50
    )
    assert dukcapil.totals == {"ok": 1, "not_found": 1} and dukcapil.error_rate == 0.5
    assert rows["samsat"].count == 0 and rows["samsat"].totals == {} and sum(rows["samsat"].series) == 0
    assert len(dukcapil.series) == 30 and sum(dukcapil.series) == 2
    assert dukcapil.as_json()["total_errors"] == 1 and json.dumps(dukcapil.as_json())


def test_stats_read_a_naive_time_as_utc() -> None:
    stats = TrafficStats(60.0, started=T0)
    stats.add(_record(1).model_copy(update={"at": (T0 + dt.timedelta(seconds=1)).replace(tzinfo=None)}))
    assert stats.snapshot(T0 + dt.timedelta(seconds=2))[0].count == 1


def _application(created: dt.datetime, minutes: float, status: ApplicationStatus, channel: Channel) -> Application:
    return Application(
        tracking_no=new_tracking_number(), service="vehicle-tax-renewal", title="Perpanjangan PKB",
        applicant_nik=residents.samples()[0], channel=channel, agencies=["dukcapil", "samsat", "bank"], status=status,
        step="x", history=[], created_at=created, updated_at=created + dt.timedelta(minutes=minutes),
    )  # fmt: skip


def test_mall_view_counts_today_and_the_service_standard() -> None:
    """Today (WIB) only; finished = done or rejected; within standard = finished inside the service's hour."""
    now = dt.datetime(2026, 11, 22, 9, 0, tzinfo=dt.UTC)  # 16:00 WIB
    today = dt.datetime(2026, 11, 22, 1, 0, tzinfo=dt.UTC)  # 08:00 WIB
    yesterday_wib = dt.datetime(2026, 11, 21, 16, 30, tzinfo=dt.UTC)  # 23:30 WIB on the 21st
    apps = [
        _application(today, 20, ApplicationStatus.DONE, Channel.DESK),
        _application(today, 90, ApplicationStatus.DONE, Channel.KIOSK),
        _application(today, 5, ApplicationStatus.REJECTED, Channel.DESK),
        _application(today, 1, ApplicationStatus.AWAITING_PAYMENT, Channel.MOBILE),
        _application(today, 600, ApplicationStatus.EXPIRED, Channel.PORTAL),
        _application(yesterday_wib, 10, ApplicationStatus.DONE, Channel.DESK),
    ]
    view = mall_view(apps, now)
    assert view["date"] == "2026-11-22" and view["total"] == 5
    assert view["by_status"] == {"awaiting_payment": 1, "done": 2, "expired": 1, "rejected": 1}
    assert view["by_channel"] == {"desk": 2, "kiosk": 1, "mobile": 1, "portal": 1}
    assert view["by_agency"] == {"bank": 5, "dukcapil": 5, "samsat": 5}
    assert (view["finished"], view["within_standard"]) == (3, 2)
    assert view["services"]["vehicle-tax-renewal"]["standard_minutes"] == 60


# --- a hub with its edge and the four sandboxes -------------------------------------------------------------------


#: The ops views' consumers: the operator, a portal allowed everything, a kiosk allowed look-ups only.
CONSUMERS = {"ops": Grant(["ops.dashboard"]), "portal": Grant(["*"]), "kiosk": Grant(["identity.lookup"])}


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    with Sandboxes(AGENCIES) as started:
        yield started


def _open_ops(bus: BusAccess, sandboxes: Sandboxes, *, processes: bool = False) -> Stack:
    renewal = ("vehicle_tax_renewal",) if processes else ()
    return Stack(
        bus, agencies=AGENCIES, processes=renewal, sandboxes=sandboxes, consumers=CONSUMERS, purpose=ANY_PURPOSE
    )


def _auth(ops: Stack, consumer: str) -> dict[str, str]:
    """A consumer's key and no purpose: the ops views read no personal data."""
    return ops.headers(consumer, purpose=None)


@pytest.fixture
async def ops(bus: BusAccess, sandboxes: Sandboxes) -> AsyncIterator[Stack]:
    async with _open_ops(bus, sandboxes) as opened:
        yield opened


@pytest.fixture
async def watcher(bus: BusAccess) -> AsyncIterator[NATS]:
    """A connection as the ops role, which `mpp-hub tail` and `top` use: it may follow the traffic, nothing else."""
    nc = await connect(bus, Role.OPS)
    yield nc
    await nc.close()


async def _burst(ops: Stack) -> Counter[tuple[str, str]]:
    """20 lookups (5 of unknown NIKs), 3 coverage checks (1 unknown card), 2 tax checks; the outcomes expected."""
    known = residents.samples(15)
    bpjs = load_plugins(only={"bpjs"}).sandboxes["bpjs"].samples()
    plates = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()["plate"][:2]
    calls: list[tuple[str, dict[str, Any]]] = [("identity.lookup", {"nik": nik}) for nik in known + UNKNOWN_NIKS]
    calls += [
        ("health.coverage", {"nik": bpjs["nik"][0]}),
        ("health.coverage", {"card_number": bpjs["card_number"][1]}),
    ]
    calls += [("health.coverage", {"card_number": UNKNOWN_CARD})]
    calls += [("vehicle.tax_due", {"plate": plate}) for plate in plates]
    seen: Counter[tuple[str, str]] = Counter()
    agency_of = {"identity": "dukcapil", "health": "bpjs", "vehicle": "samsat"}
    for operation, body in calls:
        answer = await ops.http.post(f"/v1/{operation}", json=body, headers=ops.headers("portal"))
        assert answer.status_code in (200, 404), answer.text
        seen[(agency_of[operation.split(".")[0]], "ok" if answer.status_code == 200 else answer.json()["code"])] += 1
    assert seen[("dukcapil", "not_found")] == 5 and seen[("dukcapil", "ok")] == 15
    assert seen[("bpjs", "not_found")] == 1 and seen[("bpjs", "ok")] == 2
    return seen


async def _prometheus(ops: Stack) -> Counter[tuple[str, str]]:
    answer = await ops.http.get("/metrics")
    text = answer.text if answer.status_code == 200 else ops.hub.metrics.render().decode()
    counts: Counter[tuple[str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mpp_requests_total":
                counts[(sample.labels["agency"], sample.labels["code"])] += int(sample.value)
    return counts


def _state_counts(state: dict[str, Any]) -> Counter[tuple[str, str]]:
    return Counter({(a["agency"], outcome): n for a in state["agencies"] for outcome, n in a["totals"].items()})


def _assert_masked(text: str) -> None:
    found = _LONG_DIGITS.findall(text)
    assert not found, f"unmasked identifiers: {found[:3]}"
    names = [r.full_name for r in residents.residents() if r.full_name in text or r.full_name.lower() in text.lower()]
    assert not names, f"residents' names shown: {names[:3]}"


async def test_tail_top_state_and_prometheus_count_the_same_burst(ops: Stack, watcher: NATS) -> None:
    """tail --json, top --once --json, /ops/state and mpp_requests_total agree per agency and outcome."""
    assert (await ops.http.get("/ops/state", headers=_auth(ops, "ops"))).status_code == 200  # the feed starts here
    expected_total = 25
    as_json, as_text = io.StringIO(), io.StringIO()
    ready = [asyncio.Event() for _ in range(3)]
    tails = [
        asyncio.create_task(tail(watcher, as_json=True, out=as_json, limit=expected_total, ready=ready[0])),
        asyncio.create_task(tail(watcher, out=as_text, limit=expected_total, ready=ready[1])),
    ]
    top_task = asyncio.create_task(
        top(watcher, once=True, seconds=8.0, as_json=True, out=io.StringIO(), ready=ready[2])
    )
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 5)

    sent = await _burst(ops)
    assert sum(sent.values()) == expected_total
    assert await asyncio.wait_for(asyncio.gather(*tails), 10) == [expected_total, expected_total]

    lines = [TrafficRecord.model_validate_json(line) for line in as_json.getvalue().splitlines()]
    tailed = Counter((r.agency or "hub", r.outcome) for r in lines)
    assert tailed == sent
    assert await _prometheus(ops) == sent
    state = (await ops.http.get("/ops/state", headers=_auth(ops, "ops"))).json()
    assert _state_counts(state) == sent
    rows = await asyncio.wait_for(top_task, 15)
    assert Counter({(r["agency"], o): n for r in rows for o, n in r["totals"].items()}) == sent
    assert {r["circuit"] for r in rows} == {"-"}  # top sees traffic, not the breakers; /ops and /metrics do

    dukcapil = next(a for a in state["agencies"] if a["agency"] == "dukcapil")
    assert dukcapil["count"] == 20 and dukcapil["errors"] == {"not_found": 5} and dukcapil["error_rate"] == 0.25
    assert dukcapil["health"]["status"] == "up" and dukcapil["circuit"] == "closed"
    assert dukcapil["p50_ms"] <= dukcapil["p95_ms"] <= dukcapil["p99_ms"]
    assert {a["agency"] for a in state["agencies"]} >= set(AGENCIES)  # the bank is listed though it had no traffic
    assert len(state["exchanges"]) == expected_total and state["exchanges"][0]["seq"] > state["exchanges"][-1]["seq"]
    # The subject is whichever identifier the call was about (a NIK, or a BPJS card number), always masked.
    assert all(x["subject"] is None or re.fullmatch(r"\d{4}\*{7,10}\d{2}", x["subject"]) for x in state["exchanges"])
    assert state["applications"] is None  # this hub runs no process

    text = as_text.getvalue()
    assert len(text.splitlines()) == expected_total and "not_found" in text and "3328**********" in text
    for output in (as_json.getvalue(), text, json.dumps(state)):
        _assert_masked(output)


async def test_tail_filters_by_agency_operation_and_errors(ops: Stack, watcher: NATS) -> None:
    """--agency, --operation and --errors select on the subject and the outcome."""
    outs = {name: io.StringIO() for name in ("bpjs", "lookup", "errors")}
    ready = [asyncio.Event() for _ in outs]
    tasks = [
        asyncio.create_task(tail(watcher, agency="bpjs", as_json=True, out=outs["bpjs"], limit=3, ready=ready[0])),
        asyncio.create_task(
            tail(watcher, operation="identity.lookup", as_json=True, out=outs["lookup"], limit=20, ready=ready[1])
        ),
        asyncio.create_task(tail(watcher, errors_only=True, as_json=True, out=outs["errors"], limit=6, ready=ready[2])),
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 5)
    await _burst(ops)
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    records = {name: [json.loads(line) for line in out.getvalue().splitlines()] for name, out in outs.items()}
    assert {r["agency"] for r in records["bpjs"]} == {"bpjs"} and len(records["bpjs"]) == 3
    assert {r["operation"] for r in records["lookup"]} == {"identity.lookup"}
    assert Counter(r["outcome"] for r in records["errors"]) == Counter({"not_found": 6})


async def test_ops_needs_a_key_with_the_ops_right(ops: Stack) -> None:
    """No key: 401; a consumer without ops.dashboard: 403 (contract errors for the API, the login page for HTML)."""
    for path in ("/ops/state", "/ops/stream"):
        answer = await ops.http.get(path)
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
        answer = await ops.http.get(path, headers=_auth(ops, "kiosk"))
        assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
        assert "ops.dashboard" in answer.json()["message"]
    wrong = await ops.http.get("/ops/state", headers={"Authorization": "Bearer mpp_nosuchkey000_x"})
    assert wrong.status_code == 401
    page = await ops.http.get("/ops")
    assert page.status_code == 401 and 'data-view="login"' in page.text and 'name="api_key"' in page.text
    page = await ops.http.get("/ops", headers=_auth(ops, "kiosk"))
    assert page.status_code == 403 and 'data-view="login"' in page.text and "ops.dashboard" in page.text
    portal_may = await ops.http.get("/ops/state", headers=_auth(ops, "portal"))  # "*" includes the ops right
    assert portal_may.status_code == 200


async def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(ops: Stack) -> None:
    """The form posts the key; the cookie then opens the page, the state and the stream; logout ends it."""
    refused = await ops.http.post("/ops/session", data={"api_key": ops.keys["kiosk"]})
    assert refused.status_code == 403 and COOKIE not in refused.cookies and 'data-view="login"' in refused.text
    foreign = await ops.http.post(
        "/ops/session", data={"api_key": ops.keys["ops"]}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and COOKIE not in foreign.cookies

    async with httpx.AsyncClient(base_url=ops.url, timeout=10) as browser:
        login = await browser.post("/ops/session", data={"api_key": ops.keys["ops"]}, headers={"Origin": ops.url})
        assert login.status_code == 303 and login.headers["location"] == "/ops"
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ops" in cookie
        page = await browser.get("/ops")
        assert page.status_code == 200 and 'data-view="dashboard"' in page.text and f"ops-{ops.tag}" in page.text
        assert "nonce-" in page.headers["content-security-policy"]
        assert (await browser.get("/ops/state")).status_code == 200
        out = await browser.post("/ops/logout", headers={"Origin": ops.url})
        assert out.status_code == 303 and COOKIE not in browser.cookies
        assert (await browser.get("/ops/state")).status_code == 401

    await revoke_consumer(ops.bus, ops.name("ops"), *ops.registries)  # the admin revokes; the edge learns
    revoked = await ops.http.get("/ops/state", headers=_auth(ops, "ops"))
    assert revoked.status_code == 401  # the key is checked on every request: a revoke ends the session


async def _events(ops: Stack, enough: Any, timeout: float = 10.0) -> list[tuple[str, dict[str, Any]]]:
    """Read /ops/stream until ``enough(events)`` holds (or the server ends this stream)."""
    events: list[tuple[str, dict[str, Any]]] = []
    async with asyncio.timeout(timeout), ops.http.stream("GET", "/ops/stream", headers=_auth(ops, "ops")) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in answer.aiter_lines():
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.partition(":")[2])))
                if enough(events):
                    break
    return events


async def test_stream_pushes_snapshots_and_each_exchange(ops: Stack) -> None:
    """The stream opens with a snapshot, then pushes each exchange as it happens and a fresh snapshot each second."""
    streaming, got_exchange = asyncio.Event(), asyncio.Event()

    async def call_when_streaming() -> None:
        await streaming.wait()  # the first snapshot: the stream follows the traffic from here
        while not got_exchange.is_set():
            await ops.http.post("/v1/identity.lookup", json={"nik": UNKNOWN_NIKS[0]}, headers=ops.headers("portal"))
            with contextlib.suppress(TimeoutError):  # again, unless the stream has shown the exchange meanwhile
                await asyncio.wait_for(got_exchange.wait(), 0.3)

    caller = asyncio.create_task(call_when_streaming())

    def enough(events: list[tuple[str, dict[str, Any]]]) -> bool:
        streaming.set()
        if any(name == "exchange" for name, _ in events):
            got_exchange.set()
        return got_exchange.is_set() and sum(name == "snapshot" for name, _ in events) >= 2

    try:
        events = await _events(ops, enough)
    finally:
        got_exchange.set()
        await caller
    assert events[0][0] == "snapshot" and {"agencies", "exchanges", "applications"} <= set(events[0][1])
    exchange = next(data for name, data in events if name == "exchange")
    assert exchange["agency"] == "dukcapil" and exchange["outcome"] == "not_found"
    assert exchange["subject"] == f"{UNKNOWN_NIKS[0][:4]}**********{UNKNOWN_NIKS[0][-2:]}"
    _assert_masked(json.dumps(events))


async def test_a_stream_ends_by_itself_so_the_edge_can_stop(ops: Stack) -> None:
    """uvicorn waits for open responses when it stops: each stream closes within seconds (browsers reconnect)."""
    started = asyncio.get_running_loop().time()
    events = await _events(ops, lambda _: False, timeout=15)
    assert events and asyncio.get_running_loop().time() - started < 10


async def test_mall_view_counts_an_application_submitted_today(bus: BusAccess, sandboxes: Sandboxes) -> None:
    """With the vehicle tax renewal loaded, /ops/state counts today's applications by status, channel and agency."""
    async with _open_ops(bus, sandboxes, processes=True) as found:
        # Read directly: a first /ops/state would cache the view for ten seconds.
        before = mall_view(await found.hub.engine.store.every())
        samples = load_plugins(only={"samsat"}).sandboxes["samsat"].samples()
        body = {
            "service": "vehicle-tax-renewal", "applicant_nik": samples["nik"][0], "channel": "mobile",
            "params": {"plate": samples["plate"][0]},
        }  # fmt: skip
        submitted = await found.http.post("/v1/applications", json=body, headers=found.headers("portal"))
        assert submitted.status_code == 201, submitted.text
        after = (await found.http.get("/ops/state", headers=_auth(found, "ops"))).json()["applications"]
        assert after["total"] == before["total"] + 1
        assert after["by_channel"].get("mobile", 0) == before["by_channel"].get("mobile", 0) + 1
        assert after["by_agency"]["samsat"] == before["by_agency"].get("samsat", 0) + 1
        _assert_masked(json.dumps(after))


def _cli(*args: str, bus: BusAccess | None = None) -> subprocess.Popen[str]:
    """`python -m hub ...`; with ``bus``, pointed at it with this machine's credentials for it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(bus_env(bus) if bus else {})}
    return subprocess.Popen(
        [sys.executable, "-m", "hub", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


async def test_cli_tail_and_top(ops: Stack) -> None:
    """`mpp-hub tail --json --limit` and `mpp-hub top --once --json` as a user runs them, against live traffic."""
    tail_cli = _cli("tail", "--json", "--limit", "3", "--agency", "dukcapil", "--nats-url", ops.bus.url, bus=ops.bus)
    top_cli = _cli("top", "--once", "--json", "--seconds", "4", "--nats-url", ops.bus.url, bus=ops.bus)
    try:

        async def finished() -> bool:
            """Traffic until both have seen what they wait for (tail: three records; top: its four seconds)."""
            if tail_cli.poll() is not None and top_cli.poll() is not None:
                return True
            await ops.http.post(
                "/v1/identity.lookup", json={"nik": residents.samples()[0]}, headers=ops.headers("portal")
            )
            return False

        await until(finished, "`mpp-hub tail --limit 3` and `mpp-hub top --once` to finish", timeout=30)
        tail_out, tail_err = tail_cli.communicate()
        top_out, top_err = top_cli.communicate()
    finally:
        for process in (tail_cli, top_cli):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert tail_cli.returncode == 0, tail_err
    records = [TrafficRecord.model_validate_json(line) for line in tail_out.splitlines()]
    assert len(records) == 3 and {r.agency for r in records} == {"dukcapil"}
    assert top_cli.returncode == 0, top_err
    snapshot = json.loads(top_out)
    row = next(r for r in snapshot["rows"] if (r["agency"], r["operation"]) == ("dukcapil", "identity.lookup"))
    assert row["totals"]["ok"] >= 1 and row["circuit"] == "-" and row["in_flight"] is None
    _assert_masked(tail_out + top_out)


def test_cli_top_json_needs_once() -> None:
    done = subprocess.run([sys.executable, "-m", "hub", "top", "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "--once" in done.stderr


async def test_cli_tail_rides_out_a_nats_restart(tmp_path: Path) -> None:
    """A watcher left running for hours keeps following the traffic after NATS restarts."""
    server = EmbeddedBus(tmp_path, port=free_port())  # the same port again after the restart
    bus = await server.astart()
    tail_cli = _cli("tail", "--json", "--nats-url", bus.url, bus=bus)
    lines: list[str] = []
    assert tail_cli.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(tail_cli.stdout or ()), daemon=True)
    reader.start()

    async def publish_until_printed(worker: str) -> None:
        """Publish records from ``worker`` (core NATS: one sent before tail's subscription is lost) until tail
        printed one of them."""
        nc = await connect(bus, Role.WORKER)  # workers publish the traffic

        async def printed() -> bool:
            assert tail_cli.poll() is None, tail_cli.communicate()[1][-2000:]
            if any(TrafficRecord.model_validate_json(line).worker == worker for line in list(lines)):
                return True
            record = TrafficRecord(
                at=dt.datetime.now(dt.UTC), correlation_id=uuid.uuid4().hex, operation="identity.lookup",
                agency="dukcapil", consumer="desk", outcome="ok", latency_ms=1.0, request_bytes=1,
                response_bytes=1, worker=worker,
            )  # fmt: skip
            await nc.publish("mpp.traffic.dukcapil.identity.lookup", record.model_dump_json().encode())
            return False

        try:
            await until(printed, f"tail to print a record from {worker}", timeout=30)
        finally:
            await nc.close()

    try:
        await publish_until_printed("before")
        # NATS goes away; tail must wait for it, not end: a record published after the restart, printed, is the
        # proof (a tail that ended could not print it), so no pause is needed to show that nothing happened.
        await server.astop()
        await server.astart()
        await publish_until_printed("after")
    finally:
        tail_cli.terminate()
        tail_cli.wait(10)
        reader.join(5)
        for pipe in (tail_cli.stdout, tail_cli.stderr):
            if pipe is not None:
                pipe.close()
        await server.astop()
    workers = [TrafficRecord.model_validate_json(line).worker for line in lines]
    assert workers[0] == "before" and "after" in workers, workers
