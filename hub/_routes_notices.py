"""Emergency notices over HTTP: a manager raises and clears the notice every screen shows (``hub._notices``).

Rights: `front.notice` raises and clears it; `queue.read` reads it (desk screens, kiosks). Who raised and who
cleared a notice is written to the audit log (the consumer, and the officer a desk app names); a notice is shown
even when its record cannot be written, since an evacuation must not wait on the log.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from contracts import EmergencyNotice, ErrorCode, HubError, NoticeRequest
from hub._access import Caller
from hub._consumers import Consumer
from hub._door import Privilege, request_caller
from hub._routes_common import ERRORS, AuthHeader, EdgeContext

__all__ = ["notices_router"]

_log = structlog.get_logger("hub.front")
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
        notice = await board.raise_notice(body)
        await _audited(context, "front.notice.raise", caller, consumer)
        return JSONResponse(notice.model_dump(mode="json"), status_code=201)

    @router.delete("/notice", response_model=EmergencyNotice)
    async def clear(request: Request, _a: AuthHeader = None) -> Response:
        """Take the notice down from every screen; audited (right `front.notice`)."""
        caller = request_caller(request)
        consumer = await door.admit_to(request, caller, _RAISE)
        notice = await board.clear()
        await _audited(context, "front.notice.clear", caller, consumer)
        return JSONResponse(notice.model_dump(mode="json"))

    return router


async def _audited(context: EdgeContext, act: str, caller: Caller, consumer: Consumer) -> None:
    """Record who raised or cleared the notice. An evacuation notice must not wait on the audit log: the notice
    stands even when its record cannot be written, and the failure is logged with who did it."""
    try:
        await context.edge.gate.record(act, False, caller, consumer, "ok", accountable=True)
    except Exception as exc:  # whatever failed, the notice is already on every screen
        _log.error("emergency notice not audited", act=act, consumer=consumer.name, error=type(exc).__name__)
