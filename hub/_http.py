"""The hub's HTTP edge: ``GET /healthz`` and the callbacks agencies make to the hub.

The portal API grows here.
"""

from __future__ import annotations

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contracts import CONTRACT_VERSION, ContractError, ErrorCode, HealthStatus
from hub._agency import InboundRequest
from hub._runtime import Hub

__all__ = ["MAX_CALLBACK_BYTES", "create_app"]

#: Agency callbacks are small JSON documents; anything bigger is refused before it is read whole.
MAX_CALLBACK_BYTES = 1_000_000

_log = structlog.get_logger("hub.http")


def _error(code: ErrorCode, message: str, *, agency: str | None = None) -> JSONResponse:
    error = ContractError(code=code, message=message, agency=agency, retryable=code.retryable)
    return JSONResponse(error.model_dump(mode="json"), status_code=code.http_status)


async def _read_body(request: Request) -> bytes | None:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CALLBACK_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(hub: Hub, *, embedded_nats: bool) -> Starlette:
    async def healthz(_: Request) -> JSONResponse:
        agencies = await hub.agency_health()
        nats_up = hub.nats_connected
        all_up = all(h.status is HealthStatus.UP for h in agencies.values())
        # 200 while the hub itself can work (NATS connected): an agency being down is reported,
        # not treated as the hub being down, or an orchestrator would restart a healthy hub.
        body = {
            "status": "ok" if nats_up and all_up else "degraded" if nats_up else "down",
            "contract_version": CONTRACT_VERSION,
            "nats": {"url": hub.nats_url, "embedded": embedded_nats, "connected": nats_up},
            "agencies": {code: h.model_dump(mode="json") for code, h in agencies.items()},
        }
        return JSONResponse(body, status_code=200 if nats_up else 503)

    async def callback(request: Request) -> Response:
        code, path = request.path_params["agency"], request.path_params["path"]
        service = hub.services.get(code)
        handler = service.agency.callbacks.get(path) if service else None
        if service is None or handler is None:
            return _error(ErrorCode.NOT_FOUND, f"No callback {path!r} for agency {code!r} on this hub")
        body = await _read_body(request)
        if body is None:
            return _error(ErrorCode.INVALID_INPUT, f"Callback body over {MAX_CALLBACK_BYTES} bytes", agency=code)
        full_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        inbound = InboundRequest(method=request.method, path=full_path, headers=request.headers, body=body)
        log = _log.bind(agency=code, callback=path)
        try:
            reply = await handler(service.connector, inbound)
        except Exception:
            log.exception("callback handler failed")
            return _error(ErrorCode.INTERNAL, f"The {code} plugin failed on this callback; it is logged", agency=code)
        try:
            assert hub.events is not None
            for event in reply.events:
                await hub.events.publish(event)
        except Exception as exc:
            # Not recorded means not acknowledged: the agency keeps the notification and sends it again.
            log.error("callback events not recorded", error=type(exc).__name__)
            return _error(ErrorCode.AGENCY_UNAVAILABLE, "The hub cannot record this right now; send it again later")
        log.info("callback answered", status=reply.status, events=len(reply.events))
        return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/callbacks/{agency}/{path:path}", callback, methods=["POST"]),
        ]
    )
