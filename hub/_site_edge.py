"""A site's HTTP edge: the portal API's intake and lookups, served on the site to the van's or kiosk's apps.

The same paths and contract models as the hub's edge, for what a site does:

- ``POST /v1/applications``: kept on the site (sealed to the hub) under a tracking number with the site's prefix,
  answered ``pending_sync`` with a message the citizen can read, whether or not the link is up; the hub starts it
  once it has it;
- ``GET /v1/applications/{tracking_no}``: one the site took, while it waits for the hub (``pending_sync``); once
  the hub has it, ``not_found`` with where to follow it (the site keeps nothing more of it);
- ``POST /v1/queue/tickets``, the desks' ``call`` and moves, and ``POST /v1/survey``: the site's own queue (its
  tickets' prefixes begin with its letter; a desk needs ``queue.desk.<desk>``) and the satisfaction survey, kept
  and synced the same way (every change of a ticket: the hub keeps the newest);
- ``POST /v1/<operation>``: a lookup, passed to the hub's workers over the leaf link with a caller assertion the
  site signs; with the link down, an immediate ``agency_unavailable`` naming the site (``site``), never a hang;
- ``GET /v1/site``: the site, whether it is online, what waits, today's schedule entry.

Every request needs a consumer's API key (the consumers the site serves, checked here, offline too), and every
intake and every lookup is audited on the site, into the same stream, folded into the hub's log on sync.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from contracts import (
    OPERATIONS,
    Application,
    ApplicationRequest,
    ApplicationStatus,
    ErrorCode,
    HubError,
    QueueService,
    SiteInfo,
    StatusStep,
    SurveyRequest,
    Ticket,
    TicketMove,
    TicketPlace,
    TicketRequest,
    TrackingNumber,
    new_tracking_number,
)
from hub._access import data_subject
from hub._assertions import Statement
from hub._client import HubClient
from hub._consumers import Consumer
from hub._http import guard
from hub._process import Process, checked_application
from hub._queue import TicketQueue, desk_right
from hub._routes_queue import DeskCode, DeskMove, TicketId
from hub._site import SITE_LOCAL_BUCKET, Site
from hub._site_intake import IntakeKind
from hub._streams import kv_value
from hub._survey import survey_record_for_ticket
from hub._time import utcnow

__all__ = ["PENDING_MESSAGE", "RECEIVED_MESSAGE", "create_site_app"]

PENDING_MESSAGE = (
    "Permohonan Anda tersimpan di {site} dan akan diproses setelah tersambung ke pusat. Simpan nomor {tracking_no}."
)
RECEIVED_MESSAGE = (
    "Permohonan {tracking_no} sudah diterima pusat; {site} tidak menyimpannya lagi. Ikuti di halaman warga MPP "
    "(nomor dan tanggal lahir) atau di loket."
)
_CALL_TIMEOUT = 10.0
Auth = Annotated[str | None, Header(alias="Authorization")]
Purpose = Annotated[str | None, Header(alias="X-Purpose")]


def _offline(site: Site, what: str) -> HubError:
    return HubError.of(
        ErrorCode.AGENCY_UNAVAILABLE,
        f"{what} needs an answer from the hub, and site {site.name} cannot reach the hub now; try again once it is "
        "back online (GET /v1/site says online). Applications, tickets and surveys are still taken here.",
        site=site.name,
    )


class _SiteEdge:
    def __init__(self, site: Site, services: tuple[QueueService, ...], processes: Mapping[str, Process]) -> None:
        self.site = site
        self.processes = dict(processes)
        prefixed = [s.model_copy(update={"prefix": site.bundle.ticket_letter + s.prefix[-1]}) for s in services]
        self.services = {s.code: s for s in prefixed}
        self.queue: TicketQueue | None = None
        self.client: HubClient | None = None

    async def start(self) -> None:
        js = self.site.nc.jetstream()
        self.queue = TicketQueue(await js.key_value("mpp_front"), self.services.values())
        self.local = await js.key_value(SITE_LOCAL_BUCKET)
        self.client = HubClient(self.site.nc, timeout=_CALL_TIMEOUT, issuer=self.site.issuer)

    async def admit(self, authorization: str | None, right: str) -> Consumer:
        key = authorization.removeprefix("Bearer ").strip() if authorization else None
        consumer = await self.site.consumers.authenticate(key)
        if not consumer.may_call(right):
            raise HubError.of(ErrorCode.FORBIDDEN, f"{consumer.name} has no right {right}: ask the hub's operator")
        return consumer

    async def audit(self, consumer: Consumer, operation: str, outcome: str, cid: str, **fields: Any) -> None:
        record = {"consumer": consumer.name, "operation": operation, "outcome": outcome, "correlation_id": cid}
        await self.site.take(IntakeKind.AUDIT, record | fields, consumer=consumer.name)

    async def submit(self, consumer: Consumer, body: ApplicationRequest) -> Application:
        # Checked here as the hub will check it: what the site accepts, the hub starts.
        process, _ = checked_application(self.processes, body)
        tracking_no = new_tracking_number(self.site.bundle.prefix)
        now, cid = utcnow(), uuid.uuid4().hex
        message = PENDING_MESSAGE.format(site=self.site.name, tracking_no=tracking_no)
        application = Application(
            tracking_no=tracking_no, service=process.service, title=process.title, applicant_nik=body.applicant_nik,
            channel=body.channel, agencies=list(process.agencies), status=ApplicationStatus.PENDING_SYNC,
            step="pending_sync",
            details={}, history=[StatusStep(at=now, status=ApplicationStatus.PENDING_SYNC, step="pending_sync",
                                            message=message)],
            created_at=now, updated_at=now,
        )  # fmt: skip
        payload = {"request": body.model_dump(mode="json"), "tracking_no": tracking_no}
        seq = await self.site.take(IntakeKind.APPLICATION, payload, consumer=consumer.name)
        await self.audit(consumer, "application.submit", "ok", cid, subject=body.applicant_nik, subject_kind="nik",
                         channel=body.channel.value)  # fmt: skip
        # The site keeps the application as the desk sees it (NIK masked) and its sequence, nothing else.
        await self.local.put(f"app.{tracking_no.replace('-', '')}", f"{seq}\n{application.model_dump_json()}".encode())
        return application

    async def application(self, tracking_no: str) -> Application:
        """An application the site took, while it waits for the hub; once the hub has it, the site keeps no more of
        it than that (its desk view, with the NIK masked, is deleted), and says where to follow it."""
        raw = await kv_value(self.local, f"app.{tracking_no.replace('-', '')}")
        if raw is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"Site {self.site.name} took no application {tracking_no}")
        text = raw.decode().partition("\n")[2]  # "<seq>\n<application>", or "<seq>\n" once the hub has it
        if not text:
            raise HubError.of(
                ErrorCode.NOT_FOUND, RECEIVED_MESSAGE.format(tracking_no=tracking_no, site=self.site.name)
            )
        return Application.model_validate_json(text)

    async def ticket(self, consumer: Consumer, body: TicketRequest) -> TicketPlace:
        assert self.queue is not None
        today = self.site.today
        if today is not None and body.service not in today.services:
            offered = ", ".join(today.services)
            raise HubError.of(ErrorCode.INVALID_INPUT, f"Hari ini {self.site.name} melayani: {offered}")
        ticket = await self.queue.take(body.service, body.channel)
        await self.site.take(IntakeKind.TICKET, ticket.model_dump(mode="json"), consumer=consumer.name)
        await self.audit(consumer, "queue.take", "ok", uuid.uuid4().hex, channel=body.channel.value)
        return TicketPlace(ticket=ticket, ahead=await self.queue.ahead(ticket), code=self.queue.code_of(ticket.id))

    async def call_next(self, consumer: Consumer, desk: str) -> Ticket:
        assert self.queue is not None
        services = self.site.today.services if self.site.today is not None else tuple(self.services)
        ticket = await self.queue.call_next(desk, services)
        if ticket is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"Nobody waits for desk {desk}'s services ({', '.join(services)})")
        return await self._changed(consumer, ticket)

    async def move(self, consumer: Consumer, desk: str, ticket_id: str, move: DeskMove) -> Ticket:
        assert self.queue is not None
        return await self._changed(consumer, await self.queue.move(ticket_id, TicketMove(move.value), desk))

    async def _changed(self, consumer: Consumer, ticket: Ticket) -> Ticket:
        """A ticket called or moved on: its new state goes to the hub too (in order: the newest is kept there)."""
        await self.site.take(IntakeKind.TICKET, ticket.model_dump(mode="json"), consumer=consumer.name)
        return ticket

    async def survey(self, consumer: Consumer, body: SurveyRequest) -> Any:
        assert self.queue is not None
        if body.ticket_id is None or body.code is None:
            raise HubError.of(ErrorCode.INVALID_INPUT, "At a site, a survey rates a ticket: give ticket_id and code")
        ticket = await self.queue.get(body.ticket_id)
        self.queue.check_code(ticket.id, body.code)
        record = survey_record_for_ticket(ticket, body.answers, self.services[ticket.service])
        await self.site.take(IntakeKind.SURVEY, record.model_dump(mode="json"), consumer=consumer.name)
        await self.audit(consumer, "survey.submit", "ok", uuid.uuid4().hex)
        return record

    async def call(self, consumer: Consumer, operation: str, body: bytes, purpose: str | None) -> bytes:
        assert self.client is not None
        op = OPERATIONS.get(operation)
        request = op.input.model_validate_json(body)
        about = data_subject(request)
        cid = uuid.uuid4().hex
        fields = {"purpose": purpose, "subject": about.value if about else None}
        if not self.site.online:
            await self.audit(consumer, operation, "site_offline", cid, **fields)
            raise _offline(self.site, operation)
        try:
            reply = await self.client.relay(
                operation, request, correlation_id=cid, consumer=consumer.name, statement=Statement(purpose=purpose)
            )
        except HubError as exc:
            offline = exc.code in (ErrorCode.AGENCY_UNAVAILABLE, ErrorCode.AGENCY_TIMEOUT) and not exc.error.agency
            await self.audit(consumer, operation, "site_offline" if offline else exc.code.value, cid, **fields)
            raise _offline(self.site, operation) if offline else exc from None
        await self.audit(consumer, operation, "ok", cid, **fields)
        return reply


def create_site_app(
    site: Site, services: tuple[QueueService, ...], processes: Mapping[str, Process]
) -> tuple[FastAPI, _SiteEdge]:
    """The site's edge app, and the edge (to start once the site has started). ``processes``: the services the
    hub runs, whose applications the site checks as the hub will (the same plugins installed)."""
    edge = _SiteEdge(site, services, processes)
    app = FastAPI(title=f"MPP Hub site {site.name}", docs_url=None, redoc_url=None)

    guard(app)

    @app.get("/v1/site", response_model=SiteInfo)
    async def info(authorization: Auth = None) -> SiteInfo:
        await edge.admit(authorization, "queue.read")  # what the site offers today, like the queue
        return SiteInfo(site=site.name, online=site.online, waiting=site.waiting, today=site.today)

    @app.post("/v1/applications", response_model=Application, status_code=202)
    async def submit(body: ApplicationRequest, authorization: Auth = None) -> Application:
        return await edge.submit(await edge.admit(authorization, "application.submit"), body)

    @app.get("/v1/applications/{tracking_no}", response_model=Application)
    async def application(tracking_no: TrackingNumber, authorization: Auth = None) -> Application:
        await edge.admit(authorization, "application.read")
        return await edge.application(tracking_no)

    @app.post("/v1/queue/tickets", response_model=TicketPlace, status_code=201)
    async def ticket(body: TicketRequest, authorization: Auth = None) -> TicketPlace:
        return await edge.ticket(await edge.admit(authorization, "queue.take"), body)

    @app.post("/v1/queue/desks/{desk}/call", response_model=Ticket)
    async def call_next(desk: DeskCode, authorization: Auth = None) -> Ticket:
        return await edge.call_next(await edge.admit(authorization, desk_right(desk)), desk)

    @app.post("/v1/queue/desks/{desk}/tickets/{ticket_id}/{move}", response_model=Ticket)
    async def move(desk: DeskCode, ticket_id: TicketId, move: DeskMove, authorization: Auth = None) -> Ticket:
        return await edge.move(await edge.admit(authorization, desk_right(desk)), desk, ticket_id, move)

    @app.post("/v1/survey", status_code=201)
    async def survey(body: SurveyRequest, authorization: Auth = None) -> Any:
        record = await edge.survey(await edge.admit(authorization, "survey.submit"), body)
        return JSONResponse(record.model_dump(mode="json"), status_code=201)

    @app.post("/v1/{operation}")
    async def call(operation: str, request: Request, authorization: Auth = None, purpose: Purpose = None) -> Response:
        if operation not in {op.name for op in OPERATIONS}:
            raise HubError.of(ErrorCode.NOT_FOUND, f"No operation {operation}: see the hub's /v1/services")
        consumer = await edge.admit(authorization, operation)
        try:
            reply = await edge.call(consumer, operation, await request.body(), purpose)
        except ValidationError as exc:
            raise HubError.from_validation(exc, f"{operation} request") from None
        return Response(reply, media_type="application/json")

    return app, edge
