"""Officer actions and documents (hub._actions, hub._documents, hub._routes_documents), end to end: a process
whose step waits for an officer, who completes it with a secret; the document kept once; the citizen's download.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from contracts import Application, ApplicationStatus, ErrorCode, HubError, IdentityCheckResult, parse_nik
from hub import Finish, Outcome, Process, ProcessContext, Wait, hookimpl, load_plugins
from hub._actions import OfficerAction
from hub._applications import StoredApplication
from hub._audit import AuditLog, AuditRecord
from hub._bus_access import BusAccess
from hub._documents import Document
from hub._roles import Role
from hub.testing._bus import TestBus
from tests._stack import Grant, Stack
from tests._until import until
from tests.conftest import TEST_AUDIT_KEY, connect

SERVICE = "document-test"
#: The right the test's action asks of the officer (any right a desk lacks would do).
RIGHT = "identity.verify"


class IssueBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: SecretStr


@dataclass
class Officer:
    """What the test's action saw: each application it made a document for; it may be held at ``hold``."""

    pin: str = field(default_factory=lambda: "pin-" + secrets.token_hex(8))
    made: list[str] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None


OFFICER = Officer()


WAITING = "Menunggu petugas menerbitkan dokumen."


async def wait_for_officer(ctx: ProcessContext) -> Outcome:
    return Wait(3600, WAITING)


async def issue(ctx: ProcessContext, body: IssueBody) -> Document:
    check = await ctx.call("identity.verify", {"nik": ctx.applicant_nik, "full_name": "X", "threshold": 90})
    assert isinstance(check, IdentityCheckResult)
    OFFICER.made.append(ctx.application.tracking_no)
    OFFICER.entered.set()
    if OFFICER.hold is not None:
        await OFFICER.hold.wait()
    if not secrets.compare_digest(body.pin.get_secret_value(), OFFICER.pin):
        raise HubError.of(ErrorCode.UNAUTHORIZED, "The PIN is wrong")
    content = f"Dokumen {ctx.application.tracking_no} ({ctx.state['label']})".encode()
    return Document(filename=f"dokumen-{ctx.application.tracking_no}.txt", media_type="text/plain", content=content)


def issued(application: Application, document: Document) -> Outcome:
    return Finish(ApplicationStatus.DONE, "Dokumen terbit.", details={"document": document.filename})


class Params(BaseModel):
    label: str


class _Plugin:
    @hookimpl
    def mpp_hub_process(self) -> Process:
        action = OfficerAction(step="wait_officer", right=RIGHT, body=IssueBody, make=issue, then=issued)
        return Process(
            service=SERVICE, title="Dokumen uji", params=Params, agencies=("dukcapil",),
            purpose="layanan-kependudukan", first_step="wait_officer", steps={"wait_officer": wait_for_officer},
            actions={"issue": action},
        )  # fmt: skip


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    global OFFICER
    OFFICER = Officer()
    server = TestBus(tmp_path / "nats")
    bus: BusAccess = await server.astart()
    plugins = load_plugins(only={"dukcapil"}, extra=[("document_test", _Plugin())])
    consumers = {
        "desk": Grant(["application.*"]), "officer": Grant([RIGHT]), "kiosk": Grant(["application.lookup"]),
    }  # fmt: skip
    try:
        async with Stack(bus, agencies=("dukcapil",), plugins=plugins, consumers=consumers) as opened:
            yield opened
    finally:
        await server.astop()


def _applicant(stack: Stack) -> str:
    return str(stack.hub.plugins.sandboxes["dukcapil"].samples()["nik"][0])


async def _submit(stack: Stack, nik: str) -> str:
    body = {"service": SERVICE, "applicant_nik": nik, "channel": "desk", "params": {"label": "uji"}}
    answer = await stack.http.post("/v1/applications", json=body, headers=stack.headers("desk"))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["tracking_no"])


async def _waiting(stack: Stack, tracking_no: str) -> tuple[StoredApplication, int] | None:
    """The application once the engine recorded its wait (after which nothing changes it but the test)."""
    found = await stack.hub.engine.store.get(tracking_no)
    return found if found and found[0].application.history[-1].message == WAITING else None


async def _act(stack: Stack, tracking_no: str, pin: str, consumer: str = "officer") -> httpx.Response:
    path = f"/v1/applications/{tracking_no}/actions/issue"
    return await stack.http.post(path, json={"pin": pin}, headers=stack.headers(consumer), timeout=30)


async def _who_read(stack: Stack, nik: str) -> list[AuditRecord]:
    nc = await connect(stack.bus, Role.CLI)
    try:
        return await AuditLog(nc.jetstream(), TEST_AUDIT_KEY).who_read(nik)
    finally:
        await nc.close()


async def _download(stack: Stack, tracking_no: str, birth_date: str) -> httpx.Response:
    body = {"tracking_no": tracking_no, "birth_date": birth_date}
    return await stack.http.post("/v1/applications/document", json=body, headers=stack.headers("kiosk"))


async def test_the_officer_makes_one_document_and_the_citizen_downloads_it(stack: Stack) -> None:
    nik = _applicant(stack)
    tracking_no = await _submit(stack, nik)
    born = parse_nik(nik).birth_date

    wrong = await _act(stack, tracking_no, "not-the-pin")
    assert wrong.status_code == 401, wrong.text
    assert "not-the-pin" not in wrong.text
    done = await _act(stack, tracking_no, OFFICER.pin)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    assert "applicant_nik" not in done.json()

    again = await _act(stack, tracking_no, OFFICER.pin)
    assert again.status_code == 409, again.text
    assert OFFICER.made == [tracking_no, tracking_no]  # the wrong PIN's attempt, and the one kept

    document = await _download(stack, tracking_no, born.isoformat())
    assert document.status_code == 200, document.text
    assert document.content == f"Dokumen {tracking_no} (uji)".encode()
    assert document.headers["content-type"].startswith("text/plain")
    assert f'filename="dokumen-{tracking_no}.txt"' in document.headers["content-disposition"]
    other_day = born.replace(day=1 if born.day != 1 else 2)
    refused = await _download(stack, tracking_no, other_day.isoformat())
    assert refused.status_code == 404, refused.text

    audited = {(r.operation, r.consumer, r.outcome) for r in await _who_read(stack, nik)}
    officer, kiosk = stack.name("officer"), stack.name("kiosk")
    assert {
        ("application.action", officer, "unauthorized"), ("application.action", officer, "ok"),
        ("application.action", officer, "conflict"), ("application.document", kiosk, "ok"),
    } <= audited  # fmt: skip


async def test_an_officer_without_the_right_is_refused_and_nothing_is_made(stack: Stack) -> None:
    tracking_no = await _submit(stack, _applicant(stack))
    answer = await _act(stack, tracking_no, OFFICER.pin, consumer="desk")
    assert answer.status_code == 403, answer.text
    assert OFFICER.made == []
    unknown = await stack.http.post(
        f"/v1/applications/{tracking_no}/actions/approve", json={}, headers=stack.headers("officer")
    )
    assert unknown.status_code == 404, unknown.text


async def test_a_second_submission_while_one_runs_is_refused_and_the_secret_is_kept_nowhere(stack: Stack) -> None:
    tracking_no = await _submit(stack, _applicant(stack))
    OFFICER.hold = asyncio.Event()
    first = asyncio.create_task(_act(stack, tracking_no, OFFICER.pin))
    await asyncio.wait_for(OFFICER.entered.wait(), 30)

    second = await _act(stack, tracking_no, OFFICER.pin)
    assert second.status_code == 409, second.text
    found = await stack.hub.engine.store.get(tracking_no)
    assert found is not None
    assert OFFICER.pin not in json.dumps(found[0].state)  # unsealed: the claim, the params, nothing more

    OFFICER.hold.set()
    answer = await first
    assert answer.status_code == 200, answer.text
    assert OFFICER.made == [tracking_no]


async def test_a_document_kept_before_the_outcome_was_recorded_is_recorded_without_making_another(
    stack: Stack,
) -> None:
    """As a hub killed between keeping the document and recording the outcome leaves it: the next submission
    records what is kept and runs nothing."""
    tracking_no = await _submit(stack, _applicant(stack))
    kept = Document(filename="dokumen.txt", media_type="text/plain", content=b"made before the crash")
    documents = stack.hub.engine.documents
    assert await documents.keep(tracking_no, kept)
    assert not await documents.keep(tracking_no, kept.model_copy(update={"content": b"another"}))

    answer = await _act(stack, tracking_no, OFFICER.pin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["details"] == {"document": "dokumen.txt"}
    assert OFFICER.made == []
    assert await documents.get(tracking_no) == kept


async def test_a_document_is_sealed_at_rest(stack: Stack) -> None:
    tracking_no = await _submit(stack, _applicant(stack))
    secret = b"a name only the permit may show"
    await stack.hub.engine.documents.keep(
        tracking_no, Document(filename="d.txt", media_type="text/plain", content=secret)
    )

    async def raw() -> bytes | None:
        kv = stack.hub.engine.store.beside("application document seal").kv
        entry = await kv.get("doc." + tracking_no.replace("-", ""))
        return entry.value

    value = await until(raw, "the kept document")
    assert secret not in value and b"d.txt" not in value
    with pytest.raises(ValueError, match="the application store's own key"):
        stack.hub.engine.store.beside("application seal")  # no other record may be sealed with the store's key


async def test_a_document_of_an_application_closed_otherwise_is_not_served(stack: Stack) -> None:
    """Kept while the application expired (the engine's step and the officer's submission raced): void."""
    nik = _applicant(stack)
    tracking_no = await _submit(stack, nik)
    engine = stack.hub.engine
    await engine.documents.keep(tracking_no, Document(filename="d.txt", media_type="text/plain", content=b"late"))
    found = await until(lambda: _waiting(stack, tracking_no), "the engine to record its wait")
    await engine.record_outcome(found[0], found[1], Finish(ApplicationStatus.EXPIRED, "Kedaluwarsa."))

    answer = await _download(stack, tracking_no, parse_nik(nik).birth_date.isoformat())
    assert answer.status_code == 404, answer.text
    refused = await _act(stack, tracking_no, OFFICER.pin)
    assert refused.status_code == 409, refused.text
