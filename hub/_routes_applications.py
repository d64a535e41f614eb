"""Applications (permohonan): submitted, followed by desks and portals, and looked up by the citizen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Literal, Union

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field, TypeAdapter, create_model

from contracts import (
    NIK,
    Application,
    ApplicationLookup,
    ApplicationRequest,
    ApplicationStatus,
    ErrorCode,
    HubError,
    PublicApplication,
    TrackingNumber,
)
from hub._access import Caller
from hub._applications import StoredApplication
from hub._consumers import Consumer
from hub._door import request_caller
from hub._process import Process
from hub._routes_common import (
    ERRORS,
    AuthHeader,
    ChannelHeader,
    CorrelationHeader,
    EdgeContext,
    OfficerHeader,
    PurposeHeader,
)

__all__ = ["SUBMISSION", "applications_router", "public_view", "submission_models", "submission_schemas"]

_READ = "application.read"
#: The OpenAPI component of what ``POST /v1/applications`` takes on this hub.
SUBMISSION = "ApplicationSubmission"
_COMPONENT = "#/components/schemas/{model}"
StatusQuery = Annotated[ApplicationStatus | None, Query(description="Only the applications with this status")]
#: A desk works its queue from the oldest; a bound keeps one read from costing an audit record per application ever.
LimitQuery = Annotated[int, Query(ge=1, le=1000, description="At most this many applications, the oldest first")]


def applications_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(tags=["applications"], responses=ERRORS)
    _add_submit_and_lookup(router, context)
    _add_reads(router, context)
    return router


def _add_submit_and_lookup(router: APIRouter, context: EdgeContext) -> None:
    gate = context.edge.gate
    processes = context.hub.plugins.processes
    published = {"content": {"application/json": {"schema": {"$ref": _COMPONENT.format(model=SUBMISSION)}}}}

    @router.post(
        "/v1/applications",
        response_model=Application,
        status_code=201,
        openapi_extra={"requestBody": published} if processes else None,
    )
    async def submit_application(
        request: Request,
        body: ApplicationRequest,
        _a: AuthHeader = None,
        _p: PurposeHeader = None,
        _c: CorrelationHeader = None,
        _ch: ChannelHeader = None,
        _o: OfficerHeader = None,
    ) -> Response:
        """Start an application; the answer carries its tracking number. Needs the right `application.submit`.

        An `X-Channel` the caller states must be the application's own `channel`.
        """
        caller = request_caller(request)
        consumer = await context.door.admit(request, caller, "application.submit", True)
        try:
            who = _submitted_via(gate.in_context(consumer, caller), body)
        except HubError as exc:
            await gate.record("application.submit", True, caller, consumer, exc.code.value, body.applicant_nik)
            raise
        application = await context.engine().submit(body)
        await gate.record("application.submit", True, who, consumer, "ok", body.applicant_nik)
        return JSONResponse(application.model_dump(mode="json"), status_code=201)

    @router.post("/v1/applications/lookup", response_model=PublicApplication)
    async def lookup_application(request: Request, body: ApplicationLookup, _a: AuthHeader = None) -> Response:
        """A citizen follows their application: the tracking number **and** the applicant's birth date.

        A wrong number and a wrong birth date get the same answer, so numbers cannot be tried out.
        Right `application.lookup` (a portal or kiosk asks on the citizen's behalf).
        """
        await context.door.admit(request, request_caller(request), "application.lookup", False)
        found = await context.edge.lookups.find(context.engine().store, body.tracking_no, body.birth_date)
        return JSONResponse(public_view(found.application).model_dump(mode="json"))


def _add_reads(router: APIRouter, context: EdgeContext) -> None:
    """A desk's or a portal's reads (right `application.read`), each audited under its applicants."""
    gate = context.edge.gate

    async def reader(request: Request) -> tuple[Caller, Consumer]:
        caller = request_caller(request)
        return caller, await context.door.admit(request, caller, _READ, True)

    @router.get("/v1/applications", response_model=list[Application])
    async def list_applications(
        request: Request,
        status: StatusQuery = None,
        limit: LimitQuery = 100,
        _a: AuthHeader = None,
        _p: PurposeHeader = None,
    ) -> Response:
        """The applications on this hub, oldest first (at most `limit`, 100 unless given), or only those with
        `status` (for the mall's desks and back office: right `application.read`). Applicants' NIKs are masked;
        each applicant's audit trail records this read."""
        caller, consumer = await reader(request)
        stored = await context.engine().store.every_stored()
        found = [s for s in stored if status in (None, s.application.status)][:limit]
        await _record_reads(context, caller, consumer, found)
        return JSONResponse([s.application.model_dump(mode="json") for s in found])

    @router.get("/v1/applications/{tracking_no}", response_model=Application)
    async def get_application(
        request: Request, tracking_no: TrackingNumber, _a: AuthHeader = None, _p: PurposeHeader = None
    ) -> Response:
        """An application with its whole status history (for desks and portals: right `application.read`)."""
        caller, consumer = await reader(request)
        found = await context.engine().store.get(tracking_no)
        if found is None:
            await gate.record(_READ, True, caller, consumer, ErrorCode.NOT_FOUND.value)
            raise HubError.of(ErrorCode.NOT_FOUND, f"No application {tracking_no} on this hub")
        await _record_reads(context, caller, consumer, [found[0]])
        return JSONResponse(found[0].application.model_dump(mode="json"))

    @router.get("/v1/citizens/{nik}/applications", response_model=list[Application])
    async def citizen_applications(
        request: Request, nik: NIK, _a: AuthHeader = None, _p: PurposeHeader = None
    ) -> Response:
        """Every application of one citizen, oldest first (right `application.read`)."""
        caller, consumer = await reader(request)
        found = await context.engine().store.for_citizen(nik)
        await gate.record(_READ, True, caller, consumer, "ok", nik)
        return JSONResponse([a.model_dump(mode="json") for a in found])


def submission_models(processes: Mapping[str, Process]) -> list[type[ApplicationRequest]]:
    """An application for each process this hub runs: its ``service`` code, and its process's params model."""
    return [
        create_model(
            "".join(part.capitalize() for part in code.split("-")) + "Request",
            __base__=ApplicationRequest,
            __doc__=f"An application for {code} ({process.title}).",
            service=(_only(code), Field(description="The service applied for, by its code.")),
            params=(process.params, _params_field(code, process)),
        )
        for code, process in sorted(processes.items())
    ]


def _only(code: str) -> Any:
    """The type whose one value is ``code`` (a ``Literal`` made at run time, which a type checker cannot follow)."""
    literal: Any = Literal
    return literal[code]


def _params_field(code: str, process: Process) -> Any:
    described = f"What {code} needs."
    if any(field.is_required() for field in process.params.model_fields.values()):
        return Field(description=described)
    return Field(default_factory=dict, description=described)  # the engine takes none as {}


def submission_schemas(processes: Mapping[str, Process]) -> dict[str, dict[str, Any]]:
    """The OpenAPI component schemas of what ``POST /v1/applications`` takes on this hub (none: it runs no process).

    The route still validates the body as an ``ApplicationRequest`` and leaves ``service`` and ``params`` to the
    process engine, so its refusals stay the engine's; this only publishes what the engine accepts, as a union
    told apart by ``service`` (FastAPI's own document would say any service code and any params).
    """
    if not processes:
        return {}
    models = tuple(submission_models(processes))
    union: Any = Annotated[Union[models], Field(discriminator="service")]  # noqa: UP007  # built at run time
    schema = TypeAdapter(union).json_schema(ref_template=_COMPONENT)
    components: dict[str, dict[str, Any]] = schema.pop("$defs")
    components[SUBMISSION] = {
        **schema,
        "title": SUBMISSION,
        "description": "An application for one of the services this hub runs, told apart by `service`.",
    }
    return components


async def _record_reads(
    context: EdgeContext, caller: Caller, consumer: Consumer, read: list[StoredApplication]
) -> None:
    """One audit record per applicant whose application was read, so `mpp-hub audit who-read` finds each read.

    The application keeps its applicant's NIK only hashed, as the audit log does: the record is keyed by that hash.
    """
    applicants = {s.keys.subject: s.application.applicant_nik for s in read}  # the masked NIK
    for subject_hash, masked in applicants.items():
        hashed = (subject_hash, masked)
        await context.edge.gate.record(_READ, True, caller, consumer, "ok", hashed_subject=hashed)


def public_view(application: Application) -> PublicApplication:
    """What the citizen's own lookup shows: no NIK, no channel, no agencies."""
    return PublicApplication(
        tracking_no=application.tracking_no, service=application.service, title=application.title,
        status=application.status, details=application.details, history=application.history,
        updated_at=application.updated_at,
    )  # fmt: skip


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
