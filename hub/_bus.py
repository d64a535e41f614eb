"""The bus: every contract operation served on its NATS subject through ``nats.micro``.

Workers join one queue group, so any number of hub processes share the load, and standard
NATS tooling (``$SRV.PING/INFO/STATS``) discovers and measures them. Requests and replies are
the contract's JSON; errors travel as the contract error, never as a raw exception ``repr``.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import Service
from pydantic import BaseModel, ValidationError

from contracts import (
    CONTRACT_VERSION,
    OPERATIONS,
    AgencyHealth,
    ContractError,
    ErrorCode,
    HealthStatus,
    HubError,
    Mask,
    Operation,
    TrafficRecord,
)
from hub._access import Caller, DataSubject, Gate, data_subject, subject_nik
from hub._agency import Agency, CallContext, Connector, Served
from hub._assertions import ASSERTION_HEADER, AssertionLedger, Claims, Verifier
from hub._audit import AuditRecord
from hub._consumers import Consumer
from hub._logging import CallValues
from hub._metrics import Metrics
from hub._resilience import CircuitState, Guard, ResiliencePolicy
from hub._rights import narrowest, release
from hub._time import utcnow
from hub._traffic import TrafficTap

__all__ = [
    "CORRELATION_HEADER",
    "DEADLINE_HEADER",
    "FIELDS_HEADER",
    "PURPOSE_HEADER",
    "QUEUE_GROUP",
    "AgencyService",
    "health_subject",
    "provider_subject",
    "safe_health",
    "service_name",
]

CORRELATION_HEADER = "Mpp-Correlation-Id"
#: The purpose of access the caller states (informative: the worker goes by the assertion's purpose).
PURPOSE_HEADER = "Mpp-Purpose"
#: Milliseconds the caller still waits; relative, because worker clocks may differ from the caller's.
DEADLINE_HEADER = "Mpp-Deadline-Ms"
#: On a reply the consumer's rights cut short: the fields it holds (the caller checks those, not the whole model).
FIELDS_HEADER = "Mpp-Fields"
QUEUE_GROUP = "mpp-hub"
_DEFAULT_BUDGET = 30.0
_NIK_MASK = Mask(keep_start=4, keep_end=2)
# Fail closed: personal data is never released without its audit record.
# Retryable: the usual cause is JetStream electing a new leader (a NATS node restarting), over in seconds.
_AUDIT_DOWN = HubError.of(
    ErrorCode.INTERNAL,
    "The audit log cannot be written right now; no personal data is released without a record",
    retryable=True,
    retry_after=2,
)

_log = structlog.get_logger("hub.bus")


def service_name(agency: str) -> str:
    return f"mpp-{agency}"


def health_subject(agency: str) -> str:
    """Where a provider's health is asked (an agency's own provider is named by its code)."""
    return f"mpp.health.{agency}"


def provider_subject(subject: str, provider: str) -> str:
    """The subject only ``provider`` serves an operation on (``mpp.v1.payment.create_bill.bank_contoh``); the
    operation's default provider also serves its bare subject."""
    return f"{subject}.{provider}"


@dataclass
class _Exchange:
    """One request as a worker serves it: who asked, what, and what came of it."""

    caller: Caller
    consumer: Consumer | None = None
    payload: BaseModel | None = None
    result: BaseModel | None = None
    error: ContractError | None = None
    fields: tuple[str, ...] | None = None  # the reply fields released; None: all
    #: The record written as the call went through to its agency (its write runs beside the agency call).
    admitted: asyncio.Future[AuditRecord | None] | None = None

    @property
    def outcome(self) -> str:
        return self.error.code.value if self.error else "ok"


def _caller_of(claims: Claims, correlation_id: str) -> Caller:
    return Caller(
        api_key=None, purpose=claims.pur, correlation_id=correlation_id, channel=claims.ch, officer=claims.ofc,
        consent=claims.cns,
    )  # fmt: skip


def _budget(headers: dict[str, str]) -> float:
    try:
        return max(0.0, float(headers[DEADLINE_HEADER]) / 1000)
    except (KeyError, ValueError):
        return _DEFAULT_BUDGET


class AgencyService:
    """One provider's operations on the bus, answered by its connector.

    ``provider`` names the configured instance of the agency's plugin it serves (default: the agency's code);
    ``defaults`` are the operations it is the default provider of, also served on their bare subject (default:
    all it serves, as when an agency is the only provider).
    """

    def __init__(
        self,
        nc: NATS,
        agency: Agency[Any, Any],
        connector: Connector,
        gate: Gate,
        tap: TrafficTap,
        metrics: Metrics,
        policy: ResiliencePolicy,
        verifier: Verifier,
        ledger: AssertionLedger,
        *,
        provider: str | None = None,
        defaults: Collection[str] | None = None,
    ) -> None:
        self.agency = agency
        self.provider = provider or agency.code
        self.defaults = frozenset(agency.operations if defaults is None else defaults)
        # Audit records name a provider only when it is not the agency's own (records of the rest are unchanged).
        self._named_provider = None if self.provider == agency.code else self.provider
        self.verifier = verifier
        self.ledger = ledger
        self.connector = connector
        self.gate = gate
        self.tap = tap
        self.metrics = metrics
        circuit_gauge = metrics.circuit_open.labels(metrics.worker, agency.code, self.provider)
        circuit_gauge.set(0)
        self.guard = Guard(
            agency.code, policy, lambda state: circuit_gauge.set(0 if state is CircuitState.CLOSED else 1)
        )
        self._nc = nc
        self._service: Service | None = None
        # micro awaits each handler before reading the next message of a subscription, so requests
        # are answered in tasks of their own: one slow agency call must not queue the rest.
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        agency = self.agency
        self._service = await add_service(
            self._nc,
            name=service_name(self.provider),
            version=agency.version,
            description=agency.name,
            queue_group=QUEUE_GROUP,
            metadata={
                "agency": agency.code, "provider": self.provider, "kind": agency.kind.value,
                "contract_version": CONTRACT_VERSION,
            },
        )  # fmt: skip
        for name, served in agency.operations.items():
            op = OPERATIONS.get(name)
            handler = self._concurrently(functools.partial(self._answer, op=op, served=served))
            meta = {"operation": op.name, "contract_version": op.version, "schema_hash": op.schema_hash}
            endpoint, named = name.replace(".", "-"), provider_subject(op.subject, self.provider)
            await self._service.add_endpoint(name=f"{endpoint}-named", subject=named, handler=handler, metadata=meta)
            if name in self.defaults:  # the operation's default provider also answers requests that name none
                await self._service.add_endpoint(name=endpoint, subject=op.subject, handler=handler, metadata=meta)
        await self._service.add_endpoint(
            name="health", subject=health_subject(self.provider), handler=self._concurrently(self._answer_health)
        )

    async def stop(self, grace: float = 10.0) -> None:
        if self._service is not None:
            await self._service.stop()
            self._service = None
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)

    def _concurrently(
        self, answer: Callable[[Request], Coroutine[Any, Any, None]]
    ) -> Callable[[Request], Coroutine[Any, Any, None]]:
        async def handler(request: Request) -> None:
            task = asyncio.create_task(answer(request))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

        return handler

    async def _answer_health(self, request: Request) -> None:
        health = await safe_health(self.agency.code, self.connector, self.provider)
        await request.respond(health.model_dump_json().encode())

    async def _answer(self, request: Request, op: Operation, served: Served[Any]) -> None:
        in_flight = self.metrics.in_flight.labels(self.metrics.worker, self.agency.code, self.provider, op.name)
        in_flight.inc()
        try:
            await self._answer_one(request, op, served)
        finally:
            in_flight.dec()

    async def _answer_one(self, request: Request, op: Operation, served: Served[Any]) -> None:
        headers = request.headers or {}
        cid = headers.get(CORRELATION_HEADER) or uuid.uuid4().hex
        ctx = CallContext(op.name, cid, time.monotonic() + _budget(headers))
        started = time.perf_counter()
        call = CallValues()
        with (
            structlog.contextvars.bound_contextvars(
                correlation_id=cid, operation=op.name, agency=self.agency.code, provider=self.provider
            ),
            call.bound(),
        ):
            done = await self._serve(request, op, served, ctx, call)
            subject = data_subject(done.payload, done.result)
            try:
                await self._settle_record(op, done, subject)
            except Exception as exc:  # an operational condition (a NATS node restarting), not a bug: no traceback
                _log.error("audit record not written", error=str(exc))
                done.result, done.error = None, _AUDIT_DOWN.error.model_copy(update={"correlation_id": cid})
            body = await self._respond(request, done)
            record = TrafficRecord(
                at=utcnow(), correlation_id=cid, operation=op.name, agency=self.agency.code, provider=self.provider,
                consumer=done.consumer.name if done.consumer else None,
                outcome=done.outcome, latency_ms=_elapsed_ms(started),
                request_bytes=len(request.data), response_bytes=len(body), worker=self.metrics.worker,
                subject=_NIK_MASK.apply(subject.value) if subject else None,
            )  # fmt: skip
            self.metrics.observe(record)
            await self.tap.publish(record)
            _log.info(
                "call answered" if done.error is None else "call failed",
                code=record.outcome, consumer=record.consumer, ms=record.latency_ms,
            )  # fmt: skip

    async def _serve(
        self, request: Request, op: Operation, served: Served[Any], ctx: CallContext, call: CallValues
    ) -> _Exchange:
        """Check the caller's assertion and rights, then call the agency; every refusal lands in ``error``."""
        headers = request.headers or {}
        done = _Exchange(Caller(api_key=None, purpose=None, correlation_id=ctx.correlation_id))
        try:
            claims = self.verifier.check(
                headers.get(ASSERTION_HEADER), operation=op.name, body=request.data,
                correlation_id=headers.get(CORRELATION_HEADER),
            )  # fmt: skip
            done.consumer = consumer = await self.gate.vouched(claims)
            done.caller = _caller_of(claims, ctx.correlation_id)
            await self.gate.allow(consumer, op.name, op.personal_data, done.caller)
            done.payload = payload = _validated(op, request.data)
            call.add(payload)
            about = data_subject(payload)
            self.verifier.check_subject(claims, about.value if about else None)
            if claims.app is not None:
                await self.gate.check_application(claims, subject_nik(payload))
            # The assertion carries what the edge allowed; this worker's own view of the rights narrows it again.
            done.fields = narrowest(claims.fld, consumer.fields_for(op.name))
            if about is not None:  # the subject is known before the answer: record now, beside the agency call
                done.admitted = asyncio.ensure_future(self._record(op, done, about))
            done.result = await self._spend_and_call(claims, op, served, payload, ctx)
        except HubError as exc:
            done.error = exc.error.model_copy(update={"correlation_id": ctx.correlation_id})
        return done

    async def _settle_record(self, op: Operation, done: _Exchange, subject: DataSubject | None) -> None:
        """Fail closed: return only once the call's record is acknowledged; raise when it cannot be written.

        A call let through to its agency was recorded then, as answered; if it ended otherwise, a second record
        amends the first (so the log may say, for a moment, that a call was answered; never that one was not).
        """
        if done.admitted is None:
            await self._record(op, done, subject)
            return
        admitted = await done.admitted
        if done.error is not None and admitted is not None:
            await self._record(op, done, subject, amends=admitted.index)

    def _record(
        self, op: Operation, done: _Exchange, subject: DataSubject | None, *, amends: int | None = None
    ) -> Coroutine[Any, Any, AuditRecord | None]:
        """The record of ``done`` as it stands (fields only on a reply that releases some)."""
        released = None if done.error is not None else done.fields
        return self.gate.record(
            op.name, op.personal_data, done.caller, done.consumer, done.outcome, subject, agency=self.agency.code,
            provider=self._named_provider, fields=released, amends=amends,
        )  # fmt: skip

    async def _respond(self, request: Request, done: _Exchange) -> bytes:
        """Answer the caller: the contract error, or the reply with only the fields its rights release."""
        reply_headers = {CORRELATION_HEADER: done.caller.correlation_id}
        if done.error is not None or done.result is None:
            error = done.error
            assert error is not None
            body = error.model_dump_json().encode()
            await request.respond_error(str(error.code.http_status), error.code.value, data=body, headers=reply_headers)
            return body
        body = release(done.result, done.fields)
        if done.fields is not None:
            reply_headers[FIELDS_HEADER] = ",".join(done.fields) or ","  # none at all: still a (partial) reply
        await request.respond(body, headers=reply_headers)
        return body

    async def _spend_and_call(
        self, claims: Claims, op: Operation, served: Served[Any], payload: BaseModel, ctx: CallContext
    ) -> BaseModel:
        """The agency's answer, released only once the assertion is spent (no second use on any worker).

        A read runs beside the spending, so it costs no extra round trip; a command waits for it, because a
        replayed command must not reach the agency at all.
        """
        spend = asyncio.ensure_future(self._spend(claims))
        try:
            if not op.idempotent:
                await spend
            return await self._call(op, served, payload, ctx)
        finally:
            await spend  # a replay's refusal replaces whatever the agency said

    async def _spend(self, claims: Claims) -> None:
        try:
            await self.ledger.spend(claims)
        except HubError:
            raise
        except Exception as exc:  # the ledger is JetStream: a node restarting, a leader election
            _log.warning("assertion ledger not written", error=type(exc).__name__)
            raise HubError.of(
                ErrorCode.INTERNAL,
                "The hub cannot check right now that this request is not a replay; retry",
                retryable=True,
                retry_after=2,
            ) from None

    async def _call(self, op: Operation, served: Served[Any], payload: BaseModel, ctx: CallContext) -> BaseModel:
        """Run the handler; every failure leaves as a :class:`HubError` (the one error boundary)."""
        try:
            async with asyncio.timeout(ctx.remaining()):
                result = await self.guard.run(
                    lambda: served.handler(self.connector, payload, ctx),
                    idempotent=op.idempotent,
                    remaining=ctx.remaining,
                )
        except HubError as exc:
            # The agency's answer (or its circuit's): named, so a caller can tell it from the hub's own refusals.
            if exc.error.agency is not None:
                raise
            raise HubError(exc.error.model_copy(update={"agency": self.agency.code})) from None
        except TimeoutError:
            raise HubError.of(
                ErrorCode.AGENCY_TIMEOUT,
                f"{self.agency.name} did not answer {op.name} within the caller's time budget",
                agency=self.agency.code,
            ) from None
        except Exception:
            _log.exception("plugin fault")
            raise HubError.of(
                ErrorCode.INTERNAL,
                f"The {self.agency.code} plugin failed unexpectedly on {op.name}; "
                f"ops can find it in the logs by correlation id {ctx.correlation_id}",
                agency=self.agency.code,
            ) from None
        if not isinstance(result, op.output):
            _log.error("plugin returned the wrong model", returned=type(result).__name__)
            raise HubError.of(
                ErrorCode.INTERNAL,
                f"The {self.agency.code} plugin answered {op.name} with a model that is not in the contract",
                agency=self.agency.code,
            )
        return result


async def safe_health(code: str, connector: Connector, provider: str | None = None) -> AgencyHealth:
    """The connector's health, naming its provider; a failing health check is itself reported as the link down."""
    provider = provider or code
    try:
        health = await connector.health()
    except Exception as exc:
        _log.warning("health check failed", agency=code, provider=provider, error=type(exc).__name__)
        return AgencyHealth(
            agency=code, provider=provider, status=HealthStatus.DOWN,
            detail=f"health check failed: {type(exc).__name__}", checked_at=utcnow(),
        )  # fmt: skip
    return health if health.provider == provider else health.model_copy(update={"provider": provider})


def _validated(op: Operation, data: bytes) -> BaseModel:
    try:
        return op.input.model_validate_json(data)
    except ValidationError as exc:
        raise HubError.from_validation(exc, f"{op.name} input") from None


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
