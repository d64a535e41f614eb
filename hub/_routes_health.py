"""``/healthz``, ``/readyz`` and ``/metrics``: what an orchestrator and Prometheus ask of a hub process."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from contracts import CONTRACT_VERSION, HealthStatus
from hub._door import Privilege, request_caller
from hub._routes_common import AuthHeader, EdgeContext
from hub._runtime import Hub

__all__ = ["METRICS", "health_router", "metrics_app"]

#: The right a consumer needs to read /metrics (Prometheus scrapes with that consumer's key).
METRICS = Privilege("ops.metrics", "read metrics")


def health_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(tags=["ops"])
    hub = context.hub

    @router.get("/metrics", response_class=Response)
    async def metrics(request: Request, _a: AuthHeader = None) -> Response:
        """Prometheus metrics of this hub process (requests, latency, in flight, agency links, lag, applications).

        Needs `Authorization: Bearer <key>` of a consumer with the right `ops.metrics` (Prometheus:
        `authorization: {credentials_file: ...}` in the scrape config).
        """
        await context.door.admit_to(request, request_caller(request), METRICS)
        return await _metrics_page(hub)

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready to serve: NATS connected, JetStream answering, and each agency link's health with its last error."""
        jetstream = await _jetstream_answers(hub)
        agencies = await hub.agency_health()
        ready = hub.nats_connected and jetstream
        # Anyone may ask (an orchestrator's probe carries no key), so the answer says up or down and no more:
        # no addresses, no error details. Those are in the catalogue and on /ops, behind a key.
        body = {
            "ready": ready,
            "nats": hub.nats_connected,
            "jetstream": jetstream,
            "agencies": {code: h.status.value for code, h in agencies.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 while the hub can work (NATS connected), with each agency link's health."""
        agencies = await hub.agency_health()
        nats_up = hub.nats_connected
        all_up = all(h.status is HealthStatus.UP for h in agencies.values())
        # An agency being down is reported, not treated as the hub being down, or an orchestrator would
        # restart a healthy hub.
        body = {
            "status": "ok" if nats_up and all_up else "degraded" if nats_up else "down",
            "contract_version": CONTRACT_VERSION,
            "nats": {"embedded": context.embedded_nats, "connected": nats_up},
            "agencies": {code: h.status.value for code, h in agencies.items()},
        }
        return JSONResponse(body, status_code=200 if nats_up else 503)

    return router


def metrics_app(hub: Hub) -> FastAPI:
    """Just ``/metrics`` and ``/healthz``, for a worker without the portal API."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/metrics")
    async def metrics() -> Response:
        return await _metrics_page(hub)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"nats": hub.nats_connected}, status_code=200 if hub.nats_connected else 503)

    return app


async def _jetstream_answers(hub: Hub) -> bool:
    if not hub.nats_connected:
        return False
    try:
        await hub.nc.jetstream().account_info()
    except Exception:  # any failure here means "not ready"; the body says which part
        return False
    return True


async def _metrics_page(hub: Hub) -> Response:
    await _refresh_gauges(hub)
    return Response(hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _refresh_gauges(hub: Hub) -> None:
    """Gauges read at scrape time: JetStream consumer lag and applications by status."""
    if not hub.nats_connected:
        return
    metrics, js = hub.metrics, hub.nc.jetstream()
    for stream, consumer in (("MPP_PROCESS", "mpp-process-engine"), ("MPP_EVENTS", "mpp-process-payments")):
        try:
            info = await js.consumer_info(stream, consumer)
        except Exception:  # not created (no process on this hub): nothing to report
            continue
        metrics.consumer_lag.labels(metrics.worker, consumer).set(info.num_pending or 0)
    counts: dict[tuple[str, str], int] = {}
    for application in await hub.engine.store.every():
        key = (application.service, application.status.value)
        counts[key] = counts.get(key, 0) + 1
    for (service, status), count in counts.items():
        metrics.applications.labels(metrics.worker, service, status).set(count)
