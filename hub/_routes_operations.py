"""``POST /v1/<operation>`` for every contract operation, generated from the contract, and the catalogue."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response

from contracts import OPERATIONS, Catalogue, ErrorCode, HubError, Operation
from hub._access import Caller, Gate
from hub._consumers import Consumer
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

__all__ = ["operations_router"]


def operations_router(context: EdgeContext) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/services", response_model=Catalogue, responses=ERRORS, tags=["catalogue"])
    async def services(request: Request, _a: AuthHeader = None, _c: CorrelationHeader = None) -> Response:
        """The catalogue: agencies served on the bus, their operations, contract versions and health."""
        await context.door.admit(request, request_caller(request), "hub.services", False, right=False)
        catalogue = await context.client().catalogue(wait=0.25)
        return JSONResponse(catalogue.model_dump(mode="json"))

    for op in OPERATIONS:
        _add_operation(router, op, context)
    return router


def _add_operation(router: APIRouter, op: Operation, context: EdgeContext) -> None:
    """``POST /v1/<operation>``: typed from the contract, so a new operation needs no hand-written route."""

    async def door(request: Request) -> tuple[Caller, Consumer]:
        # A dependency: FastAPI runs it before it reads the body, so strangers meet 401, not a schema lesson.
        caller = request_caller(request)
        consumer = await context.door.admit(request, caller, op.name, op.personal_data)
        return Gate.in_context(consumer, caller), consumer

    async def endpoint(caller: tuple[Caller, Consumer], body: Any, **_documented_headers: str | None) -> Response:
        who, consumer = caller
        # The consumer's field rights travel in the assertion; the worker sends only those fields, and the answer
        # is passed on as it came (a partial reply does not validate against the whole output model).
        try:
            result = await context.client().call(
                op.name, body, correlation_id=who.correlation_id, consumer=consumer.name, purpose=who.purpose,
                channel=who.channel, officer=who.officer, consent=who.consent, fields=consumer.fields_for(op.name),
            )  # fmt: skip
        except HubError as exc:
            raise _as_hub_refusal(exc) from None
        return JSONResponse(
            result.model_dump(mode="json", by_alias=True), headers={CORRELATION_HEADER: who.correlation_id}
        )

    endpoint.__signature__ = _signature(op, door)  # type: ignore[attr-defined]
    router.add_api_route(
        f"/v1/{op.name}",
        endpoint,
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


def _signature(op: Operation, door: Any) -> inspect.Signature:
    """What FastAPI reads of the endpoint: the contract's input model (so it documents and validates the body),
    the door as a dependency, and the headers to document."""

    def keyword(name: str, annotation: Any, **default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, **default)

    parameters = [
        keyword("caller", Annotated[tuple[Caller, Consumer], Depends(door)]),
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
