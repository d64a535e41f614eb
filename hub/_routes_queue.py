"""The queue over HTTP: kiosks and desks take tickets, desks call and move them on (``hub._queue`` keeps them).

Rights: `queue.take` takes a ticket, `queue.read` reads one and its place; a desk's own right
`queue.desk.<desk>` calls and moves tickets at that desk, and only from the desk's own services.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from contracts import ErrorCode, HubError, Ticket, TicketLink, TicketMove, TicketPlace, TicketRequest
from hub._door import Privilege, request_caller
from hub._queue import desk_right
from hub._routes_common import ERRORS, AuthHeader, EdgeContext

__all__ = ["queue_router"]

_TAKE = Privilege("queue.take", "take queue tickets")
_READ = Privilege("queue.read", "read queue tickets")
TicketId = Annotated[str, Path(pattern=r"^\d{8}-[A-Z]{1,2}\d{3,}$", description="Like 20261202-C007.")]
DeskCode = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Like loket5.")]


class DeskMove(StrEnum):
    """What a desk does to a ticket it called."""

    START = TicketMove.START.value
    FINISH = TicketMove.FINISH.value
    NO_SHOW = TicketMove.NO_SHOW.value


def queue_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(prefix="/v1/queue", tags=["queue"], responses=ERRORS)
    door, desks = context.door, context.edge.front.desks

    def queue_of(desk: str) -> tuple[str, ...]:
        if desk not in desks:
            raise HubError.of(ErrorCode.NOT_FOUND, f"No desk {desk!r}; the mall's desks are {', '.join(sorted(desks))}")
        return desks[desk]

    async def at_desk(request: Request, desk: str) -> tuple[str, ...]:
        services = queue_of(desk)
        await door.admit_to(request, request_caller(request), Privilege(desk_right(desk), f"work desk {desk}"))
        return services

    @router.post("/tickets", response_model=TicketPlace, status_code=201)
    async def take(request: Request, body: TicketRequest, _a: AuthHeader = None) -> Response:
        """A new ticket at the back of a service's queue (right `queue.take`)."""
        await door.admit_to(request, request_caller(request), _TAKE)
        queue = context.edge.queue
        ticket = await queue.take(body.service, body.channel)
        return _place(ticket, await queue.ahead(ticket), status=201, code=queue.code_of(ticket.id))

    @router.get("/tickets/{ticket_id}", response_model=TicketPlace)
    async def read(request: Request, ticket_id: TicketId, _a: AuthHeader = None) -> Response:
        """A ticket, where it stands and how many wait ahead of it (right `queue.read`)."""
        await door.admit_to(request, request_caller(request), _READ)
        ticket = await context.edge.queue.get(ticket_id)
        return _place(ticket, await context.edge.queue.ahead(ticket))

    @router.post("/desks/{desk}/call", response_model=Ticket)
    async def call(request: Request, desk: DeskCode, _a: AuthHeader = None) -> Response:
        """Call the longest-waiting ticket of the desk's services to the desk (right `queue.desk.<desk>`);
        `not_found` when nobody waits."""
        services = await at_desk(request, desk)
        ticket = await context.edge.queue.call_next(desk, services)
        if ticket is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"Nobody waits for desk {desk}'s services ({', '.join(services)})")
        return JSONResponse(ticket.model_dump(mode="json"))

    @router.post("/desks/{desk}/tickets/{ticket_id}/link", response_model=Ticket)
    async def link(
        request: Request, desk: DeskCode, ticket_id: TicketId, body: TicketLink, _a: AuthHeader = None
    ) -> Response:
        """Record the application a ticket served at this desk led to (right `queue.desk.<desk>`)."""
        await at_desk(request, desk)
        ticket = await context.edge.queue.get(ticket_id)
        if ticket.desk != desk:
            raise HubError.of(ErrorCode.FORBIDDEN, f"Ticket {ticket.number} was not called to desk {desk}")
        linked = await context.edge.queue.link(ticket_id, body.tracking_no)
        return JSONResponse(linked.model_dump(mode="json"))

    @router.post("/desks/{desk}/tickets/{ticket_id}/{move}", response_model=Ticket)
    async def move(
        request: Request, desk: DeskCode, ticket_id: TicketId, move: DeskMove, _a: AuthHeader = None
    ) -> Response:
        """Move a ticket this desk called on: `start`, `finish` or `no_show` (right `queue.desk.<desk>`)."""
        await at_desk(request, desk)
        moved = await context.edge.queue.move(ticket_id, TicketMove(move.value), desk)
        return JSONResponse(moved.model_dump(mode="json"))

    return router


def _place(ticket: Ticket, ahead: int, status: int = 200, code: str | None = None) -> Response:
    place = TicketPlace(ticket=ticket, ahead=ahead, code=code)
    return JSONResponse(place.model_dump(mode="json", exclude_none=True), status_code=status)
