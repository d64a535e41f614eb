"""One citizen: the profile from every agency at once, and the log of who read their personal data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from contracts import NIK, AccessLog, CitizenProfile, ErrorCode, HubError
from hub._access_log import access_log
from hub._checkpointer import Checkpointer
from hub._door import CORRELATION_HEADER, request_caller
from hub._profile import fetch_profile
from hub._routes_common import ERRORS, AuthHeader, CorrelationHeader, EdgeContext, PurposeHeader

__all__ = ["citizens_router"]


def citizens_router(context: EdgeContext) -> APIRouter:
    router = APIRouter(prefix="/v1/citizens/{nik}", tags=["citizens"], responses=ERRORS)
    gate = context.edge.gate

    @router.get("/profile", response_model=CitizenProfile)
    async def profile(
        request: Request, nik: NIK, _a: AuthHeader = None, _p: PurposeHeader = None, _c: CorrelationHeader = None
    ) -> Response:
        """Identity, health coverage and vehicles of one resident, fetched from the agencies in parallel.

        Every part says which agency it came from, when, and its status or contract error, so a portal can
        show what is missing and why; the whole answer comes within the hub's profile budget. Needs the right
        `citizen.profile`, and each part the right to its own operation (a part the consumer may not read, or
        may read only some fields of, comes back as `forbidden`).
        """
        caller = request_caller(request)
        consumer = await context.door.admit(request, caller, "citizen.profile", True)
        who = gate.in_context(consumer, caller)
        plugins, budget = context.hub.plugins, context.profile_budget
        result = await fetch_profile(context.client(), plugins, nik, who, consumer, budget=budget)
        return JSONResponse(result.model_dump(mode="json"), headers={CORRELATION_HEADER: caller.correlation_id})

    @router.get("/access-log", response_model=AccessLog)
    async def citizen_access_log(
        request: Request, nik: NIK, _a: AuthHeader = None, _p: PurposeHeader = None, _c: CorrelationHeader = None
    ) -> Response:
        """Who read this citizen's personal data, when, why and on what legal basis, oldest first: each entry
        with a receipt proving it stands in the witnessed audit log (right `citizen.access_log`).

        For the portal to show the citizen once it has signed them in; this read is itself recorded.
        """
        caller = request_caller(request)
        consumer = await context.door.admit(request, caller, "citizen.access_log", True)
        log = _signing(context.audit_log)
        found = await log.about(gate.audit.subject_hash(nik))
        await gate.record("citizen.access_log", True, caller, consumer, "ok", nik)
        answer = access_log(nik, found, log.latest_size)
        return JSONResponse(answer.model_dump(mode="json"), headers={CORRELATION_HEADER: caller.correlation_id})

    return router


def _signing(audit_log: Checkpointer | None) -> Checkpointer:
    """The checkpointer, if it is signing: receipts from a broken one would prove nothing."""
    if audit_log is None or audit_log.broken is not None:
        raise HubError.of(
            ErrorCode.INTERNAL, "The audit log's checkpoints are not being signed on this hub; ask its operator "
            "to run `mpp-hub audit verify`", retryable=True, retry_after=30,
        )  # fmt: skip
    return audit_log
