"""The citizen page: ``/warga`` (the page, public) and its JSON API under ``/warga/api`` (no key).

Citizens have no API key, so the API is limited per client address instead (``rate_limited`` with Retry-After
over the limit), and every read of one object needs that object's own secret: an application its tracking
number **and** the applicant's birth date (a wrong date answers exactly as an unknown number, and the answer
is the citizen's own lookup's, no wider), a ticket its id (a ticket holds no personal data; the page leaves out
the application it led to). Every error is a contract error whose message is in Indonesian, for the citizen.

Features built beside this one each have a section of ``hub/front/warga.html``, shown when its key in
:data:`FEATURES` is true: ``booking`` (a time slot, with its code and QR code: ``hub._bookings``) and ``survey``
(the SKM survey of a served ticket, with the ticket's code, or of an answered application, with the birth date:
``hub._survey``) and ``complaint`` (a complaint through the process ``[front] complaint_service`` names,
SP4N-LAPOR!'s ``pengaduan`` by default; shown only where the hub runs it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts import (
    NIK,
    ApplicationLookup,
    ApplicationRequest,
    BookingRequest,
    Channel,
    ErrorCode,
    HubError,
    SkmElement,
    SurveyRequest,
    Ticket,
    TicketStatus,
)
from hub._applications import StoredApplication
from hub._door import request_caller
from hub._routes_applications import public_view
from hub._routes_board import desk_label
from hub._routes_common import EdgeContext
from hub._routes_documents import document_response, valid_document
from hub._routes_survey import survey_record_of
from hub.front._hall import Hall
from hub.front._web import AddressLimit, page

__all__ = ["FEATURES", "citizen_page_router"]

#: The citizen page's features being built elsewhere, and whether this hub serves each yet (the page shows a
#: feature's section only when it does): booking a time slot, the SKM survey, a complaint.
FEATURES: Mapping[str, bool] = {"booking": True, "survey": True, "complaint": True}
_BASE = "/warga"
_SKM = json.dumps([{"element": element.value, "label": element.label} for element in SkmElement])
_NO_TICKET = "Tiket antrean ini tidak ada; periksa nomornya"
_DOWNLOAD = "application.document"
_FIELDS = {
    "service": "layanan", "tracking_no": "nomor pelacakan", "birth_date": "tanggal lahir", "day": "tanggal",
    "slot": "jam", "answers": "jawaban survei", "ticket_id": "tiket", "code": "kode tiket", "nik": "NIK",
    "params": "pengaduan",
}  # fmt: skip
_STREAM_SECONDS = 5.0
_RECONNECT_MS = 500
TicketId = Annotated[str, Path(pattern=r"^\d{8}-[A-Z]{1,2}\d{3,}$")]
_Body = TypeVar("_Body", bound=BaseModel)


class _TakeTicket(BaseModel):
    service: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")


class _Limits:
    """Per client address, per minute: reads (a ticket's place, its stream, the services), tickets taken, and
    application lookups and downloads (the ones a guesser would try birth dates with)."""

    def __init__(self, reads: int = 300, takes: int = 10, lookups: int = 10) -> None:
        self.reads = AddressLimit(reads)
        self.takes = AddressLimit(takes)
        self.lookups = AddressLimit(lookups)


def citizen_page_router(context: EdgeContext, hall: Hall, limits: _Limits | None = None) -> APIRouter:
    router = APIRouter(prefix=_BASE, tags=["front"], include_in_schema=False)
    chosen = limits or _Limits()

    @router.get("")
    async def citizen_page(request: Request) -> Response:
        """The page: take a ticket and follow it, follow an application, download its document."""
        root = request.scope.get("root_path", "")
        features = {**FEATURES, "complaint": FEATURES["complaint"] and _complaints(context) is not None}
        values = {"base": f"{root}{_BASE}", "features": json.dumps(features), "skm": _SKM}
        return page("warga.html", values)

    _add_queue(router, context, hall, chosen)
    _add_applications(router, context, chosen)
    _add_booking(router, context, chosen)
    _add_survey(router, context, chosen)
    _add_complaint(router, context, chosen)
    return router


def _add_queue(router: APIRouter, context: EdgeContext, hall: Hall, limits: _Limits) -> None:
    queue = context.edge.queue

    @router.get("/api/hall")
    async def hall_now(request: Request) -> Response:
        """The mall's queues, each with how many wait now, and the emergency notice if one is up."""
        limits.reads.admit(request)
        await hall.start()
        waiting = [t.service for t in hall.tickets() if t.status is TicketStatus.WAITING]
        services = [{**_service(hall, code), "waiting": waiting.count(code)} for code in hall.services]
        return _json({"services": services, "notice": hall.notice.model_dump(mode="json") if hall.notice else None})

    @router.post("/api/tickets", status_code=201)
    async def take(request: Request) -> Response:
        """A ticket for a service, taken online (channel ``portal``)."""
        limits.takes.admit(request)
        body = await _body(request, _TakeTicket)
        if body.service not in queue.services:
            raise HubError.of(ErrorCode.NOT_FOUND, "Layanan ini tidak punya antrean di mal ini; pilih layanan lain")
        ticket = await queue.take(body.service, Channel.PORTAL)
        # The ticket's code proves it the citizen's own (the survey asks for it): given only now, never kept.
        taken = {**_place(hall, ticket, await queue.ahead(ticket)), "code": queue.code_of(ticket.id)}
        return _json(taken, status=201)

    @router.get("/api/tickets/{ticket_id}")
    async def read(request: Request, ticket_id: TicketId) -> Response:
        """A ticket by its id: where it stands and how many wait ahead of it."""
        limits.reads.admit(request)
        ticket = await _ticket(context, ticket_id)
        return _json(_place(hall, ticket, await queue.ahead(ticket)))

    @router.get("/api/tickets/{ticket_id}/stream")
    async def follow(request: Request, ticket_id: TicketId) -> Response:
        """Server-sent events: ``place`` at once and whenever the ticket or its queue changes."""
        limits.reads.admit(request)
        ticket = await _ticket(context, ticket_id)
        await hall.start()
        return EventSourceResponse(_places(hall, ticket), headers={"Cache-Control": "no-store"})


def _add_applications(router: APIRouter, context: EdgeContext, limits: _Limits) -> None:
    @router.post("/api/applications/lookup")
    async def lookup(request: Request) -> Response:
        """An application by its tracking number and the applicant's birth date, with its history."""
        limits.lookups.admit(request)
        found = await _application(context, await _body(request, ApplicationLookup))
        return _json(public_view(found.application).model_dump(mode="json"))

    @router.post("/api/applications/document")
    async def document(request: Request) -> Response:
        """The application's document, by its tracking number and the applicant's birth date."""
        limits.lookups.admit(request)
        body = await _body(request, ApplicationLookup)
        found = await _application(context, body)
        kept = await valid_document(context, found)
        if kept is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"Permohonan {body.tracking_no} belum punya dokumen")
        # The document names its holder: its release is audited under the applicant, as the API's download is.
        who = replace(request_caller(request), channel=Channel.PORTAL.value)
        hashed = (found.keys.subject, found.application.applicant_nik)
        await context.edge.gate.record(_DOWNLOAD, True, who, None, "ok", hashed_subject=hashed)
        return document_response(kept)


class _SlotQuery(BaseModel):
    service: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    day: dt.date


class _Book(BaseModel):
    service: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    day: dt.date
    slot: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def _add_booking(router: APIRouter, context: EdgeContext, limits: _Limits) -> None:
    """A time slot booked ahead: the day's slots, and a booking with its code and QR code (given only then)."""
    bookings = context.edge.front.bookings

    @router.get("/api/slots")
    async def slots(request: Request) -> Response:
        """A service's slots on a day and the places each has left."""
        limits.reads.admit(request)
        query = _valid(_SlotQuery, dict(request.query_params))
        return _json((await bookings.slots(query.service, query.day)).model_dump(mode="json"))

    @router.post("/api/bookings", status_code=201)
    async def book(request: Request) -> Response:
        """Book a slot online (channel ``portal``)."""
        limits.takes.admit(request)
        body = await _body(request, _Book)
        wanted = BookingRequest(service=body.service, day=body.day, slot=body.slot, channel=Channel.PORTAL)
        return _json((await bookings.book(wanted)).model_dump(mode="json"), status=201)


def _add_survey(router: APIRouter, context: EdgeContext, limits: _Limits) -> None:
    """The SKM survey of a served visit: a ticket that is done (with its code), or an application the mall has
    answered (with the birth date, checked as the lookup checks it and not kept)."""

    @router.post("/api/survey", status_code=201)
    async def survey(request: Request) -> Response:
        """Rate a served visit once."""
        limits.lookups.admit(request)
        body = await _body(request, SurveyRequest)
        record = await context.edge.front.surveys.submit(await survey_record_of(context, body))
        return _json({"id": record.id, "day": record.day.isoformat()}, status=201)


class _Complaint(BaseModel):
    """A complaint as the page files it: the reporter's NIK (the application's applicant, as at a desk) and what
    the complaint process takes (its own model checks them)."""

    model_config = ConfigDict(extra="forbid")

    nik: NIK
    params: dict[str, Any] = Field(max_length=12)


def _complaints(context: EdgeContext) -> str | None:
    """The process complaints are filed with, if this hub runs it."""
    service = context.edge.front.settings.complaint_service
    return service if service is not None and service in context.hub.plugins.processes else None


def _add_complaint(router: APIRouter, context: EdgeContext, limits: _Limits) -> None:
    """A complaint (pengaduan) through the mall's complaint process (SP4N-LAPOR!): an application like one filed
    at a desk, which the citizen follows by its tracking number and birth date. Sent anonymously unless the
    citizen gives a name; the application's audit record names the NIK it was filed under."""

    @router.post("/api/complaints", status_code=201)
    async def complain(request: Request) -> Response:
        limits.lookups.admit(request)
        body = await _body(request, _Complaint)
        service = _complaints(context)
        if service is None:
            raise HubError.of(ErrorCode.NOT_FOUND, "Mal ini belum menerima pengaduan secara daring")
        params = {"anonymous": not body.params.get("full_name"), "confidential": True, **body.params}
        wanted = ApplicationRequest(service=service, applicant_nik=body.nik, channel=Channel.PORTAL, params=params)
        application = await context.engine().submit(wanted)
        who = replace(request_caller(request), channel=Channel.PORTAL.value)
        await context.edge.gate.record("application.submit", True, who, None, "ok", body.nik)
        return _json({"tracking_no": application.tracking_no, "status": application.status.value}, status=201)


async def _application(context: EdgeContext, body: ApplicationLookup) -> StoredApplication:
    """The application the number and birth date name, checked as the citizen's own lookup checks it."""
    if not context.hub.plugins.processes:
        raise HubError.of(ErrorCode.NOT_FOUND, "Mal ini belum melayani permohonan secara daring")
    return await context.edge.lookups.find(context.edge.engine.store, body.tracking_no, body.birth_date)


async def _ticket(context: EdgeContext, ticket_id: str) -> Ticket:
    try:
        return await context.edge.queue.get(ticket_id)
    except HubError as exc:
        if exc.code is ErrorCode.NOT_FOUND:
            raise HubError.of(ErrorCode.NOT_FOUND, _NO_TICKET) from None
        raise


async def _places(hall: Hall, ticket: Ticket) -> AsyncIterator[ServerSentEvent]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STREAM_SECONDS
    seen = hall.version
    current = hall.ticket(ticket.id) or ticket
    place = json.dumps(_place(hall, current, hall.ahead(current)))
    yield ServerSentEvent(data=place, event="place", retry=_RECONNECT_MS)
    while (now := loop.time()) < deadline:
        await hall.wait(seen, deadline - now)
        if hall.version > seen:
            seen = hall.version
            current = hall.ticket(ticket.id) or current
            yield ServerSentEvent(data=json.dumps(_place(hall, current, hall.ahead(current))), event="place")


def _service(hall: Hall, code: str) -> dict[str, str]:
    service = hall.services.get(code)
    return {"code": code, "name": service.name if service else code, "prefix": service.prefix if service else ""}


def _place(hall: Hall, ticket: Ticket, ahead: int) -> dict[str, Any]:
    """A ticket as its citizen sees it: no channel, no application it led to."""
    return {
        "id": ticket.id, "number": ticket.number, "service": _service(hall, ticket.service),
        "status": ticket.status.value, "desk": ticket.desk,
        "desk_label": desk_label(ticket.desk) if ticket.desk else None, "taken_at": ticket.taken_at.isoformat(),
        "called_at": ticket.called_at.isoformat() if ticket.called_at else None, "ahead": ahead,
    }  # fmt: skip


async def _body(request: Request, model: type[_Body]) -> _Body:
    """The JSON body as ``model``; a refusal names the field in Indonesian and never echoes a value."""
    try:
        raw = await request.json()
    except ValueError:
        raise HubError.of(ErrorCode.INVALID_INPUT, "Permintaan ini bukan JSON yang sah") from None
    return _valid(model, raw)


def _valid(model: type[_Body], raw: Any) -> _Body:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        names = sorted({_FIELDS.get(str(e["loc"][0]), str(e["loc"][0])) for e in exc.errors() if e["loc"]})
        raise HubError.of(ErrorCode.INVALID_INPUT, f"Periksa isian: {', '.join(names) or 'formulir'}") from None


def _json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
