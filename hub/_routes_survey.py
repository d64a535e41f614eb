"""The satisfaction survey (SKM) over HTTP: a citizen rates a visit once it is served; managers read the IKM.

Rights: `survey.submit` sends a survey (the citizen page, a kiosk, a desk's tablet), which must also carry the
proof that the visit is the citizen's own: the ticket's code, or the application's birth date (checked and not
kept). `survey.read` reads the index (``hub._ikm``) by element, service, desk, agency, channel or period.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from contracts import (
    ApplicationStatus,
    ErrorCode,
    HubError,
    IkmGrouping,
    IkmReport,
    SurveyRecord,
    SurveyRequest,
    TicketStatus,
)
from hub._door import Privilege, request_caller
from hub._ikm import ikm_report
from hub._routes_common import ERRORS, AuthHeader, EdgeContext
from hub._survey import survey_record_for_application, survey_record_for_ticket

__all__ = ["survey_record_of", "survey_router"]

_SUBMIT = Privilege("survey.submit", "send satisfaction surveys")
_READ = Privilege("survey.read", "read the satisfaction index")
#: An application is served once the mall has answered it; an expired one waited on the citizen.
_SERVED = (ApplicationStatus.DONE, ApplicationStatus.REJECTED)


def survey_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(prefix="/v1/survey", tags=["survey"], responses=ERRORS)
    door, front = context.door, context.edge.front

    @router.post("", response_model=SurveyRecord, status_code=201)
    async def submit(request: Request, body: SurveyRequest, _a: AuthHeader = None) -> Response:
        """Rate a served visit (a ticket that is done) or application (done or rejected), once; the answer is
        the survey as kept, which names no one (right `survey.submit`)."""
        await door.admit_to(request, request_caller(request), _SUBMIT)
        record = await front.surveys.submit(await survey_record_of(context, body))
        return JSONResponse(record.model_dump(mode="json"), status_code=201)

    @router.get("/ikm", response_model=IkmReport)
    async def ikm(
        request: Request,
        start: dt.date,
        days: int = Query(1, ge=1, le=366, description="How many WIB days from start, start included."),
        grouping: IkmGrouping = Query(IkmGrouping.ALL),  # noqa: B008  # FastAPI's way of documenting a default
        _a: AuthHeader = None,
    ) -> Response:
        """The satisfaction index of the surveys given on `days` WIB days from `start`, per group (right
        `survey.read`)."""
        await door.admit_to(request, request_caller(request), _READ)
        end = start + min(dt.timedelta(days=days - 1), dt.date.max - start)  # no day after 9999-12-31
        surveys = await front.surveys.between(start, end)
        report = ikm_report(surveys, grouping)
        return JSONResponse(report.model_dump(mode="json"), headers={"Cache-Control": "no-store"})

    return router


async def survey_record_of(context: EdgeContext, body: SurveyRequest) -> SurveyRecord:
    """The survey to keep, once the visit it rates is found, proven the citizen's own, and served (the API's
    route and the citizen page's both come here)."""
    queue = context.edge.queue
    if body.ticket_id is not None and body.code is not None:
        queue.check_code(body.ticket_id, body.code)
        ticket = await queue.get(body.ticket_id)
        if ticket.status is not TicketStatus.DONE:
            message = f"Tiket {ticket.number} belum selesai dilayani: survei dibuka setelah loket selesai melayani"
            raise HubError.of(ErrorCode.CONFLICT, message)
        return survey_record_for_ticket(ticket, body.answers, queue.services[ticket.service])
    assert body.tracking_no is not None and body.birth_date is not None  # the model requires one subject and its proof
    found = await context.edge.lookups.find(context.engine().store, body.tracking_no, body.birth_date)
    application = found.application
    if application.status not in _SERVED:
        message = f"Permohonan {application.tracking_no} belum selesai: survei dibuka setelah permohonan selesai"
        raise HubError.of(ErrorCode.CONFLICT, message)
    return survey_record_for_application(application, body.answers, agency=application.agencies[0])
