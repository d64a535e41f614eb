"""The hub's HTTP edge: the contract over HTTP (generated from it), the profile, the catalogue,
``/healthz``, and the callbacks agencies make to the hub.

The edge checks who calls and why before it reads a body; the worker that serves the request
checks again and counts the quota, so nothing reaches an agency around the rights.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Annotated, Any

import structlog
from fastapi import Body, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from nats.errors import Error as NatsError
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts import (
    CONTRACT_VERSION,
    NIK,
    OPERATIONS,
    AccessLog,
    Application,
    ApplicationLookup,
    ApplicationRequest,
    Catalogue,
    CitizenProfile,
    ContractError,
    ErrorCode,
    FieldIssue,
    HealthStatus,
    HubError,
    Operation,
    PublicApplication,
    TrackingNumber,
)
from hub._access import Caller, Gate
from hub._access_log import access_log
from hub._agency import InboundRequest
from hub._audit import AuditError
from hub._auth_limit import AuthFailureLimiter
from hub._checkpointer import Checkpointer
from hub._client import HubClient
from hub._consumers import Consumer
from hub._edge import EdgeBus
from hub._headers import client_address, refuse_bad_headers, request_correlation_id
from hub._ops import ops_router
from hub._process import ProcessEngine
from hub._profile import fetch_profile
from hub._runtime import Hub

__all__ = ["MAX_BODY_BYTES", "create_app", "metrics_app"]

#: No contract request or agency callback comes near this; NATS itself refuses messages over 1 MB.
MAX_BODY_BYTES = 256 * 1024
CORRELATION_HEADER = "X-Correlation-Id"
#: The right a consumer needs to read /metrics (Prometheus scrapes with that consumer's key).
METRICS_RIGHT = "ops.metrics"

_log = structlog.get_logger("hub.http")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code.http_status: {"model": ContractError, "description": f"Contract error ({code.value})"}
    for code in ErrorCode
    if code is not ErrorCode.INVALID_INPUT
}
_ERRORS[400] = {"model": ContractError, "description": "Contract error (invalid_input)"}

_DESCRIPTION = """\
The common service contract of the mall's agencies over HTTP. Every call needs
`Authorization: Bearer <api key>` (see `mpp-hub consumer add`); every operation on personal data needs
`X-Purpose` with the purpose of access. Errors are always a `ContractError`. Send `X-Correlation-Id` to
follow one request through the hub's logs and audit trail.
"""


class _BodyLimit:
    """Refuse a body over ``limit`` bytes with a contract error, before it is read (by its Content-Length),
    or as soon as a body sent without one grows past it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if scope["type"] == "http" and declared.isdigit() and int(declared) > self.limit:
            error = _error(ErrorCode.INVALID_INPUT, f"The request body is over {self.limit} bytes")
            await JSONResponse(error.model_dump(mode="json"), status_code=413)(scope, receive, send)
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


def _error_response(error: ContractError, correlation_id: str | None = None) -> JSONResponse:
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    elif error.retryable:
        headers["Retry-After"] = "1"
    if correlation_id or error.correlation_id:
        headers[CORRELATION_HEADER] = correlation_id or str(error.correlation_id)
    return JSONResponse(error.model_dump(mode="json"), status_code=error.code.http_status, headers=headers)


_correlation_id = request_correlation_id


def _bearer(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def _caller(request: Request) -> Caller:
    """Who calls, why, from where and for whom, from the headers; malformed ones are refused here."""
    refuse_bad_headers(request)
    headers = request.headers
    return Caller(
        api_key=_bearer(request), purpose=headers.get("x-purpose") or None, correlation_id=_correlation_id(request),
        channel=headers.get("x-channel") or None, officer=headers.get("x-officer") or None,
        consent=headers.get("x-consent-ref") or None,
    )  # fmt: skip


# Declared so that OpenAPI documents the headers; the values are read from the request itself.
AuthHeader = Annotated[str | None, Header(alias="Authorization", description="Bearer <api key>")]
PurposeHeader = Annotated[str | None, Header(alias="X-Purpose", description="Purpose of access (personal data)")]
CorrelationHeader = Annotated[str | None, Header(alias=CORRELATION_HEADER, description="Your request id")]
ChannelHeader = Annotated[
    str | None, Header(alias="X-Channel", description="desk, portal, kiosk or mobile (audited; see consumer add)")
]
OfficerHeader = Annotated[
    str | None, Header(alias="X-Officer", description="The officer serving the citizen (consumers allowed to name one)")
]
ConsentHeader = Annotated[str | None, Header(alias="X-Consent-Ref", description="Reference of the citizen's consent")]


def create_app(
    hub: Hub,
    edge: EdgeBus,
    *,
    embedded_nats: bool,
    request_timeout: float = 10.0,
    profile_budget: float = 3.0,
    audit_log: Checkpointer | None = None,
) -> FastAPI:
    app = FastAPI(
        title="MPP Hub",
        version=CONTRACT_VERSION,
        description=_DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(_BodyLimit, limit=MAX_BODY_BYTES)

    def client() -> HubClient:
        return edge.client(request_timeout)

    limiter = AuthFailureLimiter()

    async def admitted(
        request: Request, caller: Caller, operation: str, personal_data: bool, *, right: bool = True
    ) -> Consumer:
        """Check at the door; refusals are audited here, since they never reach a worker.

        ``right=False``: any registered consumer may (the catalogue). Failed keys are limited per client
        address and per key id, so keys cannot be tried out at speed.
        """
        consumer: Consumer | None = None
        try:
            consumer = await edge.gate.identify(caller, limiter, client_address(request))
            if right:
                await edge.gate.allow(consumer, operation, personal_data, caller, charge=False)
        except HubError as exc:
            served_by = hub.plugins.agency_for(operation)
            await edge.gate.record(
                operation, personal_data, caller, consumer, exc.code.value, agency=served_by.code if served_by else None
            )
            raise
        return consumer

    @app.exception_handler(HubError)
    async def _on_hub_error(request: Request, exc: HubError) -> JSONResponse:
        return _error_response(exc.error, _correlation_id(request))

    async def _on_bus_failure(request: Request, exc: Exception) -> JSONResponse:
        # JetStream or the audit log did not answer: a NATS node restarting, a leader being elected. The
        # request may be repeated; the hub's own state is as consistent as it was before it.
        _log.warning("bus failure at the edge", error=type(exc).__name__, path=request.url.path)
        error = HubError.of(
            ErrorCode.INTERNAL, "The hub's message bus did not answer in time; please retry", retryable=True,
            retry_after=2,
        ).error  # fmt: skip
        return _error_response(error, _correlation_id(request))

    for failure in (NatsError, TimeoutError, AuditError):
        app.add_exception_handler(failure, _on_bus_failure)

    @app.exception_handler(StarletteHTTPException)
    async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (unknown route, wrong method, unreadable or oversized body) in the contract's form.
        code = {404: ErrorCode.NOT_FOUND, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN}.get(
            exc.status_code, ErrorCode.INVALID_INPUT
        )
        message = {
            404: f"No such route: {request.method} {request.url.path}; see /docs for the routes",
            405: f"{request.method} is not allowed on {request.url.path}; see /docs",
            413: f"The request body is over {MAX_BODY_BYTES} bytes",
        }.get(exc.status_code, f"The request could not be read ({exc.detail})")
        response = _error_response(_error(code, message), _correlation_id(request))
        response.status_code = exc.status_code if exc.status_code in (404, 405, 413) else code.http_status
        return response

    @app.exception_handler(RequestValidationError)
    async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            FieldIssue(field=".".join(str(p) for p in err["loc"] if p != "body") or "(body)", message=err["msg"])
            for err in exc.errors()
        ]
        summary = "; ".join(f"{i.field}: {i.message}" for i in issues)
        error = HubError.of(ErrorCode.INVALID_INPUT, f"Invalid request: {summary}", issues=issues).error
        return _error_response(error, _correlation_id(request))

    for op in OPERATIONS:
        _add_operation(app, op, admitted, client)

    @app.get("/v1/services", response_model=Catalogue, responses=_ERRORS, tags=["catalogue"])
    async def services(request: Request, _a: AuthHeader = None, _c: CorrelationHeader = None) -> Response:
        """The catalogue: agencies served on the bus, their operations, contract versions and health."""
        await admitted(request, _caller(request), "hub.services", False, right=False)
        catalogue = await client().catalogue(wait=0.25)
        return JSONResponse(catalogue.model_dump(mode="json"))

    @app.get("/v1/citizens/{nik}/profile", response_model=CitizenProfile, responses=_ERRORS, tags=["citizens"])
    async def profile(
        request: Request,
        nik: NIK,
        _a: AuthHeader = None,
        _p: PurposeHeader = None,
        _c: CorrelationHeader = None,
    ) -> Response:
        """Identity, health coverage and vehicles of one resident, fetched from the agencies in parallel.

        Every part says which agency it came from, when, and its status or contract error, so a portal can
        show what is missing and why; the whole answer comes within the hub's profile budget. Needs the right
        `citizen.profile`, and each part the right to its own operation (a part the consumer may not read, or
        may read only some fields of, comes back as `forbidden`).
        """
        caller = _caller(request)
        consumer = await admitted(request, caller, "citizen.profile", True)
        who = edge.gate.in_context(consumer, caller)
        result = await fetch_profile(client(), hub.plugins, nik, who, consumer, budget=profile_budget)
        return JSONResponse(result.model_dump(mode="json"), headers={CORRELATION_HEADER: caller.correlation_id})

    def engine() -> ProcessEngine:
        if not hub.plugins.processes:
            raise HubError.of(ErrorCode.NOT_FOUND, "This hub runs no application process")
        return edge.engine

    @app.post("/v1/applications", response_model=Application, status_code=201, responses=_ERRORS, tags=["applications"])
    async def submit_application(
        request: Request, body: ApplicationRequest, _a: AuthHeader = None, _p: PurposeHeader = None
    ) -> Response:
        """Start an application; the answer carries its tracking number. Needs the right `application.submit`."""
        caller = _caller(request)
        consumer = await admitted(request, caller, "application.submit", True)
        try:
            who = _submitted_via(edge.gate.in_context(consumer, caller), body)
        except HubError as exc:
            await edge.gate.record("application.submit", True, caller, consumer, exc.code.value, body.applicant_nik)
            raise
        application = await engine().submit(body)
        await edge.gate.record("application.submit", True, who, consumer, "ok", body.applicant_nik)
        return JSONResponse(application.model_dump(mode="json"), status_code=201)

    @app.get("/v1/applications/{tracking_no}", response_model=Application, responses=_ERRORS, tags=["applications"])
    async def get_application(
        request: Request, tracking_no: TrackingNumber, _a: AuthHeader = None, _p: PurposeHeader = None
    ) -> Response:
        """An application with its whole status history (for desks and portals: right `application.read`)."""
        caller = _caller(request)
        consumer = await admitted(request, caller, "application.read", True)
        found = await engine().store.get(tracking_no)
        outcome = "ok" if found else ErrorCode.NOT_FOUND.value
        # The application keeps its applicant's NIK hashed as the audit log does: who-read finds this read too.
        hashed = (found[0].keys.subject, found[0].application.applicant_nik) if found else None
        await edge.gate.record("application.read", True, caller, consumer, outcome, hashed_subject=hashed)
        if found is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"No application {tracking_no} on this hub")
        return JSONResponse(found[0].application.model_dump(mode="json"))

    @app.post("/v1/applications/lookup", response_model=PublicApplication, responses=_ERRORS, tags=["applications"])
    async def lookup_application(request: Request, body: ApplicationLookup, _a: AuthHeader = None) -> Response:
        """A citizen follows their application: the tracking number **and** the applicant's birth date.

        A wrong number and a wrong birth date get the same answer, so numbers cannot be tried out.
        Right `application.lookup` (a portal or kiosk asks on the citizen's behalf).
        """
        caller = _caller(request)
        await admitted(request, caller, "application.lookup", False)
        found = await engine().store.get(body.tracking_no)
        if found is None or not engine().store.born_on(found[0], body.birth_date):
            raise HubError.of(
                ErrorCode.NOT_FOUND,
                "No application matches this tracking number and birth date; check both on the receipt",
            )
        app_ = found[0].application
        public = PublicApplication(
            tracking_no=app_.tracking_no, service=app_.service, title=app_.title, status=app_.status,
            details=app_.details, history=app_.history, updated_at=app_.updated_at,
        )  # fmt: skip
        return JSONResponse(public.model_dump(mode="json"))

    @app.get(
        "/v1/citizens/{nik}/applications",
        response_model=list[Application],
        responses=_ERRORS,
        tags=["applications"],
    )
    async def citizen_applications(
        request: Request, nik: NIK, _a: AuthHeader = None, _p: PurposeHeader = None
    ) -> Response:
        """Every application of one citizen, oldest first (right `application.read`)."""
        caller = _caller(request)
        consumer = await admitted(request, caller, "application.read", True)
        found = await engine().store.for_citizen(nik)
        await edge.gate.record("application.read", True, caller, consumer, "ok", nik)
        return JSONResponse([a.model_dump(mode="json") for a in found])

    @app.get("/v1/citizens/{nik}/access-log", response_model=AccessLog, responses=_ERRORS, tags=["citizens"])
    async def citizen_access_log(
        request: Request, nik: NIK, _a: AuthHeader = None, _p: PurposeHeader = None, _c: CorrelationHeader = None
    ) -> Response:
        """Who read this citizen's personal data, when, why and on what legal basis, oldest first: each entry
        with a receipt proving it stands in the witnessed audit log (right `citizen.access_log`).

        For the portal to show the citizen once it has signed them in; this read is itself recorded.
        """
        caller = _caller(request)
        consumer = await admitted(request, caller, "citizen.access_log", True)
        if audit_log is None or audit_log.broken is not None:
            raise HubError.of(
                ErrorCode.INTERNAL, "The audit log's checkpoints are not being signed on this hub; ask its operator "
                "to run `mpp-hub audit verify`", retryable=True, retry_after=30,
            )  # fmt: skip
        found = await audit_log.about(edge.gate.audit.subject_hash(nik))
        await edge.gate.record("citizen.access_log", True, caller, consumer, "ok", nik)
        answer = access_log(nik, found, audit_log.latest_size)
        return JSONResponse(answer.model_dump(mode="json"), headers={CORRELATION_HEADER: caller.correlation_id})

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics(request: Request, _a: AuthHeader = None) -> Response:
        """Prometheus metrics of this hub process (requests, latency, in flight, agency links, lag, applications).

        Needs `Authorization: Bearer <key>` of a consumer with the right `ops.metrics` (Prometheus:
        `authorization: {credentials_file: ...}` in the scrape config).
        """
        consumer = await admitted(request, _caller(request), METRICS_RIGHT, False, right=False)
        if not consumer.may_call(METRICS_RIGHT):
            raise HubError.of(
                ErrorCode.FORBIDDEN,
                f"Consumer {consumer.name!r} may not read metrics; grant it with --allow {METRICS_RIGHT}",
            )
        await _refresh_gauges(hub)
        return Response(hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Ready to serve: NATS connected, JetStream answering, and each agency link's health with its last error."""
        jetstream = False
        if hub.nc is not None and hub.nc.is_connected:
            try:
                await hub.nc.jetstream().account_info()
                jetstream = True
            except Exception:  # any failure here means "not ready"; the body says which part
                jetstream = False
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

    @app.get("/healthz", tags=["ops"])
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
            "nats": {"embedded": embedded_nats, "connected": nats_up},
            "agencies": {code: h.status.value for code, h in agencies.items()},
        }
        return JSONResponse(body, status_code=200 if nats_up else 503)

    app.add_api_route(
        "/callbacks/{agency}/{path:path}", _callback_route(hub, edge), methods=["POST"], include_in_schema=False
    )
    app.include_router(ops_router(hub, edge, limiter))
    return app


def metrics_app(hub: Hub) -> FastAPI:
    """Just ``/metrics`` and ``/healthz``, for a worker without the portal API."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/metrics")
    async def metrics() -> Response:
        await _refresh_gauges(hub)
        return Response(hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"nats": hub.nats_connected}, status_code=200 if hub.nats_connected else 503)

    return app


async def _refresh_gauges(hub: Hub) -> None:
    """Gauges read at scrape time: JetStream consumer lag and applications by status."""
    metrics = hub.metrics
    if hub.nc is None or hub.engine is None:
        return
    js = hub.nc.jetstream()
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


def _add_operation(app: FastAPI, op: Operation, admitted: Any, client: Any) -> None:
    """``POST /v1/<operation>``: typed from the contract, so a new operation needs no hand-written route."""

    async def door(request: Request) -> tuple[Caller, Consumer]:
        # A dependency: FastAPI runs it before it reads the body, so strangers meet 401, not a schema lesson.
        caller = _caller(request)
        consumer = await admitted(request, caller, op.name, op.personal_data)
        return Gate.in_context(consumer, caller), consumer

    async def endpoint(caller: tuple[Caller, Consumer], body: Any, **_documented_headers: str | None) -> Response:
        who, consumer = caller
        # The consumer's field rights travel in the assertion; the worker sends only those fields, and the answer
        # is passed on as it came (a partial reply does not validate against the whole output model).
        result = await client().call(
            op.name, body, correlation_id=who.correlation_id, consumer=consumer.name, purpose=who.purpose,
            channel=who.channel, officer=who.officer, consent=who.consent, fields=consumer.fields_for(op.name),
        )  # fmt: skip
        return JSONResponse(
            result.model_dump(mode="json", by_alias=True), headers={CORRELATION_HEADER: who.correlation_id}
        )

    # FastAPI reads the signature: give it the contract's input model, so it documents and validates the body.
    parameters = [
        inspect.Parameter(
            "caller", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[tuple[Caller, Consumer], Depends(door)]
        ),
        inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[op.input, Body()]),
        inspect.Parameter("_a", inspect.Parameter.KEYWORD_ONLY, annotation=AuthHeader, default=None),
        inspect.Parameter("_c", inspect.Parameter.KEYWORD_ONLY, annotation=CorrelationHeader, default=None),
        inspect.Parameter("_ch", inspect.Parameter.KEYWORD_ONLY, annotation=ChannelHeader, default=None),
        inspect.Parameter("_o", inspect.Parameter.KEYWORD_ONLY, annotation=OfficerHeader, default=None),
    ]
    if op.personal_data:
        parameters += [
            inspect.Parameter("_p", inspect.Parameter.KEYWORD_ONLY, annotation=PurposeHeader, default=None),
            inspect.Parameter("_cr", inspect.Parameter.KEYWORD_ONLY, annotation=ConsentHeader, default=None),
        ]
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    app.add_api_route(
        f"/v1/{op.name}",
        endpoint,
        methods=["POST"],
        response_model=op.output,
        responses=_ERRORS,
        summary=op.summary,
        operation_id=op.name.replace(".", "_"),
        tags=[op.name.split(".")[0]],
        description=f"Contract operation `{op.name}` v{op.version} (schema {op.schema_hash})"
        + (", reads personal data: `X-Purpose` required." if op.personal_data else ".")
        + " A consumer whose right names reply fields (`identity.lookup[full_name,birth_date]`) gets only those.",
    )


def _callback_route(hub: Hub, edge: EdgeBus) -> Any:
    async def callback(request: Request) -> Response:
        code, path = request.path_params["agency"], request.path_params["path"]
        service = hub.services.get(code)
        handler = service.agency.callbacks.get(path) if service else None
        if service is None or handler is None:
            return _error_response(_error(ErrorCode.NOT_FOUND, f"No callback {path!r} for agency {code!r} on this hub"))
        body = await request.body()  # bounded by the edge's body limit
        full_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        inbound = InboundRequest(method=request.method, path=full_path, headers=request.headers, body=body)
        log = _log.bind(agency=code, callback=path)
        try:
            reply = await handler(service.connector, inbound)
        except Exception:
            log.exception("callback handler failed")
            return _error_response(
                _error(ErrorCode.INTERNAL, f"The {code} plugin failed on this callback; it is logged", code)
            )
        try:
            for event in reply.events:
                await edge.events.publish(event)
        except Exception as exc:
            # Not recorded means not acknowledged: the agency keeps the notification and sends it again.
            log.error("callback events not recorded", error=type(exc).__name__)
            return _error_response(
                _error(ErrorCode.AGENCY_UNAVAILABLE, "The hub cannot record this right now; send it again later")
            )
        log.info("callback answered", status=reply.status, events=len(reply.events))
        return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))

    return callback


def _submitted_via(who: Caller, body: ApplicationRequest) -> Caller:
    """The caller as the application's audit record names it: through the channel the application says.

    A consumer tied to one channel (or stating one in X-Channel) may not file an application as another.
    """
    stated = body.channel.value
    if who.channel is not None and who.channel != stated:
        raise HubError.of(
            ErrorCode.FORBIDDEN,
            f"This caller comes through the {who.channel} channel, but the application says {stated}; "
            "send the same channel in both",
        )
    return replace(who, channel=stated)


def _error(code: ErrorCode, message: str, agency: str | None = None) -> ContractError:
    return ContractError(code=code, message=message, agency=agency, retryable=code.retryable)
