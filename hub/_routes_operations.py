"""``POST /v1/<operation>`` for every contract operation, generated from the contract, and the catalogue."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts import Catalogue, ErrorCode, HubError, Operation
from hub._access import Gate
from hub._assertions import Statement
from hub._door import CORRELATION_HEADER, request_caller
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

__all__ = ["LeanRoute", "lean_operations", "operations_router"]


def operations_router(context: EdgeContext) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/services", response_model=Catalogue, responses=ERRORS, tags=["catalogue"])
    async def services(request: Request, _a: AuthHeader = None, _c: CorrelationHeader = None) -> Response:
        """The catalogue: agencies served on the bus, their operations, contract versions and health."""
        await context.door.admit(request, request_caller(request), "hub.services", False, right=False)
        catalogue = await context.client().catalogue(wait=0.25)
        return JSONResponse(catalogue.model_dump(mode="json"))

    for op in context.hub.plugins.operations:
        _document_operation(router, op)
    return router


#: A contract operation's route as the edge serves it, ahead of FastAPI (``hub._http``).
LeanRoute = Callable[[Request], Awaitable[Response]]


def lean_operations(context: EdgeContext) -> dict[str, LeanRoute]:
    """``POST /v1/<operation>`` for every operation of the hub's contract (the core's and its plugins' packages'), by
    path: served ahead of FastAPI's middleware and routing.

    They decode the body once and pass the worker's reply on as it came. FastAPI's per-request layers, its
    dependency resolution, and its validation and serialisation of what the worker had already validated were
    most of the edge's CPU per call (docs/performance.md). FastAPI's routes on the same paths
    (:func:`operations_router`) document them in OpenAPI, from the contract, and are never reached.
    """
    return {f"/v1/{op.name}": _lean(op, context) for op in context.hub.plugins.operations}


def _lean(op: Operation, context: EdgeContext) -> LeanRoute:
    async def serve(request: Request) -> Response:
        # The door before the body: strangers meet 401, not a schema lesson.
        caller = request_caller(request)
        consumer = await context.door.admit(request, caller, op.name, op.personal_data)
        who = Gate.in_context(consumer, caller)
        payload = _payload(op, request.headers.get("content-type"), await _body(request))
        # The consumer's field rights travel in the assertion; the worker sends only those fields.
        statement = Statement(
            purpose=who.purpose, channel=who.channel, officer=who.officer, consent=who.consent,
            fields=consumer.fields_for(op.name),
        )  # fmt: skip
        try:
            reply = await context.client().relay(
                op.name, payload, correlation_id=who.correlation_id, consumer=consumer.name, statement=statement
            )
        except HubError as exc:
            raise _as_hub_refusal(exc) from None
        return Response(reply, media_type="application/json", headers={CORRELATION_HEADER: who.correlation_id})

    return serve


def _document_operation(router: APIRouter, op: Operation) -> None:
    """FastAPI's route for ``POST /v1/<operation>``, for the OpenAPI document only (see :func:`lean_operations`)."""

    async def documented(**_: Any) -> Response:
        raise AssertionError("the edge serves this path ahead of FastAPI (hub._http)")  # pragma: no cover

    documented.__signature__ = _signature(op)  # type: ignore[attr-defined]
    router.add_api_route(
        f"/v1/{op.name}",
        documented,
        methods=["POST"],
        response_model=op.output,
        responses=ERRORS,
        summary=op.summary,
        operation_id=op.name.replace(".", "_"),
        tags=[op.name.split(".")[0]],
        description=f"Contract operation `{op.name}` v{op.version} (schema {op.schema_hash})"
        + (", reads personal data: `X-Purpose` required." if op.personal_data else ".")
        + " A consumer whose right names reply fields (`identity.lookup[full_name,birth_date]`) gets only those.",
    )


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except ValueError:  # the body limit, for a body sent without Content-Length (hub._http._BodyLimit)
        raise StarletteHTTPException(413) from None


def _payload(op: Operation, content_type: str | None, body: bytes) -> BaseModel:
    """The request, decoded and checked in one pass; refusals in the form FastAPI's own validation gives them."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        given = f"it came as {media}" if media else "it came without one"
        message = f"send the body as JSON, with Content-Type: application/json ({given})"
        raise RequestValidationError([{"type": "content_type", "loc": ("body",), "msg": message}])
    try:
        return op.input.model_validate_json(body)
    except ValidationError as exc:
        errors = [_located(error, body) for error in exc.errors(include_url=False)]
        raise RequestValidationError(errors, body=body) from None


def _located(error: Any, body: bytes) -> Any:
    """One of pydantic's errors placed as FastAPI places them (under ``body``); JSON syntax errors with the
    standard library's reason and offset, which say where the body went wrong in words a person reads."""
    if error["type"] != "json_invalid":
        return {**error, "loc": ("body", *error["loc"])}
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        return {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "ctx": {"error": exc.msg}}
    except (ValueError, RecursionError):  # not UTF-8, nested too deep: pydantic's own reason says it
        pass
    return {**error, "loc": ("body",), "ctx": {"error": error["msg"]}}


def _signature(op: Operation) -> inspect.Signature:
    """What FastAPI documents of the route: the contract's input model as the body, and the headers."""

    def keyword(name: str, annotation: Any, **default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, **default)

    parameters = [
        keyword("body", Annotated[op.input, Body()]),
        keyword("_a", AuthHeader, default=None),
        keyword("_c", CorrelationHeader, default=None),
        keyword("_ch", ChannelHeader, default=None),
        keyword("_o", OfficerHeader, default=None),
    ]
    if op.personal_data:
        parameters += [keyword("_p", PurposeHeader, default=None), keyword("_cr", ConsentHeader, default=None)]
    return inspect.Signature(parameters)


def _as_hub_refusal(exc: HubError) -> HubError:
    """A worker's refusal of the key the door let through is the hub's, said in the portal's terms.

    It happens when the consumer was revoked and a worker heard of it before this edge did; the worker speaks of
    caller assertions, which are the hub's business, and (before it stopped naming its agency on a refused
    caller) blamed the agency it serves (``unauthorized (dukcapil)``) for a key that agency never saw.
    """
    error = exc.error
    if error.code is not ErrorCode.UNAUTHORIZED:
        return exc
    message = f"The hub refused this API key before any agency was asked: {error.message}"
    return HubError(error.model_copy(update={"agency": None, "message": message}))
