"""Emergency notices over HTTP: a manager raises and clears the notice every screen shows (``hub._notices``).

Rights: `front.notice` raises and clears it; `queue.read` reads it (desk screens, kiosks). Who raised and who
cleared a notice is written to the audit log (the consumer, and the officer a desk app names).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from contracts import EmergencyNotice, ErrorCode, HubError, NoticeRequest
from hub._door import Privilege, request_caller
from hub._routes_common import ERRORS, AuthHeader, EdgeContext

__all__ = ["notices_router"]

_RAISE = Privilege("front.notice", "raise and clear emergency notices")
_READ = Privilege("queue.read", "read the emergency notice")


def notices_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(prefix="/v1/front", tags=["front of house"], responses=ERRORS)
    door, board = context.door, context.edge.front.notices

    @router.get("/notice", response_model=EmergencyNotice)
    async def current(request: Request, _a: AuthHeader = None) -> Response:
        """The emergency notice up now; `not_found` when there is none (right `queue.read`)."""
        await door.admit_to(request, request_caller(request), _READ)
        notice = await board.current()
        if notice is None:
            raise HubError.of(ErrorCode.NOT_FOUND, "No emergency notice is up")
        return JSONResponse(notice.model_dump(mode="json"), headers={"Cache-Control": "no-store"})

    @router.post("/notice", response_model=EmergencyNotice, status_code=201)
    async def raise_notice(request: Request, body: NoticeRequest, _a: AuthHeader = None) -> Response:
        """Show an emergency notice on every display board, desk screen and citizen page, replacing any notice
        up; audited (right `front.notice`)."""
        caller = request_caller(request)
        consumer = await door.admit_to(request, caller, _RAISE)
        await context.edge.gate.record("front.notice.raise", False, caller, consumer, "ok", accountable=True)
        notice = await board.raise_notice(body)
        return JSONResponse(notice.model_dump(mode="json"), status_code=201)

    @router.delete("/notice", response_model=EmergencyNotice)
    async def clear(request: Request, _a: AuthHeader = None) -> Response:
        """Take the notice down from every screen; audited (right `front.notice`)."""
        caller = request_caller(request)
        consumer = await door.admit_to(request, caller, _RAISE)
        notice = await board.clear()
        await context.edge.gate.record("front.notice.clear", False, caller, consumer, "ok", accountable=True)
        return JSONResponse(notice.model_dump(mode="json"))

    return router
