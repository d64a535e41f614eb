"""The waiting-room display board: ``/papan`` (the page), ``/papan/state`` (JSON), ``/papan/stream`` (live, SSE).

A screen in the hall logs in once, as ``/ops`` does: a form posts an API key of a consumer with the right
``queue.display`` and the edge keeps the key in a cookie (HttpOnly, SameSite=Strict, Path=/papan, Secure over
HTTPS), checked against the registry on every request and every stream reconnect, so a revoke blanks the
screen at once. Give the screen a consumer with only ``--allow queue.display``: a leaked cookie then shows the
board and nothing else. What the board shows is a ticket's number, service and desk, never its id or the
application it led to: a ticket holds no personal data, and the board shows none.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts import HubError, Ticket, TicketStatus
from hub._consumers import Consumer
from hub._door import Door, Privilege, bearer, correlation_id, error_response, request_caller
from hub._time import utcnow
from hub.front._hall import Hall
from hub.front._web import page, posted_key, same_origin

__all__ = ["BOARD_COOKIE", "DISPLAY", "board_router", "board_view", "desk_label"]

#: The right a consumer needs to show the display board.
DISPLAY = Privilege("queue.display", "show the queue's display board")
#: The cookie a board's browser keeps its key in (Path=/papan).
BOARD_COOKIE = "mpp_board_key"
_COOKIE_SECONDS = 30 * 24 * 3600  # a screen on the wall stays logged in; a revoke still ends it at once
_RECENT = 8  # the last calls shown under the current ones
# As /ops: a stream ends after a few seconds and the browser reconnects at once (a fresh key check), so a hub
# with boards open still stops promptly.
_STREAM_SECONDS = 5.0
_RECONNECT_MS = 250
_LOKET = re.compile(r"loket(\d+)")

_log = structlog.get_logger("hub.front")


def desk_label(desk: str) -> str:
    """A desk as the hall reads it: ``loket2`` is "Loket 2"."""
    found = _LOKET.fullmatch(desk)
    return f"Loket {int(found.group(1))}" if found else desk.replace("_", " ").title()


def _call(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number, "service": ticket.service, "desk": ticket.desk or "",
        "desk_label": desk_label(ticket.desk or ""), "status": ticket.status.value,
        "called_at": ticket.called_at.isoformat() if ticket.called_at else None,
    }  # fmt: skip


def board_view(hall: Hall, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the board shows: the tickets called now (newest first), the last calls, each service's waiting count,
    and the notice; numbers, services and desks only."""
    tickets = hall.tickets()
    called = sorted((t for t in tickets if t.called_at is not None), key=lambda t: t.called_at or t.taken_at)
    calling = [_call(t) for t in reversed(called) if t.status is TicketStatus.CALLED]
    waiting = [t.service for t in tickets if t.status is TicketStatus.WAITING]
    services = [
        {"code": s.code, "name": s.name, "prefix": s.prefix, "waiting": waiting.count(s.code)}
        for s in hall.services.values()
    ]
    return {
        "generated_at": (now or utcnow()).isoformat(), "day": hall.day.isoformat(), "calling": calling,
        "recent": [_call(t) for t in reversed(called[-_RECENT:])], "services": services,
        "notice": hall.notice.model_dump(mode="json") if hall.notice else None,
    }  # fmt: skip


def _home(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/papan"


def _login(request: Request, status: int, message: str = "") -> Response:
    return page("papan.html", {"view": "login", "base": _home(request), "message": message}, status=status)


class _Screens:
    """The board's door: the consumer behind a key if it may show the board, else the refusal (audited)."""

    def __init__(self, door: Door, hall: Hall) -> None:
        self._door = door
        self.hall = hall

    async def admit(self, request: Request, key: str | None) -> Consumer:
        consumer = await self._door.admit_to(request, replace(request_caller(request), api_key=key), DISPLAY)
        await self.hall.start()
        return consumer

    async def for_api(self, request: Request) -> Consumer | JSONResponse:
        try:
            return await self.admit(request, bearer(request) or request.cookies.get(BOARD_COOKIE))
        except HubError as exc:
            return error_response(exc.error, correlation_id(request), headers={"Cache-Control": "no-store"})


def board_router(door: Door, hall: Hall) -> APIRouter:
    router = APIRouter(prefix="/papan", tags=["front"], include_in_schema=False)
    screens = _Screens(door, hall)
    _add_pages(router, screens)
    _add_data(router, screens)
    return router


def _add_pages(router: APIRouter, screens: _Screens) -> None:
    @router.get("")
    async def board(request: Request) -> Response:
        """The board, or the device login when this browser has no valid key."""
        key = bearer(request) or request.cookies.get(BOARD_COOKIE)
        if key is None:
            return _login(request, 401)
        try:
            consumer = await screens.admit(request, key)
        except HubError as exc:
            answer = _login(request, exc.error.code.http_status, exc.error.message)
            answer.delete_cookie(BOARD_COOKIE, path=_home(request))
            return answer
        _log.debug("board shown", consumer=consumer.name)
        return page("papan.html", {"view": "board", "base": _home(request), "message": ""})

    @router.post("/session")
    async def login(request: Request) -> Response:
        """Check the posted key; a key with ``queue.display`` gets the cookie and the board."""
        if not same_origin(request):
            return _login(request, 403, "Masuk dari halaman papan ini sendiri.")
        key = await posted_key(request)
        try:
            consumer = await screens.admit(request, key)
        except HubError as exc:
            return _login(request, exc.error.code.http_status, exc.error.message)
        _log.info("board session opened", consumer=consumer.name)
        response = RedirectResponse(_home(request), status_code=303)
        response.set_cookie(
            BOARD_COOKIE, key or "", max_age=_COOKIE_SECONDS, path=_home(request), httponly=True,
            samesite="strict", secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        if not same_origin(request):
            return _login(request, 403, "Keluar dari halaman papan ini sendiri.")
        response = RedirectResponse(_home(request), status_code=303)
        response.delete_cookie(BOARD_COOKIE, path=_home(request), httponly=True, samesite="strict")
        return response


def _add_data(router: APIRouter, screens: _Screens) -> None:
    @router.get("/state")
    async def state(request: Request) -> Response:
        """The board's data as JSON."""
        found = await screens.for_api(request)
        if isinstance(found, JSONResponse):
            return found
        return JSONResponse(board_view(screens.hall), headers={"Cache-Control": "no-store"})

    @router.get("/stream")
    async def stream(request: Request) -> Response:
        """Server-sent events: ``board`` at once and on every change of a ticket or of the notice."""
        found = await screens.for_api(request)
        if isinstance(found, JSONResponse):
            return found
        return EventSourceResponse(_events(screens.hall), headers={"Cache-Control": "no-store"})


async def _events(hall: Hall) -> AsyncIterator[ServerSentEvent]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STREAM_SECONDS
    seen = hall.version
    yield ServerSentEvent(data=json.dumps(board_view(hall)), event="board", retry=_RECONNECT_MS)
    while (now := loop.time()) < deadline:
        await hall.wait(seen, deadline - now)
        if hall.version > seen:
            seen = hall.version
            yield ServerSentEvent(data=json.dumps(board_view(hall)), event="board")
