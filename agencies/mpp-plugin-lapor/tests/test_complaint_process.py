"""The complaint process end to end: a hub with LAPOR! against its sandbox, its HTTP edge, a desk filing a complaint
while LAPOR! is down, the complaint sent once LAPOR! is back (once, though the first answer is lost), then followed
through verification and follow-up to its close; no complaint text, NIK or name in any log line.

Run from the repository's root, so that the hub's own test helpers (``tests._stack`` ...) are importable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from contracts import parse_nik
from hub import utcnow
from hub._bus_access import BusAccess
from hub._workdays import complaint_deadlines
from hub.testing._bus import TestBus
from tests._stack import Grant, Stack
from tests._until import until

NIK = "3328010107960001"
FULL_NAME = "WARGA CONTOH PELAPOR"
TEXT = "Petugas loket meminta uang tambahan untuk mempercepat pencetakan KTP-el saya di MPP."
EMAIL = "warga.pelapor@example.org"
#: LAPOR! may be retried at once by the engine only: no retries inside a call, no circuit opening in the test.
#: The application details that carry LAPOR!'s times of filing, verification and follow-up.
_TIMES = ("filed_at", "verified_at", "followed_up_at")
_RESILIENCE = {"lapor": {"retries": 0, "failure_threshold": 1000}}


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    server = TestBus(tmp_path / "nats")
    bus: BusAccess = await server.astart()
    consumers = {"desk": Grant(["application.*"]), "kiosk": Grant(["application.lookup"])}
    try:
        async with Stack(
            bus, agencies=("lapor",), processes=("pengaduan",), consumers=consumers, faults=True,
            resilience=_RESILIENCE,
        ) as opened:  # fmt: skip
            yield opened
    finally:
        await server.astop()


def _admin(stack: Stack, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    url = f"{stack.sandboxes.url('lapor')}/_sandbox/{path}"
    answer = httpx.post(url, json=body, timeout=10) if body is not None else httpx.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def _submit(stack: Stack, **params: Any) -> str:
    body = {
        "service": "pengaduan", "applicant_nik": NIK, "channel": "desk",
        "params": {"title": "Pungutan di loket KTP-el", "text": TEXT, "category": "21", "full_name": FULL_NAME,
                   "email": EMAIL, "concerns": "A-017", **params},
    }  # fmt: skip
    answer = await stack.http.post("/v1/applications", json=body, headers=stack.headers("desk"))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["tracking_no"])


async def _application(stack: Stack, tracking_no: str) -> dict[str, Any]:
    answer = await stack.http.get(f"/v1/applications/{tracking_no}", headers=stack.headers("desk"))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def _until_kicked(stack: Stack, tracking_no: str, reached: Any, what: str) -> dict[str, Any]:
    """Kick the application (as its timer would, later) until ``reached(application)``."""

    async def probe() -> dict[str, Any] | None:
        found = await _application(stack, tracking_no)
        if reached(found):
            return found
        await stack.hub.engine.kick(tracking_no)
        return None

    return await until(probe, what, 60)


def _deadlines(application: dict[str, Any]) -> tuple[str, str]:
    """Where the complaint's two deadlines stand now, from its details, as a dashboard tells it."""
    details = application["details"]
    times = [dt.datetime.fromisoformat(details[key]) if key in details else None for key in _TIMES]
    assert times[0] is not None, details
    deadlines = complaint_deadlines(times[0], times[1], times[2], utcnow())
    return deadlines.verification.state.value, deadlines.follow_up.state.value


def _said(application: dict[str, Any], words: str) -> bool:
    return any(words in entry["message"] for entry in application["history"])


async def test_a_complaint_filed_while_lapor_is_down_is_sent_once_and_followed_to_its_close(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.sandboxes.faults("lapor", outage=True)
    tracking_no = await _submit(stack)
    waiting = await until(
        lambda: _waiting(stack, tracking_no), "the application to wait out the outage", 30
    )  # fmt: skip
    assert waiting["step"] == "file" and waiting["status"] in ("submitted", "in_progress"), waiting
    assert _admin(stack, "stats")["complaints"] == 0

    _admin(stack, "lose-answers", {"count": 1})  # LAPOR! back: it keeps the first filing, and its answer is lost
    stack.sandboxes.clear_faults()
    filed = await _until_kicked(stack, tracking_no, lambda a: a["step"] == "follow", "the complaint filed")
    stats = _admin(stack, "stats")
    assert stats["filings"] == 2, stats  # the lost one, and the engine's retry
    assert stats["complaints"] == 1 and stats["by_reference"] == {tracking_no: [filed["details"]["lapor_tracking_id"]]}
    assert _deadlines(filed) == ("pending", "pending")
    found = await stack.hub.engine.store.get(tracking_no)
    assert found is not None  # filed: the sealed working state no longer holds the text, the name or the e-mail
    assert [found[0].state.get(key) for key in ("text", "full_name", "email")] == [None, None, None]

    lapor_id = filed["details"]["lapor_tracking_id"]
    _admin(stack, "advance", {"trackingid": lapor_id, "to": "verified", "instansi": "Disdukcapil Kota Sandbox"})
    verified = await _until_kicked(
        stack, tracking_no, lambda a: _said(a, "diverifikasi SP4N-LAPOR! pada"), "the verification noted"
    )
    assert _deadlines(verified) == ("met", "pending"), verified["details"]
    assert verified["details"]["lapor_agency"] == "Disdukcapil Kota Sandbox"

    _admin(stack, "advance", {"trackingid": lapor_id, "to": "followed_up"})
    await _until_kicked(stack, tracking_no, lambda a: _said(a, "ditindaklanjuti instansi pada"), "the follow-up noted")
    _admin(stack, "advance", {"trackingid": lapor_id, "to": "closed"})
    done = await _until_kicked(stack, tracking_no, lambda a: a["status"] == "done", "the complaint closed")
    assert _deadlines(done) == ("met", "met") and done["details"]["closed_at"]
    assert done["details"]["lapor_status"] == "closed"
    assert _admin(stack, "stats")["complaints"] == 1

    birth_date = parse_nik(NIK).birth_date.isoformat()
    lookup = {"tracking_no": tracking_no, "birth_date": birth_date}
    seen = await stack.http.post("/v1/applications/lookup", json=lookup, headers=stack.headers("kiosk"))
    assert seen.status_code == 200 and seen.json()["status"] == "done", seen.text

    logged = "".join(capsys.readouterr())
    assert "operation=complaint.file" in logged  # the hub's log lines are the ones captured
    for personal in (TEXT, TEXT[:30], NIK, FULL_NAME, EMAIL):
        assert personal not in logged, personal


async def _waiting(stack: Stack, tracking_no: str) -> dict[str, Any] | None:
    found = await _application(stack, tracking_no)
    return found if _said(found, "sedang terganggu") else None


async def test_an_anonymous_complaint_needs_no_name_and_a_bad_category_is_rejected(stack: Stack) -> None:
    anonymous = await _submit(stack, full_name=None, email=None, anonymous=True)
    filed = await _until_kicked(stack, anonymous, lambda a: a["step"] == "follow", "the anonymous complaint filed")
    assert filed["details"]["lapor_tracking_id"]
    refused = await _submit(stack, category="999999")
    closed = await _until_kicked(stack, refused, lambda a: a["status"] == "rejected", "the complaint refused")
    assert closed["history"][-1]["agency"] == "lapor"
    named = await stack.http.post(
        "/v1/applications",
        json={"service": "pengaduan", "applicant_nik": NIK, "channel": "desk",
              "params": {"title": "Tanpa nama", "text": TEXT, "category": "21"}},
        headers=stack.headers("desk"),
    )  # fmt: skip
    assert named.status_code == 400 and "full_name" in named.text, named.text
