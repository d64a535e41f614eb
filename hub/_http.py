"""The hub's HTTP edge: the contract over HTTP (generated from it), the citizen's views, applications, the
catalogue, health and metrics, the callbacks agencies make to the hub, the ops dashboard and the docs.

Each concern is a router of its own (``hub._routes_*``, ``hub._ops``); every one comes in through the one door
(``hub._door``), which checks who calls and why before a body is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import CONTRACT_VERSION, ErrorCode
from hub._checkpointer import Checkpointer
from hub._door import Door, contract_error, error_response
from hub._edge import EdgeBus
from hub._ops import ops_router
from hub._routes_applications import applications_router, submission_schemas
from hub._routes_bookings import bookings_router
from hub._routes_callbacks import callbacks_router
from hub._routes_citizens import citizens_router
from hub._routes_common import EdgeContext
from hub._routes_docs import install_docs
from hub._routes_documents import documents_router
from hub._routes_errors import install_error_handlers
from hub._routes_front import front_router
from hub._routes_health import health_router, metrics_app
from hub._routes_notices import notices_router
from hub._routes_operations import LeanRoute, lean_operations, operations_router
from hub._routes_queue import queue_router
from hub._routes_sites import sites_router
from hub._routes_survey import survey_router
from hub._runtime import Hub

__all__ = ["MAX_BODY_BYTES", "create_app", "guard", "metrics_app"]

#: No contract request or agency callback comes near this; NATS itself refuses messages over 1 MB.
MAX_BODY_BYTES = 256 * 1024

_TITLE = "MPP Hub"
_DESCRIPTION = """\
The common service contract of the mall's agencies over HTTP. Every call needs
`Authorization: Bearer <api key>` (see `mpp-hub consumer add`); every operation on personal data needs
`X-Purpose` with the purpose of access. Errors are always a `ContractError`. Send `X-Correlation-Id` to
follow one request through the hub's logs and audit trail.
"""


def create_app(
    hub: Hub,
    edge: EdgeBus,
    *,
    embedded_nats: bool,
    request_timeout: float = 10.0,
    profile_budget: float = 3.0,
    audit_log: Checkpointer | None = None,
) -> FastAPI:
    """The edge's ASGI app; ``audit_log``: the checkpointer behind the citizen's access log (none: not served)."""
    door = Door(edge.gate, hub.plugins)
    context = EdgeContext(hub, edge, door, embedded_nats, request_timeout, profile_budget, audit_log)
    app = _Edge(
        lean_operations(context), title=_TITLE, version=CONTRACT_VERSION, description=_DESCRIPTION, docs_url=None,
        redoc_url=None, openapi_url="/openapi.json",
    )  # fmt: skip
    guard(app)
    for router in (
        operations_router, citizens_router, applications_router, documents_router, queue_router, bookings_router,
        notices_router, survey_router, health_router, callbacks_router, front_router, sites_router,
    ):  # fmt: skip
        app.include_router(router(context))
    app.include_router(ops_router(hub, edge, door))
    _publish_schemas(app, submission_schemas(hub.plugins.processes))
    install_docs(app, _TITLE)
    return app


class _Edge(FastAPI):
    """FastAPI, with the contract operations served ahead of its middleware and routing (``lean``, by path).

    Every other route goes through FastAPI. A lean route's refusals are answered by the app's own exception
    handlers, and its body is held to the same limit, so a caller cannot tell which way a request went.
    """

    def __init__(self, lean: Mapping[str, LeanRoute], **options: Any) -> None:
        super().__init__(**options)
        self._lean = dict(lean)
        self._lean_app = _BodyLimit(self._serve_lean, MAX_BODY_BYTES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in self._lean:
            await self._lean_app({**scope, "app": self}, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _serve_lean(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._lean[scope["path"]](request)
        except Exception as exc:
            handlers = self.exception_handlers
            handler = next((handlers[kind] for kind in type(exc).__mro__ if kind in handlers), None)
            if handler is None:
                raise  # a bug: uvicorn logs it and answers 500, as FastAPI's own routes do
            answer = handler(request, exc)
            response = answer if isinstance(answer, Response) else await answer
        await response(scope, receive, send)


def _publish_schemas(app: FastAPI, schemas: Mapping[str, dict[str, Any]]) -> None:
    """Add to the app's OpenAPI components schemas that routes refer to but FastAPI does not generate (a body a
    route documents more closely than it lets FastAPI validate it: ``POST /v1/applications``)."""
    generated = app.openapi

    def openapi() -> dict[str, Any]:
        document = generated()  # FastAPI's, made once and kept; this adds to it in place
        components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in schemas.items():
            if components.setdefault(name, schema) != schema:
                raise RuntimeError(
                    f"Two different schemas are named {name} in the OpenAPI document: rename the plugin's model"
                )
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def guard(app: FastAPI) -> None:
    """What every HTTP edge of the hub has, the mall's and a site's: the body limit, and a contract error for
    everything that goes wrong (a refusal, bad input, an unknown route, the bus not answering)."""
    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)
    install_error_handlers(app, MAX_BODY_BYTES)


class _BodyLimit:
    """Refuse a body over ``limit`` bytes with a contract error, before it is read (by its Content-Length),
    or as soon as a body sent without one grows past it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if scope["type"] == "http" and declared.isdigit() and int(declared) > self.limit:
            error = contract_error(ErrorCode.INVALID_INPUT, f"The request body is over {self.limit} bytes")
            await error_response(error, status=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise ValueError("request body too large")  # FastAPI turns a failed read into a 400
            return message

        await self.app(scope, counted if scope["type"] == "http" else receive, send)
