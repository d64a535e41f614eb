"""The business permit end to end: a hub with Dukcapil, OSS and BSrE against their sandboxes, its HTTP edge, a
desk filing, a signing official signing, the citizen downloading and anyone verifying the permit."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub._bus_access import BusAccess
from hub._roles import Role
from hub.testing._bus import TestBus
from nats.js.client import JetStreamContext
from permit_mall import AGENCIES, KBLI, NIB, Applicant, Official, independently_valid, official, permit_applicant
from tests._stack import Grant, Stack
from tests._until import until
from tests.conftest import connect

__all__ = ["permit_applicant"]  # the fixture, imported so that pytest finds it

SIGNING = "tanda-tangan-elektronik"
#: Every stream and bucket the hub writes: none may hold the passphrase, whatever happened.
STORED = ("MPP_AUDIT", "MPP_EVENTS", "MPP_DLQ", "MPP_TRAFFIC", "MPP_PROCESS", "KV_mpp_applications")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    server = TestBus(tmp_path / "nats")
    bus: BusAccess = await server.astart()
    consumers = {
        "desk": Grant(["application.*"]), "official": Grant(["document.sign"], names_officers=True),
        "kiosk": Grant(["application.lookup"]), "verifier": Grant(["document.verify"]),
    }  # fmt: skip
    try:
        async with Stack(bus, agencies=AGENCIES, processes=("business_permit",), consumers=consumers) as opened:
            yield opened
    finally:
        await server.astop()


async def _submit(stack: Stack, applicant: Applicant, **params: str) -> str:
    body = {
        "service": "business-permit", "applicant_nik": applicant.nik, "channel": "desk",
        "params": {"full_name": applicant.full_name, "kbli": KBLI, **params},
    }  # fmt: skip
    answer = await stack.http.post("/v1/applications", json=body, headers=stack.headers("desk"))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["tracking_no"])


async def _until_step(stack: Stack, tracking_no: str, step: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        answer = await stack.http.get(f"/v1/applications/{tracking_no}", headers=stack.headers("desk"))
        found: dict[str, Any] = answer.json()
        return found if found["step"] == step or found["status"] in ("done", "rejected", "expired") else None

    return await until(reached, f"{tracking_no} at {step}", 60)


async def _sign(stack: Stack, tracking_no: str, signer: Official, passphrase: str | None = None) -> httpx.Response:
    body = {"signer_nik": signer.nik, "passphrase": passphrase or signer.passphrase}
    headers = stack.headers("official", purpose=SIGNING, **{"X-Officer": "pejabat-1"})
    return await stack.http.post(f"/v1/applications/{tracking_no}/actions/sign", json=body, headers=headers, timeout=60)


async def _stored_bytes(stack: Stack) -> bytes:
    """Every message of every stream the hub keeps, raw, end to end."""
    nc = await connect(stack.bus, Role.ADMIN)
    try:
        js: JetStreamContext = nc.jetstream()
        kept = bytearray()
        for stream in STORED:
            state = (await js.stream_info(stream)).state
            for seq in range(state.first_seq, state.last_seq + 1):
                try:
                    message = await js.get_msg(stream, seq)
                except Exception:  # removed (a work queue's acknowledged message, a KV's older revision)
                    continue
                kept += message.data or b""
                kept += repr(message.headers).encode()
        return bytes(kept)
    finally:
        await nc.close()


async def test_a_permit_is_signed_once_downloaded_and_verified(
    stack: Stack, permit_applicant: Applicant, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = official()
    tracking_no = await _submit(stack, permit_applicant)
    waiting = await _until_step(stack, tracking_no, "await_signature")
    assert waiting["status"] == "in_progress", waiting["history"]

    wrong = await _sign(stack, tracking_no, signer, passphrase="not-the-passphrase")
    assert wrong.status_code in (400, 401, 403), wrong.text
    assert "not-the-passphrase" not in wrong.text
    signed = await _sign(stack, tracking_no, signer)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "done"
    again = await _sign(stack, tracking_no, signer)
    assert again.status_code == 409, again.text  # closed: nothing signs twice

    download = {"tracking_no": tracking_no, "birth_date": permit_applicant.birth_date}
    answer = await stack.http.post("/v1/applications/document", json=download, headers=stack.headers("kiosk"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    pdf = answer.content
    for shown in (f"WARUNG {permit_applicant.full_name} SANDBOX", NIB, KBLI, permit_applicant.full_name, tracking_no):
        assert shown.encode() in pdf
    assert permit_applicant.nik.encode() not in pdf

    verdict = await stack.http.post(
        "/v1/document.verify", json={"document": base64.b64encode(pdf).decode()},
        headers=stack.headers("verifier", purpose=SIGNING),
    )  # fmt: skip
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["signed"] and verdict.json()["intact"] and verdict.json()["trusted"], verdict.text
    assert verdict.json()["signature_count"] == 1
    assert await independently_valid(pdf) == [signer.name]

    stored = await _stored_bytes(stack)
    logged = "".join(capsys.readouterr())
    assert "operation=document.sign" in logged  # the hub's log lines are the ones captured
    for passphrase in (signer.passphrase, "not-the-passphrase"):
        assert passphrase.encode() not in stored
        assert passphrase not in logged


async def test_an_applicant_without_the_activity_is_rejected_before_anyone_signs(
    stack: Stack, permit_applicant: Applicant
) -> None:
    tracking_no = await _submit(stack, permit_applicant, kbli="10710")
    closed = await _until_step(stack, tracking_no, "never")
    assert closed["status"] == "rejected", closed["history"]
    assert closed["history"][-1]["agency"] == "oss"
    refused = await _sign(stack, tracking_no, official())
    assert refused.status_code == 409, refused.text


async def test_only_a_signing_official_may_sign(stack: Stack, permit_applicant: Applicant) -> None:
    tracking_no = await _submit(stack, permit_applicant)
    await _until_step(stack, tracking_no, "await_signature")
    body = {"signer_nik": official().nik, "passphrase": official().passphrase}
    desk = await stack.http.post(
        f"/v1/applications/{tracking_no}/actions/sign", json=body, headers=stack.headers("desk")
    )
    assert desk.status_code == 403, desk.text
    found = await stack.hub.engine.store.get(tracking_no)
    assert found is not None and found[0].application.step == "await_signature"
    assert await stack.hub.engine.documents.get(tracking_no) is None
