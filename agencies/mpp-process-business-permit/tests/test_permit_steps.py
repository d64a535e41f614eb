"""The permit's steps and PDF on their own: what needs no agency (the expiry, the choice of NIB, the page)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from contracts import Application, ApplicationStatus, Channel, StatusStep, new_tracking_number
from hub import Finish, ProcessContext, Wait
from mpp_plugin_oss.contract import Business
from pydantic import BaseModel

from mpp_process_business_permit import process
from mpp_process_business_permit._pdf import PermitFacts, render

NOW = dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC)
APPLICANT = "3328010107960001"


async def _no_agency(operation: str, payload: Mapping[str, Any]) -> BaseModel:
    raise AssertionError(f"the step called {operation}, which it should not need")


def _context(state: dict[str, Any], now: dt.datetime = NOW) -> ProcessContext:
    submitted = StatusStep(at=NOW, status=ApplicationStatus.SUBMITTED, step="submitted", message="Diterima.")
    application = Application(
        tracking_no=new_tracking_number(), service=process.SERVICE, title="Izin usaha", applicant_nik=APPLICANT,
        channel=Channel.DESK, agencies=["dukcapil", "oss", "bsre"], status=ApplicationStatus.IN_PROGRESS,
        step="await_signature", history=[submitted], created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    return ProcessContext(
        application=application, state=state, call=_no_agency, now=now, applicant_nik="3328010107960001"
    )


def _business(nib: str) -> Business:
    return Business.model_validate(
        {
            "nib": nib, "business_name": "WARUNG CONTOH", "actor_type": "individual",
            "legal_form": {"code": "17", "description": "Perorangan"}, "activities": [{"kbli": "56102"}],
            "issued_on": "2024-01-15", "status": "active", "address": {"street": "JL. CONTOH NO. 9"},
        }
    )  # fmt: skip


async def test_an_unsigned_application_waits_until_its_deadline_then_expires() -> None:
    deadline = NOW + dt.timedelta(hours=2)
    waiting = await process.await_signature(_context({"sign_before": deadline.isoformat()}))
    assert isinstance(waiting, Wait)
    assert waiting.seconds == 2 * 3600 + 1  # looked at again just after the deadline, not before

    late = await process.await_signature(_context({"sign_before": deadline.isoformat()}, now=deadline))
    assert isinstance(late, Finish) and late.status is ApplicationStatus.EXPIRED


def test_the_nib_is_the_one_named_or_the_only_one() -> None:
    one, two = _business("9990000000011"), _business("9990000000029")
    assert process._chosen([one], None) is one
    assert process._chosen([one, two], "9990000000029") is two
    several = process._chosen([one, two], None)
    assert isinstance(several, Finish) and "2 NIB" in several.message
    not_theirs = process._chosen([one], "9990000000037")
    assert isinstance(not_theirs, Finish) and not_theirs.status is ApplicationStatus.REJECTED


def test_the_permit_names_what_it_must_and_writes_any_name() -> None:
    facts = PermitFacts(
        tracking_no="K7Q3-9XH2-9", business_name="KEDAI KOPI ŠTĚPÁN", nib="9990000000011", kbli="56102",
        activity="Warung makan", owner_name="Đỗ Thị Ánh", issued_on=dt.date(2026, 12, 2),
    )  # fmt: skip
    pdf = render(facts)
    assert pdf.startswith(b"%PDF-")
    for shown in ("KEDAI KOPI STEPÁN", "?o Thi Ánh", "9990000000011", "56102 - Warung makan", "2 Desember 2026"):
        assert shown.encode("latin-1") in pdf  # Á is Latin-1's own; Š, Ě, ỗ, ị lose their accents; Đ has no base
    assert b"K7Q3-9XH2-9" in pdf
    assert render(facts) == pdf  # the same facts, the same page
