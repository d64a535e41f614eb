"""The HTTP edge's one door: who calls (the API key), why (the purpose), whether they may (the right), and the
audited refusal. The portal API, ``/metrics`` and the ops dashboard all come in through it.

The door checks before any body is read and never charges the quota: the worker that serves the request
checks again and counts, so nothing reaches an agency around the rights.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog
from fastapi import Request
from fastapi.responses import JSONResponse

from contracts import ContractError, ErrorCode, HubError
from hub._access import Caller, Gate
from hub._auth_limit import AuthFailureLimiter
from hub._consumers import Consumer
from hub._headers import client_address, refuse_bad_headers, request_correlation_id
from hub._plugins import PluginSet

__all__ = [
    "CORRELATION_HEADER",
    "Door",
    "Privilege",
    "bearer",
    "contract_error",
    "correlation_id",
    "error_response",
    "request_caller",
]

CORRELATION_HEADER = "X-Correlation-Id"

_log = structlog.get_logger("hub.door")

#: The request's correlation id, the same wherever it is asked (a malformed header is never echoed).
correlation_id = request_correlation_id


def bearer(request: Request) -> str | None:
    """The API key of ``Authorization: Bearer <key>``, None without one."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key.strip() or None if scheme.lower() == "bearer" else None


def request_caller(request: Request) -> Caller:
    """Who calls, why, from where and for whom, from the headers; malformed ones are refused here."""
    refuse_bad_headers(request)
    headers = request.headers
    return Caller(
        api_key=bearer(request), purpose=headers.get("x-purpose") or None,
        correlation_id=correlation_id(request), channel=headers.get("x-channel") or None,
        officer=headers.get("x-officer") or None, consent=headers.get("x-consent-ref") or None,
    )  # fmt: skip


def contract_error(code: ErrorCode, message: str, agency: str | None = None) -> ContractError:
    return ContractError(code=code, message=message, agency=agency, retryable=code.retryable)


def error_response(
    error: ContractError, cid: str | None = None, *, status: int | None = None, headers: Mapping[str, str] = {}
) -> JSONResponse:
    """A contract error as the edge answers it: ``Retry-After`` when a retry may help, the correlation id."""
    answer = dict(headers)
    if error.retry_after is not None:
        answer["Retry-After"] = str(max(1, round(error.retry_after)))
    elif error.retryable:
        answer["Retry-After"] = "1"
    if cid or error.correlation_id:
        answer[CORRELATION_HEADER] = cid or str(error.correlation_id)
    return JSONResponse(error.model_dump(mode="json"), status_code=status or error.code.http_status, headers=answer)


@dataclass(frozen=True, slots=True)
class Privilege:
    """A right of the hub's own (not a contract operation), and what it lets a consumer do, for the refusal."""

    right: str
    lets: str  # "read metrics": completes "Consumer 'x' may not ..."

    def check(self, consumer: Consumer) -> None:
        if not consumer.may_call(self.right):
            raise HubError.of(
                ErrorCode.FORBIDDEN,
                f"Consumer {consumer.name!r} may not {self.lets}; ops can grant it with "
                f"`mpp-hub consumer add NAME --allow {self.right}`",
            )


class Door:
    """Admits a caller to an operation (:meth:`admit`) or to one of the hub's own privileges (:meth:`admit_to`).

    Failed keys count per client address and per key id, so keys cannot be tried out at speed; every refusal
    of a known consumer is audited here, since it never reaches a worker.
    """

    def __init__(self, gate: Gate, plugins: PluginSet, limiter: AuthFailureLimiter | None = None) -> None:
        self.gate = gate
        self._plugins = plugins
        self._limiter = limiter or AuthFailureLimiter()

    async def admit(
        self, request: Request, caller: Caller, operation: str, personal_data: bool, *, right: bool = True
    ) -> Consumer:
        """The consumer, if it may call ``operation`` for the purpose stated; ``right=False``: any consumer may."""

        async def may(consumer: Consumer) -> None:
            if right:
                await self.gate.allow(consumer, operation, personal_data, caller, charge=False)

        served_by = self._plugins.agency_for(operation)
        # The record names the agency whose data was asked for, so the agency's usage report counts the refusal.
        agency = served_by.code if served_by else None
        return await self._through(request, caller, operation, personal_data, may, agency)

    async def admit_to(self, request: Request, caller: Caller, privilege: Privilege) -> Consumer:
        """The consumer, if it holds ``privilege`` (the dashboard, the metrics)."""

        async def may(consumer: Consumer) -> None:
            privilege.check(consumer)

        return await self._through(request, caller, privilege.right, False, may, None)

    async def _through(
        self,
        request: Request,
        caller: Caller,
        operation: str,
        personal_data: bool,
        may: Callable[[Consumer], Awaitable[None]],
        agency: str | None,
    ) -> Consumer:
        consumer: Consumer | None = None
        try:
            consumer = await self.gate.identify(caller, self._limiter, client_address(request))
            await may(consumer)
        except HubError as exc:
            try:
                await self.gate.record(operation, personal_data, caller, consumer, exc.code.value, agency=agency)
            except Exception as failure:
                # The refusal stands either way (it releases nothing); the missing record is worth a loud line.
                _log.error("refusal not audited", operation=operation, error=type(failure).__name__)
            raise
        return consumer
