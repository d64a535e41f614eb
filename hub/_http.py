"""The hub's HTTP edge. For now: ``GET /healthz``; the portal API grows here."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts import CONTRACT_VERSION, HealthStatus
from hub._runtime import Hub

__all__ = ["create_app"]


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

    return Starlette(routes=[Route("/healthz", healthz)])
