"""An application's document: the officer action that makes it, and the citizen's download of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from contracts import ApplicationLookup, ApplicationStatus, ErrorCode, HubError, PublicApplication, TrackingNumber
from hub._access import Caller
from hub._actions import OfficerAction, OfficerCall, action_of, perform
from hub._applications import StoredApplication
from hub._consumers import Consumer
from hub._documents import Document
from hub._door import request_caller
from hub._routes_applications import public_view
from hub._routes_common import (
    ERRORS,
    AuthHeader,
    ChannelHeader,
    ConsentHeader,
    CorrelationHeader,
    EdgeContext,
    OfficerHeader,
    PurposeHeader,
)

__all__ = ["document_response", "documents_router", "valid_document"]

#: What the audit log calls an officer's action (the consumer's own right is the action's, checked as well).
_ACTION = "application.action"
#: What it calls the release of an application's document to its citizen.
_DOWNLOAD = "application.document"
ActionName = Annotated[
    str, Path(pattern=r"^[a-z][a-z0-9_]{0,47}$", examples=["sign"], description="The officer action, by name")
]
ActionBody = Annotated[dict[str, Any], Body(description="What the action takes (its process documents it).")]
#: An application closed with one of these holds no valid document, whatever was kept.
_VOID = frozenset({ApplicationStatus.REJECTED, ApplicationStatus.EXPIRED})
_DOCUMENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The application's document, as kept"}
}


def documents_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(tags=["applications"], responses=ERRORS)
    _add_action(router, context)
    _add_download(router, context)
    return router


def _add_action(router: APIRouter, context: EdgeContext) -> None:
    @router.post("/v1/applications/{tracking_no}/actions/{action}", response_model=PublicApplication)
    async def officer_action(
        request: Request,
        tracking_no: TrackingNumber,
        action: ActionName,
        body: ActionBody,
        _a: AuthHeader = None,
        _p: PurposeHeader = None,
        _c: CorrelationHeader = None,
        _ch: ChannelHeader = None,
        _o: OfficerHeader = None,
        _cr: ConsentHeader = None,
    ) -> Response:
        """An officer completes a step the application waits at (a signing official signs its permit).

        Needs the right the action names (for signing, `document.sign`): the action's own calls are made as
        this consumer. What the body holds (a passphrase) is used at once and never stored. An application
        not waiting for the action is `conflict`; a submission interrupted (a hub restart) is submitted again.
        """
        caller = request_caller(request)
        consumer = await context.door.admit(request, caller, _ACTION, True, right=False)
        engine = context.engine()
        found = await engine.store.get(tracking_no)
        if found is None:
            await context.edge.gate.record(_ACTION, True, caller, consumer, ErrorCode.NOT_FOUND.value)
            raise HubError.of(ErrorCode.NOT_FOUND, f"No application {tracking_no} on this hub")
        who = context.edge.gate.in_context(consumer, caller)
        try:
            chosen = action_of(engine, found[0].application, action)
            await context.edge.gate.allow(consumer, chosen.right, False, caller, charge=False)
            application = await perform(
                engine, tracking_no, action, _body(chosen, action, body), _officer_call(context, consumer, who)
            )
        except HubError as exc:
            await _record(context, who, consumer, found[0], exc.code.value)
            raise
        await _record(context, who, consumer, found[0], "ok")
        return JSONResponse(public_view(application).model_dump(mode="json"))


def _body(action: OfficerAction[Any], name: str, raw: dict[str, Any]) -> BaseModel:
    model: type[BaseModel] = action.body
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise HubError.from_validation(exc, f"{name} body") from None  # never echoes a value (a passphrase)


def _officer_call(context: EdgeContext, consumer: Consumer, who: Caller) -> OfficerCall:
    async def call(operation: str, payload: Mapping[str, Any]) -> BaseModel:
        return await context.client().call(
            operation, dict(payload), correlation_id=who.correlation_id, consumer=consumer.name,
            purpose=who.purpose, channel=who.channel, officer=who.officer, consent=who.consent,
        )  # fmt: skip

    return call


async def _record(
    context: EdgeContext,
    who: Caller,
    consumer: Consumer,
    stored: StoredApplication,
    outcome: str,
    operation: str = _ACTION,
) -> None:
    """An action or a download, audited under its applicant (kept only hashed, as the application keeps them)."""
    hashed = (stored.keys.subject, stored.application.applicant_nik)
    await context.edge.gate.record(operation, True, who, consumer, outcome, hashed_subject=hashed)


def _add_download(router: APIRouter, context: EdgeContext) -> None:
    @router.post("/v1/applications/document", response_class=Response, responses=_DOCUMENT)
    async def download_document(request: Request, body: ApplicationLookup, _a: AuthHeader = None) -> Response:
        """A citizen downloads their application's document: the tracking number **and** the birth date.

        As the lookup: a wrong number and a wrong birth date get the same answer. Right `application.lookup`.
        """
        caller = request_caller(request)
        consumer = await context.door.admit(request, caller, "application.lookup", False)
        engine = context.engine()
        stored = await context.edge.lookups.find(engine.store, body.tracking_no, body.birth_date)
        document = await valid_document(context, stored)
        if document is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"Application {body.tracking_no} has no document (yet)")
        # The document names its holder: its release is audited under the applicant, as an application read is.
        await _record(context, context.edge.gate.in_context(consumer, caller), consumer, stored, "ok", _DOWNLOAD)
        return document_response(document)


async def valid_document(context: EdgeContext, stored: StoredApplication) -> Document | None:
    """The document kept for the application, if any; none for an application closed otherwise (expired while
    being signed), whose kept document is void. The API's download and the citizen page's both ask here."""
    if stored.application.status in _VOID:
        return None
    return await context.engine().documents.get(stored.application.tracking_no)


def document_response(document: Document) -> Response:
    """The document as a download, never cached."""
    headers = {"Content-Disposition": f'attachment; filename="{document.filename}"', "Cache-Control": "no-store"}
    return Response(document.content, media_type=document.media_type, headers=headers)
