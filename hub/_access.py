"""Who may call what, for which purpose, and the audit record every such call leaves.

One gate serves the bus workers and the HTTP edge alike, so nothing reaches an agency around it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel

from contracts import ErrorCode, HubError, Personal, PersonalData
from hub._applications import ApplicationStore
from hub._assertions import Claims
from hub._audit import AuditEntry, AuditLog
from hub._auth_limit import AuthFailureLimiter, key_id
from hub._consumers import Consumer, ConsumerRegistry
from hub._roles import Role

__all__ = ["Caller", "Gate", "subject_nik"]

_log = structlog.get_logger("hub.access")

#: Refusals that are themselves worth an audit record even for operations without personal data.
_ALWAYS_AUDITED = {ErrorCode.UNAUTHORIZED.value, ErrorCode.FORBIDDEN.value}
_PROCESS_PREFIX = "process-"


@dataclass(frozen=True, slots=True)
class Caller:
    """What a request says about who asks and why."""

    api_key: str | None
    purpose: str | None
    correlation_id: str


def _nik_fields(model: type[BaseModel]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if any(isinstance(m, Personal) and m.category is PersonalData.NIK for m in field.metadata)
    ]


def subject_nik(*models: BaseModel | None) -> str | None:
    """The data subject: the first NIK the contract marks in the request, else in the answer."""
    for model in models:
        if model is None:
            continue
        for name in _nik_fields(type(model)):
            value: Any = getattr(model, name)
            if isinstance(value, str):
                return value
    return None


def _process_consumer(name: str) -> Consumer:
    # Not a registered consumer: a process acting for one application; its audit records name the process.
    return Consumer.model_construct(
        name=name, key_id="0" * 12, salt="00", key_hash="00", allow=["*"], quota_per_minute=None,
        created_at=dt.datetime.now(dt.UTC), revoked_at=None,
    )  # fmt: skip


class Gate:
    """Checks callers: at the edge by API key (:meth:`identify`), in a worker by caller assertion
    (:meth:`vouched`); then rights, purpose and quota (:meth:`allow`), and the audit record (:meth:`record`)."""

    def __init__(
        self,
        consumers: ConsumerRegistry,
        audit: AuditLog,
        purposes: Collection[str],
        on_anonymous_refusal: Callable[[], None] = lambda: None,
        applications: ApplicationStore | None = None,
    ) -> None:
        self.applications = applications
        self.consumers = consumers
        self.audit = audit
        self.purposes = tuple(purposes)
        self._on_anonymous_refusal = on_anonymous_refusal

    async def identify(self, caller: Caller, limiter: AuthFailureLimiter | None = None, address: str = "") -> Consumer:
        """The consumer the caller's key belongs to, or ``unauthorized``.

        With a ``limiter``: once ``address`` or the key id has failed too often, only keys already proven here go
        on (a kiosk behind the same address as a guesser keeps working); the rest wait, ``rate_limited``.
        """
        tried = key_id(caller.api_key)
        wait = None if limiter is None or self.consumers.proven(caller.api_key) else limiter.check(address, tried)
        if wait is not None:
            raise HubError.of(
                ErrorCode.RATE_LIMITED, "Too many failed authentications from here or for this key; wait and retry",
                retry_after=wait,
            )  # fmt: skip
        try:
            return await self.consumers.authenticate(caller.api_key)
        except HubError:
            if limiter is not None:
                limiter.failed(address, tried)
            raise

    async def vouched(self, claims: Claims) -> Consumer:
        """The consumer an assertion speaks for, as this worker knows it now (a revoke applies at once).

        Only workers speak for processes, and only for processes; the edge and the CLI only for registered
        consumers.
        """
        is_process = claims.con.startswith(_PROCESS_PREFIX)
        if claims.iss == Role.WORKER.value:
            if not (is_process and claims.app):
                raise _unvouched(f"a worker may only call for a process and its application, not {claims.con!r}")
            return _process_consumer(claims.con)
        consumer = None if is_process else await self.consumers.fetch(claims.con)
        if consumer is None:
            raise _unvouched(f"it names consumer {claims.con!r}, which this hub does not know")
        if consumer.revoked_at is not None:
            raise _unvouched(f"consumer {claims.con!r} was revoked")
        return consumer

    async def check_application(self, claims: Claims, subject: str | None) -> None:
        """A process step's call must be for its own, still open, application and that application's citizen."""
        found = None if self.applications is None or claims.app is None else await self.applications.get(claims.app)
        app = found[0].application if found else None
        if app is None or f"{_PROCESS_PREFIX}{app.service}" != claims.con or app.status.final:
            raise _unvouched(f"{claims.con!r} has no open application {claims.app}")
        # Keyed hashes compared: the application keeps its applicant's NIK only hashed (and sealed while open).
        if subject is not None and not (
            self.applications and found and self.applications.is_applicant(found[0], subject)
        ):
            raise _unvouched(f"the request is about another citizen than application {claims.app}'s applicant")

    async def allow(
        self, consumer: Consumer, operation: str, personal_data: bool, caller: Caller, *, charge: bool = True
    ) -> None:
        """Pass if ``consumer`` may call ``operation`` now, for the purpose stated; else the error to answer with.

        ``charge=False`` checks without counting against the quota (the HTTP edge: the worker counts).
        """
        if not consumer.may_call(operation):
            raise HubError.of(
                ErrorCode.FORBIDDEN,
                f"Consumer {consumer.name!r} may not call {operation}; ops can grant it with "
                f"`mpp-hub consumer add` (a consumer with --allow {operation})",
            )
        if personal_data:
            self._check_purpose(caller.purpose)
        if charge:
            await self.consumers.charge(consumer)

    def _check_purpose(self, purpose: str | None) -> None:
        known = ", ".join(self.purposes)
        if not purpose:
            raise HubError.of(
                ErrorCode.INVALID_INPUT,
                f"This operation reads personal data: state the purpose of access in the X-Purpose header "
                f"(one of: {known})",
            )
        if purpose not in self.purposes:
            raise HubError.of(ErrorCode.INVALID_INPUT, f"Unknown purpose {purpose!r}; state one of: {known}")

    async def record(
        self,
        operation: str,
        personal_data: bool,
        caller: Caller,
        consumer: Consumer | None,
        outcome: str,
        subject: str | None = None,
        *,
        hashed_subject: tuple[str, str] | None = None,
    ) -> None:
        """Append the audit record of one call, when the call touched personal data or was refused at the door.

        ``hashed_subject`` (its audit hash, its masked form) stands for a subject the hub keeps only hashed.

        Raises when the record cannot be written: callers must then withhold any personal data.
        """
        if not personal_data and outcome not in _ALWAYS_AUDITED:
            return
        if consumer is None and outcome == ErrorCode.UNAUTHORIZED.value:
            self._on_anonymous_refusal()  # nobody identified, nobody's data released: a counter, not a record
            return
        await self.audit.append(
            AuditEntry(
                consumer=consumer.name if consumer else None,
                operation=operation,
                purpose=caller.purpose,
                subject=subject,
                subject_kind="nik" if subject is not None or hashed_subject else None,
                subject_hash=hashed_subject[0] if hashed_subject else None,
                subject_masked=hashed_subject[1] if hashed_subject else None,
                outcome=outcome,
                correlation_id=caller.correlation_id,
            )
        )


def _unvouched(why: str) -> HubError:
    return HubError.of(ErrorCode.UNAUTHORIZED, f"The caller assertion is not accepted: {why}")
