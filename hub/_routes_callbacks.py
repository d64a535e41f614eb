"""``POST /callbacks/<agency>/<path>``: where agencies call the hub (the bank's payment notifications).

An agency signs its callbacks its own way, so the plugin's handler checks them, not the door; what it makes of
one is published as events, and only once they are recorded does the agency get its acknowledgement.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from contracts import ErrorCode
from hub._agency import InboundRequest
from hub._door import contract_error, error_response
from hub._routes_common import EdgeContext

__all__ = ["callbacks_router"]

_log = structlog.get_logger("hub.http")


def callbacks_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.post("/callbacks/{agency}/{path:path}")
    async def callback(request: Request, agency: str, path: str) -> Response:
        service = context.hub.services.get(agency)
        handler = service.agency.callbacks.get(path) if service else None
        if service is None or handler is None:
            message = f"No callback {path!r} for agency {agency!r} on this hub"
            return error_response(contract_error(ErrorCode.NOT_FOUND, message))
        body = await request.body()  # bounded by the edge's body limit
        full_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        inbound = InboundRequest(method=request.method, path=full_path, headers=request.headers, body=body)
        log = _log.bind(agency=agency, callback=path)
        try:
            reply = await handler(service.connector, inbound)
        except Exception:
            log.exception("callback handler failed")
            message = f"The {agency} plugin failed on this callback; it is logged"
            return error_response(contract_error(ErrorCode.INTERNAL, message, agency))
        try:
            for event in reply.events:
                await context.edge.events.publish(event)
        except Exception as exc:
            # Not recorded means not acknowledged: the agency keeps the notification and sends it again.
            log.error("callback events not recorded", error=type(exc).__name__)
            message = "The hub cannot record this right now; send it again later"
            return error_response(contract_error(ErrorCode.AGENCY_UNAVAILABLE, message))
        log.info("callback answered", status=reply.status, events=len(reply.events))
        return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))

    return router
