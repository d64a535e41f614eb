"""Who may call what, for which purpose, and the audit record every such call leaves.

One gate serves the bus workers and the HTTP edge alike, so nothing reaches an agency around it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts import NIK, PROVINCES, BpjsCardNumber, ErrorCode, HubError, KKNumber, PersonalData
from contracts._personal import personal_marker, subject_categories
from contracts._values import VirtualAccountNumber
from hub._applications import ApplicationStore
from hub._assertions import Claims
from hub._audit import AuditEntry, AuditLog, AuditRecord
from hub._auth_limit import AuthFailureLimiter, key_id
from hub._consumers import Consumer, ConsumerRegistry
from hub._purposes import Purpose, PurposeRegistry
from hub._roles import Role

__all__ = ["Caller", "DataSubject", "Gate", "data_subject", "parse_subject", "subject_nik"]

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
    channel: str | None = None  # desk, portal, kiosk, mobile
    officer: str | None = None  # the officer serving the citizen, at a desk
    consent: str | None = None  # the reference of the data subject's consent


@dataclass(frozen=True, slots=True)
class DataSubject:
    """Whom a call is about, by the identifier the contract marks: a NIK, a BPJS card or a bank account number."""

    value: str
    kind: str  # the identifier's category: nik, card_number, account_number, kk_number, or a package's own

    @classmethod
    def nik(cls, value: str) -> DataSubject:
        return cls(value, PersonalData.NIK.value)


@functools.cache
def _identifier_fields(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """``model``'s fields that hold an identifier, the most telling category first (a NIK before a KK number).

    A model's categories are registered with its package before the model is ever served, so caching is safe.
    """
    ranked = subject_categories()
    found = [
        (name, marker.category.value)
        for name, field in model.model_fields.items()
        if (marker := personal_marker(field)) is not None and marker.category.value in ranked
    ]
    return tuple(sorted(found, key=lambda item: ranked.index(item[1])))


def data_subject(*models: BaseModel | None) -> DataSubject | None:
    """The data subject: the first identifier the contract marks in the request, else in the answer.

    The request comes first because it says whom the caller asked about: a coverage check by card number is
    recorded under the card number, which is what the citizen holding the card can ask about.
    """
    for model in models:
        if model is None:
            continue
        for name, category in _identifier_fields(type(model)):
            value: Any = getattr(model, name, None)
            if isinstance(value, str) and value:
                return DataSubject(value, category)
    return None


def subject_nik(*models: BaseModel | None) -> str | None:
    """The first NIK among the models' fields (a process step must be about its applicant, who has one)."""
    for model in models:
        if model is None:
            continue
        for name, category in _identifier_fields(type(model)):
            value: Any = getattr(model, name, None)
            if category == PersonalData.NIK and isinstance(value, str):
                return value
    return None


_NIK_ADAPTER: TypeAdapter[str] = TypeAdapter(NIK)
_CARD_ADAPTER: TypeAdapter[str] = TypeAdapter(BpjsCardNumber)
_ACCOUNT_ADAPTER: TypeAdapter[str] = TypeAdapter(VirtualAccountNumber)
_KK_ADAPTER: TypeAdapter[str] = TypeAdapter(KKNumber)
# The core identifiers other than the NIK, which _as_nik checks with its reasons.
_CORE_ADAPTERS = {
    PersonalData.CARD_NUMBER.value: _CARD_ADAPTER,
    PersonalData.ACCOUNT_NUMBER.value: _ACCOUNT_ADAPTER,
    PersonalData.KK_NUMBER.value: _KK_ADAPTER,
}
_SUBJECT_HINT = "give a NIK (16 digits), a BPJS card number (13 digits) or a virtual account number (8 to 28 digits)"


def parse_subject(text: str, kind: str | None = None) -> DataSubject:
    """The identifier a person typed, as the audit log keys it; ``invalid_input`` when it is none of them.

    Without ``kind``, sixteen digits that start with a province code are a NIK and are checked as one, so a
    mistyped NIK is refused with the reason instead of finding nothing. ``kind`` names the category outright:
    a KK number, or an identifier a contract package declared (an NIB, a customer number).
    """
    if kind is not None:
        return _of_kind(text.strip(), kind)
    digits = text.replace(" ", "").strip()
    if len(digits) == 16 and digits[:2] in PROVINCES:
        return _as_nik(digits)
    candidates = [(_ACCOUNT_ADAPTER, PersonalData.ACCOUNT_NUMBER)]
    if len(digits) == 13:
        candidates.insert(0, (_CARD_ADAPTER, PersonalData.CARD_NUMBER))
    for adapter, category in candidates:
        try:
            return DataSubject(adapter.validate_python(digits), category.value)
        except ValidationError:
            pass
    others = ", ".join(subject_categories())
    raise HubError.of(
        ErrorCode.INVALID_INPUT,
        f"Not an identifier the audit log keys records by: {_SUBJECT_HINT}, or name its kind ({others})",
    )


def _of_kind(text: str, kind: str) -> DataSubject:
    if kind not in subject_categories():
        known = ", ".join(subject_categories())
        raise HubError.of(ErrorCode.INVALID_INPUT, f"{kind!r} is no kind of identifier the audit keys: one of {known}")
    if kind == PersonalData.NIK:
        return _as_nik(text)
    adapter = _CORE_ADAPTERS.get(kind)
    try:
        value = adapter.validate_python(text) if adapter is not None else text
    except ValidationError as exc:
        reason = exc.errors(include_input=False, include_url=False)[0]["msg"]
        raise HubError.of(ErrorCode.INVALID_INPUT, f"Not a valid {kind.replace('_', ' ')}: {reason}") from None
    if not value:
        raise HubError.of(ErrorCode.INVALID_INPUT, f"Give the {kind.replace('_', ' ')} to look for")
    return DataSubject(value, kind)


def _as_nik(digits: str) -> DataSubject:
    try:
        return DataSubject.nik(_NIK_ADAPTER.validate_python(digits))
    except ValidationError as exc:
        reason = exc.errors(include_input=False, include_url=False)[0]["msg"]
        raise HubError.of(ErrorCode.INVALID_INPUT, f"Not a valid NIK: {reason}") from None


def _process_consumer(name: str) -> Consumer:
    # Not a registered consumer: a process acting for one application; its audit records name the process.
    return Consumer.model_construct(
        name=name, key_id="0" * 12, salt="00", key_hash="00", allow=["*"], quota_per_minute=None,
        channel=None, names_officers=False, created_at=dt.datetime.now(dt.UTC), revoked_at=None,
    )  # fmt: skip


class Gate:
    """Checks callers: at the edge by API key (:meth:`identify`), in a worker by caller assertion
    (:meth:`vouched`); then rights, purpose and quota (:meth:`allow`), and the audit record (:meth:`record`)."""

    def __init__(
        self,
        consumers: ConsumerRegistry,
        audit: AuditLog,
        purposes: Mapping[str, Purpose],
        on_anonymous_refusal: Callable[[], None] = lambda: None,
        applications: ApplicationStore | None = None,
    ) -> None:
        self.applications = applications
        self.consumers = consumers
        self.audit = audit
        self.purposes = PurposeRegistry(purposes)
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
        """Pass if ``consumer`` may call ``operation`` now, for the purpose stated, from the channel and with the
        officer stated; else the error to answer with.

        ``charge=False`` checks without counting against the quota (the HTTP edge: the worker counts).
        """
        if not consumer.may_call(operation):
            raise HubError.of(
                ErrorCode.FORBIDDEN,
                f"Consumer {consumer.name!r} may not call {operation}; ops can grant it with "
                f"`mpp-hub consumer add` (a consumer with --allow {operation})",
            )
        _check_context(consumer, caller)
        if personal_data:
            self.purposes.check(caller.purpose, operation, caller.consent)
        if charge:
            await self.consumers.charge(consumer)

    @staticmethod
    def in_context(consumer: Consumer, caller: Caller) -> Caller:
        """``caller`` with the channel the consumer is registered for, where it is (what the audit records)."""
        return replace(caller, channel=caller.channel or consumer.channel)

    async def record(
        self,
        operation: str,
        personal_data: bool,
        caller: Caller,
        consumer: Consumer | None,
        outcome: str,
        subject: DataSubject | str | None = None,
        *,
        hashed_subject: tuple[str, str] | None = None,
        agency: str | None = None,
        provider: str | None = None,
        fields: tuple[str, ...] | None = None,
        amends: int | None = None,
        accountable: bool = False,
    ) -> AuditRecord | None:
        """Append the audit record of one call, when the call touched personal data or was refused at the door;
        the record, or None when there is nothing to record.

        ``subject`` given as text is a NIK. ``hashed_subject`` (its audit hash, its masked form) stands for a
        subject the hub keeps only hashed. ``fields``: the reply fields released, where a right limits them.
        ``amends``: the index of this call's earlier record, whose outcome this one corrects. ``provider``: the
        provider that served, when not the agency's own. ``accountable``: an act touching no personal data that
        the mall must still be able to show who did (an emergency notice raised or cleared).

        Raises when the record cannot be written: callers must then withhold any personal data.
        """
        if not (personal_data or accountable) and outcome not in _ALWAYS_AUDITED:
            return None
        if consumer is None and outcome == ErrorCode.UNAUTHORIZED.value:
            self._on_anonymous_refusal()  # nobody identified, nobody's data released: a counter, not a record
            return None
        about = DataSubject.nik(subject) if isinstance(subject, str) else subject
        return await self.audit.append(
            AuditEntry(
                consumer=consumer.name if consumer else None,
                operation=operation,
                agency=agency,
                provider=provider,
                purpose=caller.purpose,
                legal_basis=self.purposes.legal_basis(caller.purpose),
                channel=caller.channel or (consumer.channel if consumer else None),
                officer=caller.officer,
                consent=caller.consent,
                subject=about.value if about else None,
                subject_kind=about.kind if about else "nik" if hashed_subject else None,
                subject_hash=hashed_subject[0] if hashed_subject else None,
                subject_masked=hashed_subject[1] if hashed_subject else None,
                fields=fields,
                outcome=outcome,
                correlation_id=caller.correlation_id,
                amends=amends,
            )
        )


def _check_context(consumer: Consumer, caller: Caller) -> None:
    """The officer and the channel a caller states must be ones its registration allows."""
    if caller.officer is not None and not consumer.names_officers:
        raise HubError.of(
            ErrorCode.FORBIDDEN,
            f"Consumer {consumer.name!r} may not name officers (X-Officer): only desk apps registered with "
            "`mpp-hub consumer add --names-officers` may; leave the header out",
        )
    if consumer.channel is not None and caller.channel not in (None, consumer.channel):
        raise HubError.of(
            ErrorCode.FORBIDDEN,
            f"Consumer {consumer.name!r} is registered for the {consumer.channel} channel and may not state "
            f"{caller.channel} (X-Channel); leave the header out or send {consumer.channel}",
        )


def _unvouched(why: str) -> HubError:
    return HubError.of(ErrorCode.UNAUTHORIZED, f"The caller assertion is not accepted: {why}")
