"""Who may call what, for which purpose, and the audit record every such call leaves.

One gate serves the bus workers and the HTTP edge alike, so nothing reaches an agency around it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel

from contracts import ErrorCode, HubError, Personal, PersonalData
from hub._audit import AuditLog
from hub._consumers import Consumer, ConsumerRegistry

__all__ = ["SYSTEM_KEY_PREFIX", "Caller", "Gate", "subject_nik", "system_key"]

#: Keys of the hub's own processes calling operations on a citizen's behalf (see :func:`system_key`).
SYSTEM_KEY_PREFIX = "mpp-system:"
_SYSTEM_KEY_LIFETIME = 120.0

_log = structlog.get_logger("hub.access")

#: Refusals that are themselves worth an audit record even for operations without personal data.
_ALWAYS_AUDITED = {ErrorCode.UNAUTHORIZED.value, ErrorCode.FORBIDDEN.value}


@dataclass(frozen=True, slots=True)
class Caller:
    """What a request says about who asks and why."""

    api_key: str | None
    purpose: str | None
    correlation_id: str


def _system_signature(secret: bytes, process: str, correlation_id: str, issued: int) -> str:
    message = f"{process}|{correlation_id}|{issued}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def system_key(secret: bytes, process: str, correlation_id: str) -> str:
    """A short-lived key with which a hub process (a saga step) calls an operation.

    Every worker can make and check one from the shared secret, nobody else can; it names the process,
    is bound to one correlation id, and expires in two minutes.
    """
    issued = int(time.time())
    return f"{SYSTEM_KEY_PREFIX}{process}:{issued}:{_system_signature(secret, process, correlation_id, issued)}"


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


class Gate:
    def __init__(
        self, consumers: ConsumerRegistry, audit: AuditLog, purposes: Collection[str], system_secret: bytes
    ) -> None:
        self.consumers = consumers
        self.audit = audit
        self.purposes = tuple(purposes)
        self.system_secret = system_secret

    async def identify(self, caller: Caller) -> Consumer:
        """The consumer the caller's key belongs to, or ``unauthorized``."""
        if caller.api_key and caller.api_key.startswith(SYSTEM_KEY_PREFIX):
            return self._system_consumer(caller.api_key, caller.correlation_id)
        return await self.consumers.authenticate(caller.api_key)

    def _system_consumer(self, key: str, correlation_id: str) -> Consumer:
        process, _, rest = key.removeprefix(SYSTEM_KEY_PREFIX).partition(":")
        issued, _, signature = rest.partition(":")
        expected = _system_signature(
            self.system_secret, process, correlation_id, int(issued) if issued.isdigit() else 0
        )
        fresh = issued.isdigit() and abs(time.time() - int(issued)) <= _SYSTEM_KEY_LIFETIME
        if not (fresh and hmac.compare_digest(expected, signature)):
            raise HubError.of(ErrorCode.UNAUTHORIZED, "This hub-process key is not valid (or has expired)")
        # Not a registered consumer: a process acting for an application; its audit records name the process.
        return Consumer.model_construct(
            name=f"process-{process}", key_id="0" * 12, salt="00", key_hash="00", allow=["*"],
            quota_per_minute=None, created_at=dt.datetime.now(dt.UTC), revoked_at=None,
        )  # fmt: skip

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
    ) -> None:
        """Append the audit record of one call, when the call touched personal data or was refused at the door.

        Raises when the record cannot be written: callers must then withhold any personal data.
        """
        if not personal_data and outcome not in _ALWAYS_AUDITED:
            return
        await self.audit.append(
            consumer=consumer.name if consumer else None,
            operation=operation,
            purpose=caller.purpose,
            subject_nik=subject,
            outcome=outcome,
            correlation_id=caller.correlation_id,
        )
