"""Online bookings over HTTP: the slots of a day, a booking with its QR code, check-in at a kiosk, cancelling.

Rights: `queue.read` lists slots and reads a booking; `queue.book` books and cancels (portal, citizen page);
`queue.take` checks a booking in (kiosk, desk). Cancelling and checking in also need the booking's own code.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from contracts import Booking, BookingCode, BookingReceipt, BookingRequest, BookingSlots, TicketPlace
from hub._door import Privilege, request_caller
from hub._routes_common import ERRORS, AuthHeader, EdgeContext

__all__ = ["bookings_router"]

_READ = Privilege("queue.read", "read queue tickets and bookings")
_BOOK = Privilege("queue.book", "book queue time slots")
_TAKE = Privilege("queue.take", "take queue tickets")
BookingId = Annotated[str, Path(pattern=r"^\d{8}-[A-Z]{1,2}\d{4}-\d{1,3}$", description="Like 20261203-C0930-2.")]
ServiceCode = Annotated[str, Query(pattern=r"^[a-z][a-z0-9-]{0,31}$", description="Like samsat.")]


def bookings_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(prefix="/v1/queue", tags=["queue"], responses=ERRORS)
    door = context.door

    @router.get("/slots", response_model=BookingSlots)
    async def slots(request: Request, service: ServiceCode, day: dt.date, _a: AuthHeader = None) -> Response:
        """A service's time slots on a day and the places each has left (right `queue.read`)."""
        await door.admit_to(request, request_caller(request), _READ)
        found = await context.edge.front.bookings.slots(service, day)
        return JSONResponse(found.model_dump(mode="json"), headers={"Cache-Control": "no-store"})

    @router.post("/bookings", response_model=BookingReceipt, status_code=201)
    async def create(request: Request, body: BookingRequest, _a: AuthHeader = None) -> Response:
        """Book a place in a slot; the answer carries the booking's code and its QR code, given only now
        (right `queue.book`)."""
        await door.admit_to(request, request_caller(request), _BOOK)
        receipt = await context.edge.front.bookings.book(body)
        return JSONResponse(receipt.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"})

    @router.get("/bookings/{booking_id}", response_model=Booking)
    async def read(request: Request, booking_id: BookingId, _a: AuthHeader = None) -> Response:
        """A booking and where it stands (right `queue.read`)."""
        await door.admit_to(request, request_caller(request), _READ)
        return JSONResponse((await context.edge.front.bookings.get(booking_id)).model_dump(mode="json"))

    @router.post("/bookings/{booking_id}/check-in", response_model=TicketPlace, status_code=201)
    async def check_in(request: Request, booking_id: BookingId, body: BookingCode, _a: AuthHeader = None) -> Response:
        """Turn a booking into a ticket queued at its slot's start, with the booking's code, near its slot
        (right `queue.take`)."""
        await door.admit_to(request, request_caller(request), _TAKE)
        ticket = await context.edge.front.bookings.check_in(booking_id, body.code)
        queue = context.edge.queue
        place = TicketPlace(ticket=ticket, ahead=await queue.ahead(ticket), code=queue.code_of(ticket.id))
        return JSONResponse(place.model_dump(mode="json"), status_code=201)

    @router.post("/bookings/{booking_id}/cancel", response_model=Booking)
    async def cancel(request: Request, booking_id: BookingId, body: BookingCode, _a: AuthHeader = None) -> Response:
        """Cancel a booking with its code, freeing its place (right `queue.book`)."""
        await door.admit_to(request, request_caller(request), _BOOK)
        return JSONResponse((await context.edge.front.bookings.cancel(booking_id, body.code)).model_dump(mode="json"))

    return router
