"""Calling the contract over NATS: what the CLI, the portal edge and tests use."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import MaxPayloadError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.micro.request import ERROR_CODE_HEADER
from pydantic import BaseModel, ValidationError

from contracts import (
    CONTRACT_VERSION,
    OPERATIONS,
    AgencyHealth,
    AgencyInfo,
    AgencyKind,
    Catalogue,
    ContractError,
    ErrorCode,
    FieldIssue,
    HealthStatus,
    HubError,
    Operation,
    OperationInfo,
    ProviderInfo,
)
from hub._access import data_subject
from hub._assertions import ASSERTION_HEADER, NOTHING_STATED, Issuer, Statement
from hub._bus import (
    CORRELATION_HEADER,
    DEADLINE_HEADER,
    FIELDS_HEADER,
    PURPOSE_HEADER,
    health_subject,
    provider_subject,
)
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._rights import partial_model
from hub._roles import Role
from hub._time import utcnow

__all__ = ["HubClient", "unknown_provider"]

_SERVICE_PREFIX = "mpp-"
#: Seconds the providers listed for a refusal are reused (a portal retrying a wrong bank waits once, not each time).
_LISTED_FOR = 5.0
_log = structlog.get_logger("hub.client")


async def _connect(bus: BusAccess, role: Role, *, max_reconnect_attempts: int) -> NATS:
    url = bus.url
    try:
        return await bus.connect(
            role,
            connect_timeout=2,
            max_reconnect_attempts=max_reconnect_attempts,
            reconnect_time_wait=0.1 if max_reconnect_attempts == 1 else 0.5,
            error_cb=_quiet,
        )
    except Exception as exc:  # nats-py raises several unrelated types for "cannot connect"
        raise HubError.of(
            ErrorCode.AGENCY_UNAVAILABLE,
            f"Cannot connect to NATS at {url} ({type(exc).__name__}): is `mpp-hub up` running, or is --nats-url right?",
        ) from None


def unknown_provider(operation: str, provider: str, known: list[str]) -> HubError:
    """The refusal of a request naming a provider that does not serve ``operation``: the ``provider`` field's issue
    (which providers there are is configuration, so no schema can say it first)."""
    serving = ", ".join(sorted(known)) or "none right now"
    return HubError.of(
        ErrorCode.INVALID_INPUT,
        f"No provider {provider!r} serves {operation}; providers: {serving} (leave provider out for the default)",
        issues=[FieldIssue(field="provider", message=f"must be one of the providers of {operation}: {serving}")],
    )


class HubClient:
    """A caller of contract operations over NATS request/reply.

    Every call carries a caller assertion signed by ``issuer`` for ``consumer`` (whom the issuer has already
    identified, by API key at the edge or in `mpp-hub call`); no API key ever goes on the bus.

    A request that names no provider (its ``provider`` field) goes to the consumer's default provider of the
    operation (when ``consumers`` is given, the registry's record), else to ``providers``' (this caller's own
    defaults, by operation), else to the operation's bare subject, which its default provider serves.
    """

    def __init__(
        self,
        nc: NATS,
        *,
        timeout: float = 10.0,
        issuer: Issuer | None = None,
        consumer: str | None = None,
        purpose: str | None = None,
        providers: Mapping[str, str] | None = None,
        consumers: ConsumerRegistry | None = None,
    ) -> None:
        self.nc = nc
        self.timeout = timeout
        self.issuer = issuer
        self.consumer = consumer
        self.purpose = purpose
        self.providers = dict(providers or {})
        self.consumers = consumers
        # Operation -> (when, the providers the bus listed): a refusal's list, asked once per few seconds at most.
        self._listed: dict[str, tuple[float, list[str]]] = {}

    @classmethod
    async def connect(
        cls,
        bus: BusAccess,
        role: Role,
        *,
        timeout: float = 10.0,
        issuer: Issuer | None = None,
        consumer: str | None = None,
        purpose: str | None = None,
        keep_reconnecting: bool = False,
    ) -> HubClient:
        """Connect as ``role``; calls speak for ``consumer``, stating ``purpose`` (both overridable per call).

        The first connect fails fast when NATS is not there. ``keep_reconnecting`` is for watchers that run
        for hours (tail, top): once connected, they ride out a NATS restart instead of ending.
        """
        nc = await _connect(bus, role, max_reconnect_attempts=1)  # 0 or -1 would retry forever on a refused connect
        if keep_reconnecting:
            await nc.close()  # the server is there: connect again, this time for good
            nc = await _connect(bus, role, max_reconnect_attempts=-1)
        return cls(nc, timeout=timeout, issuer=issuer, consumer=consumer, purpose=purpose)

    async def close(self) -> None:
        await self.nc.drain()

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(
        self,
        operation: str,
        payload: BaseModel | Mapping[str, Any] | str | bytes,
        *,
        correlation_id: str | None = None,
        timeout: float | None = None,
        consumer: str | None = None,
        purpose: str | None = None,
        application: str | None = None,
        channel: str | None = None,
        officer: str | None = None,
        consent: str | None = None,
        fields: tuple[str, ...] | None = None,
    ) -> BaseModel:
        """Call ``operation`` and return its output model, or raise :class:`HubError`.

        The input is validated against the contract here first, so bad input never leaves the caller.
        ``application`` binds a process step's call to the application it acts for. ``channel``, ``officer`` and
        ``consent`` go into the assertion for the audit record; ``fields``, the reply fields the consumer's rights
        release (the worker sends no others). A reply cut short by rights is a model of just those fields.
        """
        op = OPERATIONS.get(operation)
        statement = Statement(
            purpose=purpose, application=application, channel=channel, officer=officer, consent=consent, fields=fields
        )
        reply = await self._exchange(op, _validated_input(op, payload), correlation_id, timeout, consumer, statement)
        released = (reply.headers or {}).get(FIELDS_HEADER)
        if released is None:
            return op.output.model_validate_json(reply.data)
        # Only the fields the consumer may receive came back: check those, not the whole model they are part of.
        return partial_model(op.output, tuple(filter(None, released.split(",")))).model_validate_json(reply.data)

    async def relay(
        self,
        operation: str,
        request: BaseModel,
        *,
        correlation_id: str,
        consumer: str,
        statement: Statement = NOTHING_STATED,
    ) -> bytes:
        """The worker's reply to ``request`` (already validated) as the JSON bytes it sent, or :class:`HubError`.

        For the HTTP edge, which passes the reply on: the worker validated it and released only the fields the
        consumer's rights allow, so decoding and encoding it again here would cost CPU and change nothing.
        """
        op = OPERATIONS.get(operation)
        return (await self._exchange(op, request, correlation_id, None, consumer, statement)).data

    async def _exchange(
        self,
        op: Operation,
        request: BaseModel,
        correlation_id: str | None,
        timeout: float | None,
        consumer: str | None,
        statement: Statement,
    ) -> Msg:
        """Send ``request`` with its assertion (naming its data subject) and return the worker's non-error reply."""
        budget = self.timeout if timeout is None else timeout
        body = request.model_dump_json(by_alias=True).encode()
        about = data_subject(request)
        statement = replace(statement, data_subject=about.value if about else None)
        headers = self.headers_for(
            op.name, body, correlation_id=correlation_id, budget=budget, consumer=consumer, statement=statement
        )
        reply = await self._request(op, body, budget, headers, self._provider(op, request, consumer))
        if reply.headers and ERROR_CODE_HEADER in reply.headers:
            raise HubError(_decode_error(reply.data, reply.headers))
        return reply

    def _provider(self, op: Operation, request: BaseModel, consumer: str | None) -> str | None:
        """The provider ``request`` goes to: its own choice, its consumer's, this caller's; None: the default."""
        # A model's fields live in its __dict__: a miss there costs a dict look-up, getattr's miss an exception (4 µs).
        named: str | None = request.__dict__.get("provider")
        if named is not None:
            return named
        record = self.consumers.get(consumer or self.consumer or "") if self.consumers is not None else None
        return (record.providers.get(op.name) if record is not None else None) or self.providers.get(op.name)

    async def _request(
        self, op: Operation, body: bytes, budget: float, headers: dict[str, str], provider: str | None = None
    ) -> Msg:
        """The worker's reply; the bus's own failures (too large, nobody serving, no answer) as contract errors."""
        subject = op.subject if provider is None else provider_subject(op.subject, provider)
        try:
            return await self.nc.request(subject, body, timeout=budget, headers=headers)
        except MaxPayloadError:
            raise HubError.of(ErrorCode.INVALID_INPUT, f"The {op.name} request is too large for the bus") from None
        except NoRespondersError:
            if provider is not None and provider not in (known := await self._listed_providers(op.name)):
                raise unknown_provider(op.name, provider, known) from None
            raise HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"No hub worker serves {op.name} right now: is a hub with the plugin for it running?",
            ) from None
        except (TimeoutError, NatsTimeoutError):
            raise HubError.of(
                ErrorCode.AGENCY_TIMEOUT, f"No answer to {op.name} within {budget:g}s; try again later"
            ) from None

    def headers_for(
        self,
        operation: str,
        body: bytes,
        *,
        correlation_id: str | None,
        budget: float,
        consumer: str | None = None,
        statement: Statement = NOTHING_STATED,
    ) -> dict[str, str]:
        """The headers of one request: correlation id, deadline, purpose, and the caller assertion for ``body``.

        ``consumer`` and the statement's purpose default to the client's own.
        """
        cid = correlation_id or uuid.uuid4().hex
        headers = {CORRELATION_HEADER: cid, DEADLINE_HEADER: str(int(budget * 1000))}
        statement = replace(statement, purpose=statement.purpose or self.purpose)
        if statement.purpose:
            headers[PURPOSE_HEADER] = statement.purpose
        speaks_for = consumer or self.consumer
        if self.issuer is not None and speaks_for is not None:
            headers[ASSERTION_HEADER] = self.issuer.sign(
                consumer=speaks_for, operation=operation, body=body, correlation_id=cid, budget=budget,
                statement=statement,
            )  # fmt: skip
        return headers

    async def catalogue(self, *, wait: float = 0.5) -> Catalogue:
        """Agencies served on the bus right now, discovered through ``$SRV.INFO``, with their providers' health."""
        by_agency: dict[str, list[dict[str, Any]]] = {}
        for info in await self._services(wait):
            by_agency.setdefault(info["metadata"]["agency"], []).append(info)
        agencies = [await self._agency_info(code, found) for code, found in sorted(by_agency.items())]
        return Catalogue(contract_version=CONTRACT_VERSION, agencies=_with_providers(agencies, by_agency))

    async def providers_of(self, operation: str, *, wait: float = 0.5) -> list[str]:
        """The providers serving ``operation`` on the bus right now (from ``$SRV.INFO``)."""
        found = {
            _provider_of(info)
            for info in await self._services(wait)
            if any((e.get("metadata") or {}).get("operation") == operation for e in info.get("endpoints") or [])
        }
        return sorted(found)

    async def _listed_providers(self, operation: str) -> list[str]:
        """:meth:`providers_of`, reused for a few seconds: listing them waits for every answer on the bus."""
        now = time.monotonic()
        listed = self._listed.get(operation)
        if listed is None or now - listed[0] > _LISTED_FOR:
            listed = self._listed[operation] = (now, await self.providers_of(operation))
        return listed[1]

    async def _services(self, wait: float) -> list[dict[str, Any]]:
        return [i for i in await self._gather("$SRV.INFO", wait) if i.get("name", "").startswith(_SERVICE_PREFIX)]

    async def health(self, agency: str, *, timeout: float = 5.0) -> AgencyHealth:
        try:
            reply = await self.nc.request(health_subject(agency), b"", timeout=timeout)
            return AgencyHealth.model_validate_json(reply.data)
        except (TimeoutError, NoRespondersError, NatsTimeoutError) as exc:
            return AgencyHealth(
                agency=agency, status=HealthStatus.DOWN, detail=f"no hub worker answered ({type(exc).__name__})",
                checked_at=utcnow(),
            )  # fmt: skip

    async def _agency_info(self, code: str, instances: list[dict[str, Any]]) -> AgencyInfo:
        first = instances[0]
        by_provider: dict[str, set[str]] = {}
        for info in instances:
            by_provider.setdefault(_provider_of(info), set()).add(info["id"])
        providers = [
            ProviderInfo(name=name, instances=len(ids), health=await self.health(name))
            for name, ids in sorted(by_provider.items())
        ]
        return AgencyInfo(
            code=code,
            name=first.get("description") or code,
            kind=AgencyKind(first["metadata"]["kind"]),
            plugin_version=first["version"],
            contract_version=first["metadata"]["contract_version"],
            instances=len({i["id"] for i in instances}),
            operations=_operations(instances),
            # With several providers, a down one's health first: the agency is not wholly well.
            health=next((p.health for p in providers if p.health and p.health.status is HealthStatus.DOWN),
                        providers[0].health),
            providers=providers,
        )  # fmt: skip

    async def _gather(self, subject: str, wait: float) -> list[dict[str, Any]]:
        """Every answer to one request that has many responders, collected for ``wait`` seconds."""
        inbox = self.nc.new_inbox()
        answers: list[dict[str, Any]] = []
        sub = await self.nc.subscribe(inbox)
        try:
            await self.nc.publish(subject, b"", reply=inbox)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while (left := deadline - loop.time()) > 0:
                try:
                    msg = await sub.next_msg(timeout=left)
                except (TimeoutError, NatsTimeoutError):
                    break
                if msg.data:  # an empty message is the server's "no responders" status
                    answers.append(json.loads(msg.data))
        finally:
            await sub.unsubscribe()
        return answers


def _provider_of(info: Mapping[str, Any]) -> str:
    meta = info.get("metadata") or {}
    return str(meta.get("provider") or meta["agency"])  # a worker from before providers: the agency's own


def _operations(instances: list[dict[str, Any]]) -> list[OperationInfo]:
    """The operations an agency's services list, each with the providers serving it and its default."""
    pinned: dict[str, dict[str, Any]] = {}  # operation -> its endpoint metadata
    serving: dict[str, list[str]] = {}
    defaults: dict[str, str] = {}
    for info in instances:
        provider = _provider_of(info)
        for endpoint in info.get("endpoints") or []:
            meta = endpoint.get("metadata") or {}
            name = meta.get("operation")
            if not isinstance(name, str) or name not in OPERATIONS:
                continue
            pinned.setdefault(name, meta)
            if provider not in serving.setdefault(name, []):
                serving[name].append(provider)
            if endpoint.get("subject") == OPERATIONS.get(name).subject:  # the bare subject: the default's
                defaults[name] = provider
    return [
        OperationInfo(
            name=name,
            version=meta["contract_version"],
            summary=(op := OPERATIONS.get(name)).summary,
            schema_hash=meta["schema_hash"],
            idempotent=op.idempotent,
            personal_data=op.personal_data,
            providers=sorted(serving[name]),
            default_provider=defaults.get(name),
        )
        for name, meta in sorted(pinned.items())
    ]


def _with_providers(agencies: list[AgencyInfo], by_agency: Mapping[str, list[dict[str, Any]]]) -> list[AgencyInfo]:
    """Each operation's providers across agencies: several agencies may serve one operation."""
    every = _operations([info for infos in by_agency.values() for info in infos])
    merged = {op.name: op for op in every}
    return [
        agency.model_copy(update={"operations": [merged[op.name] for op in agency.operations]}) for agency in agencies
    ]


def _validated_input(op: Operation, payload: BaseModel | Mapping[str, Any] | str | bytes) -> BaseModel:
    try:
        if isinstance(payload, str | bytes):
            return op.input.model_validate_json(payload)
        return op.input.model_validate(payload)
    except ValidationError as exc:
        raise HubError.from_validation(exc, f"{op.name} input") from None


async def _quiet(exc: Exception) -> None:
    # nats-py prints a traceback per failed attempt by default; the caller gets one clear HubError instead.
    _log.debug("nats connection error", error=type(exc).__name__)


def _decode_error(data: bytes, headers: Mapping[str, str]) -> ContractError:
    try:
        return ContractError.model_validate_json(data)
    except ValidationError:
        # An answer from something that is not an MPP Hub worker (micro's own 500s, say).
        return ContractError(
            code=ErrorCode.INTERNAL,
            message=f"The bus answered with a non-contract error (code {headers.get(ERROR_CODE_HEADER)})",
            retryable=False,
        )
