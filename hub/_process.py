"""Durable cross-agency processes (sagas): each step's outcome is recorded before the next one starts.

A process is data: named steps, each an async function that looks at the application and answers
with an outcome. The engine moves applications on through a JetStream work queue shared by every hub
worker: a message says "advance application X"; the worker that takes it runs the current step, records
the outcome with a compare-and-set, queues the next advance and only then acknowledges. A worker that
dies mid-step leaves its message unacknowledged, so another worker (or the same one, restarted) runs
the step again, which is why every step's effect at an agency must be idempotent (a bill by its
reference, a payment posting by the bank's reference).

    Next(step)      recorded; the next step runs at once
    Wait(seconds)   nothing to do yet (a bill not paid): look again later, or when an event kicks it
    Finish(status)  done, rejected or expired: the application is closed
    an agency outage: recorded once, and the step is retried later, for as long as the outage lasts
    anything else (a refusal the step does not handle, a bug, a worker dying mid-step): retried with
                    backoff; after MAX_FAILURES attempts the message goes to the dead-letter stream,
                    where ``mpp-hub dlq`` shows it and replays it once the cause is mended

A Wait is a fresh message that carries its due time, so JetStream's delivery count of a message counts
the attempts that failed, and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import ConsumerConfig, RetentionPolicy, StreamConfig
from pydantic import BaseModel, ValidationError

from contracts import (
    Application,
    ApplicationEvent,
    ApplicationRequest,
    ApplicationStatus,
    ErrorCode,
    HubError,
    PaymentPaid,
    StatusStep,
    mask_text,
    new_tracking_number,
)
from hub._agency import Event
from hub._applications import ApplicationStore, StaleApplication, StoredApplication
from hub._assertions import Issuer
from hub._client import HubClient
from hub._dlq import DeadLetters
from hub._documents import DocumentStore
from hub._events import EventPublisher, event_subject
from hub._time import utcnow

if TYPE_CHECKING:  # hub._actions builds on this module
    from hub._actions import OfficerAction

__all__ = [
    "PROCESS_STREAM",
    "Finish",
    "Next",
    "Outcome",
    "Process",
    "ProcessContext",
    "ProcessEngine",
    "Step",
    "Wait",
]

PROCESS_STREAM = StreamConfig(
    name="MPP_PROCESS", subjects=["mpp.process.>"], retention=RetentionPolicy.WORK_QUEUE, max_age=90 * 24 * 3600.0
)
_DURABLE = "mpp-process-engine"
_PAYMENTS_DURABLE = "mpp-process-payments"
#: A step's agency calls take seconds at most; a worker silent for longer is presumed dead.
_ACK_WAIT = 30.0
#: Attempts at a step that end in an error or a dead worker before its message is dead-lettered (outages
#: of an agency do not count: they are waited out, however long they last).
MAX_FAILURES = 5
#: When a step should run no earlier than this (seconds since the epoch): its Wait was recorded.
_NOT_BEFORE = "Mpp-Not-Before"
#: The timer a Wait started. An application has one live timer, the one its state names; a kick carrying
#: any other is a leftover (of a kick that came in while it waited, or of a worker start) and is dropped.
_TIMER = "Mpp-Timer"
_TIMER_STATE = "_timer"
#: Test switch: die (SIGKILL) right after this step made progress (its effect at the agency done), before
#: the outcome is recorded.
CRASH_AFTER_STEP_ENV = "MPP_HUB_CRASH_AFTER_STEP"

_log = structlog.get_logger("hub.process")


@dataclass(frozen=True)
class Next:
    """Recorded; ``step`` runs at once. ``message`` is what the citizen reads; ``state`` joins the working state."""

    step: str
    message: str
    agency: str | None = None
    status: ApplicationStatus = ApplicationStatus.IN_PROGRESS
    details: Mapping[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Wait:
    """Nothing to do yet: run this step again after ``seconds``, or sooner when an event kicks the application."""

    seconds: float
    message: str | None = None
    agency: str | None = None
    status: ApplicationStatus | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finish:
    """The application is closed with ``status`` (done, rejected or expired); ``message`` says why."""

    status: ApplicationStatus
    message: str
    agency: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)


#: What a step answers: the next step, a wait, or the end.
Outcome = Next | Wait | Finish


@dataclass(frozen=True)
class ProcessContext:
    """What a step sees: the application, the applicant's NIK, the process's working state, and the contract to
    call. ``application`` carries the NIK masked; ``applicant_nik`` and ``state`` are unsealed for the step and are
    kept sealed between steps, only while the application is open."""

    application: Application
    state: Mapping[str, Any]
    call: Callable[[str, Mapping[str, Any]], Awaitable[BaseModel]]
    now: dt.datetime
    applicant_nik: str


#: A process step: an async function of the context that answers with an :data:`Outcome`.
Step = Callable[[ProcessContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class Process:
    """A cross-agency process, returned by the ``mpp_hub_process`` hook."""

    service: str
    title: str  # in Indonesian, as the citizen reads it
    params: type[BaseModel]
    agencies: tuple[str, ...]
    purpose: str  # the purpose of access the process states when it reads personal data
    first_step: str
    steps: Mapping[str, Step]
    submitted_message: str = "Permohonan diterima."
    retry_after: float = 15.0  # seconds before a step an agency could not serve is tried again
    failure_backoff: float = 2.0  # seconds before a failed step's first retry; doubled for each further one
    actions: Mapping[str, OfficerAction[Any]] = field(default_factory=dict)  # steps an officer completes, by name
    #: Its default provider of an operation several serve (``{"payment.create_bill": "bank_contoh"}``), for the
    #: calls whose request names none; else the catalogue's default.
    providers: Mapping[str, str] = field(default_factory=dict)


_STUCK_MESSAGE = "Permohonan Anda memerlukan pemeriksaan petugas; kami akan melanjutkannya setelah diperiksa."


_BUS_ERRORS = (NatsError, asyncio.TimeoutError)


class _StepFailed(Exception):
    def __init__(self, reason: str, backoff: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.backoff = backoff


def _outage_message(error: HubError) -> str:
    agency = error.error.agency or "instansi terkait"
    return f"Layanan {agency} sedang terganggu; permohonan Anda tetap tersimpan dan akan dilanjutkan otomatis."


def checked_application(
    processes: Mapping[str, Process], request: ApplicationRequest
) -> tuple[Process, dict[str, Any]]:
    """The process ``request`` applies for and its checked params; ``invalid_input`` naming what is wrong."""
    process = processes.get(request.service)
    if process is None:
        known = ", ".join(sorted(processes)) or "none"
        raise HubError.of(ErrorCode.INVALID_INPUT, f"Unknown service {request.service!r}; this hub runs: {known}")
    try:
        params = process.params.model_validate(request.params)
    except ValidationError as exc:
        error = HubError.from_validation(exc, f"{request.service} params").error
        issues = [issue.model_copy(update={"field": f"params.{issue.field}"}) for issue in error.issues]
        raise HubError(error.model_copy(update={"issues": issues})) from None
    return process, params.model_dump(mode="json")


class ProcessEngine:
    def __init__(
        self,
        nc: NATS,
        store: ApplicationStore,
        events: EventPublisher,
        dead_letters: DeadLetters,
        processes: Mapping[str, Process],
        issuer: Issuer,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.store = store
        self.documents = DocumentStore.beside(store)
        self._events = events
        self._dead_letters = dead_letters
        self.processes = dict(processes)
        self._issuer = issuer
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Any] = []
        self._running = asyncio.Event()

    # --- lifecycle ---

    async def start(self) -> None:
        steps = await self._js.pull_subscribe(
            "mpp.process.>", durable=_DURABLE, config=ConsumerConfig(ack_wait=_ACK_WAIT, max_deliver=-1)
        )
        # Every worker pulls from the same durable consumer: the work is shared, each message taken once.
        payments = await self._js.subscribe(
            event_subject("payment.paid"), queue=_PAYMENTS_DURABLE, durable=_PAYMENTS_DURABLE,
            cb=self._on_payment, manual_ack=True,
        )  # fmt: skip
        self._subscriptions = [steps, payments]
        self._running.set()
        self._tasks.append(asyncio.create_task(self._pull(steps)))
        await self.store.rewrite_legacy()  # an older hub's records held the NIK in clear: sealed before anything
        await self._resume()

    async def _resume(self) -> None:
        """Kick every open application once at start: a worker that died left its step unacknowledged,
        and JetStream would only hand it out again after the ack wait. Applications whose step went to the
        dead-letter stream are left to the person who replays it, or every start would bury them again."""
        for application in await self.store.every():
            if not application.status.final and application.history[-1].message != _STUCK_MESSAGE:
                await self.kick(application.tracking_no)

    async def stop(self) -> None:
        self._running.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    # --- applications ---

    async def submit(self, request: ApplicationRequest) -> Application:
        process, params = self._checked(request)
        for _ in range(5):
            application = self._new(process, request, new_tracking_number(), utcnow())
            try:
                await self.store.create(self.store.new(application, request.applicant_nik, params))
                break
            except StaleApplication:
                continue  # 40 random bits clashed: draw another number
        else:
            raise HubError.of(ErrorCode.INTERNAL, "Could not allocate a tracking number; try again")
        await self._announce(application)
        await self.kick(application.tracking_no)
        return application

    async def adopt(self, request: ApplicationRequest, tracking_no: str, submitted_at: dt.datetime) -> bool:
        """Start an application a site took in, under the number the site gave it; False when it is here already
        (the site's message processed a second time), which starts nothing twice."""
        process, params = self._checked(request)
        application = self._new(process, request, tracking_no, submitted_at)
        try:
            await self.store.create(self.store.new(application, request.applicant_nik, params))
        except StaleApplication:
            found = await self.store.get(tracking_no)
            if found is None or not self.store.is_applicant(found[0], request.applicant_nik):
                raise HubError.of(
                    ErrorCode.CONFLICT, f"Tracking number {tracking_no} belongs to another application on this hub"
                ) from None
            await self.kick(tracking_no)  # the first processing may have stopped before its kick
            return False
        await self._announce(application)
        await self.kick(tracking_no)
        return True

    def _checked(self, request: ApplicationRequest) -> tuple[Process, dict[str, Any]]:
        return checked_application(self.processes, request)

    @staticmethod
    def _new(process: Process, request: ApplicationRequest, tracking_no: str, now: dt.datetime) -> Application:
        return Application(
            tracking_no=tracking_no, service=process.service, title=process.title,
            applicant_nik=request.applicant_nik, channel=request.channel, agencies=list(process.agencies),
            status=ApplicationStatus.SUBMITTED, step=process.first_step, details={},
            history=[StatusStep(at=now, status=ApplicationStatus.SUBMITTED, step="submitted",
                                message=process.submitted_message)],
            created_at=now, updated_at=now,
        )  # fmt: skip

    async def kick(self, tracking_no: str, *, after: float = 0.0, timer: str | None = None) -> None:
        """Ask some worker to move the application on, now or ``after`` seconds from now (as ``timer``)."""
        headers = {_NOT_BEFORE: f"{time.time() + after:.3f}"} if after > 0 else {}
        if timer is not None:
            headers[_TIMER] = timer
        await self._js.publish(f"mpp.process.{tracking_no.replace('-', '')}", b"", headers=headers or None)

    # --- the work ---

    async def _pull(self, subscription: Any) -> None:
        while self._running.is_set():
            try:
                messages = await subscription.fetch(batch=8, timeout=1)
            except Exception:  # nats' TimeoutError when the queue is empty; connection blips alike
                await asyncio.sleep(0.05)
                continue
            for outcome in await asyncio.gather(*(self._handle(msg) for msg in messages), return_exceptions=True):
                if isinstance(outcome, Exception):  # could not even nak: JetStream redelivers after the ack wait
                    _log.warning("process message not settled", error=type(outcome).__name__)

    async def _on_payment(self, msg: Msg) -> None:
        if msg.metadata.num_delivered > MAX_FAILURES:
            # Unacknowledged that often: the workers die on it, or NATS keeps failing us here.
            await self._dead_letters.bury(msg, f"not handled in {MAX_FAILURES} deliveries")
            return
        try:
            paid = PaymentPaid.model_validate_json(msg.data)
        except ValidationError as exc:
            reason = HubError.from_validation(exc, "payment.paid event").error.message
            await self._dead_letters.bury(msg, reason)  # retrying cannot mend it; dropping it could lose a payment
            return
        try:
            ours = await self.store.get(paid.reference) is not None
        except HubError:
            ours = False  # the reference is not a tracking number: a bill some portal made itself
        if ours:
            await self.kick(paid.reference)
        await msg.ack()

    async def _handle(self, msg: Msg) -> None:
        tracking_no = msg.subject.rsplit(".", 1)[-1]
        headers = msg.headers or {}
        due, timer = float(headers.get(_NOT_BEFORE, 0)), headers.get(_TIMER)
        if due > time.time():
            await msg.nak(delay=due - time.time())  # early: JetStream brings it back when it is due
            return
        failed_before = msg.metadata.num_delivered - 1 - (1 if due else 0)
        if failed_before >= MAX_FAILURES:
            await self._bury(msg, tracking_no, f"a worker took it {failed_before} times and never answered")
            return
        try:
            await self._advance(tracking_no, timer)
        except _BUS_ERRORS as exc:
            # The bus itself blinked (a node restarting): not this message's fault, so not counted against it.
            _log.info("process step interrupted", tracking_no=tracking_no, error=type(exc).__name__)
            await self.kick(tracking_no, after=1.0, timer=timer)
        except Exception as exc:
            reason = exc.reason if isinstance(exc, _StepFailed) else f"{type(exc).__name__}: {exc}"
            # A step's refusal explains itself; only the unexpected is worth a traceback (and its cost).
            _log.warning(
                "process step failed", tracking_no=tracking_no, error=mask_text(reason),
                exc_info=not isinstance(exc, _StepFailed),
            )  # fmt: skip
            if failed_before + 1 >= MAX_FAILURES:
                await self._bury(msg, tracking_no, f"failed {MAX_FAILURES} times, last: {reason}")
            else:
                backoff = exc.backoff if isinstance(exc, _StepFailed) else 2.0
                await msg.nak(delay=min(backoff * 2.0**failed_before, 60.0))
            return
        await msg.ack()

    async def _bury(self, msg: Msg, tracking_no: str, reason: str) -> None:
        await self._dead_letters.bury(msg, reason)
        with contextlib.suppress(Exception):  # the letter is kept; a note the citizen sees is a courtesy
            found = await self.store.get(tracking_no)
            if found is not None and not found[0].application.status.final:
                await self._record(found[0], found[1], Wait(0, _STUCK_MESSAGE), schedule=False)

    async def _advance(self, tracking_no: str, timer: str | None) -> None:
        """Run the current step of one application (unless ``timer`` is not its live timer) and record it."""
        found = await self.store.get(tracking_no)
        if found is None:
            return None
        stored, revision = found
        app = stored.application
        process = self.processes.get(app.service)
        if app.status.final or process is None or (timer is not None and stored.state.get(_TIMER_STATE) != timer):
            return None
        step = process.steps[app.step]
        with structlog.contextvars.bound_contextvars(tracking_no=app.tracking_no, step=app.step):
            await self._announce(app)  # again, in case a worker died between recording and announcing
            try:
                outcome = await step(self._context(stored, process))
            except HubError as exc:
                if not exc.error.retryable:  # a refusal the step did not handle: waiting will not mend it
                    raise _StepFailed(f"{exc.code.value}: {exc.error.message}", process.failure_backoff) from exc
                return await self._record_outage(stored, revision, exc, process)
            except Exception as exc:
                raise _StepFailed(f"{type(exc).__name__}: {exc}", process.failure_backoff) from exc
            if os.environ.get(CRASH_AFTER_STEP_ENV) == app.step and not isinstance(outcome, Wait):
                os.kill(os.getpid(), signal.SIGKILL)  # a worker dying at the worst moment, for the tests
            try:
                await self._record(stored, revision, outcome)
            except StaleApplication:
                _log.info("application moved on elsewhere")

    def _context(self, stored: StoredApplication, process: Process) -> ProcessContext:
        app = stored.application

        async def call(operation: str, payload: Mapping[str, Any]) -> BaseModel:
            # Signed for this process and this application only: a worker checks both before it answers.
            client = HubClient(
                self._nc, timeout=10, issuer=self._issuer, consumer=f"process-{process.service}",
                providers=process.providers,
            )  # fmt: skip
            return await client.call(
                operation, dict(payload), correlation_id=app.tracking_no, purpose=process.purpose,
                application=app.tracking_no, channel=app.channel.value,  # the channel the citizen applied through
            )  # fmt: skip

        if stored.nik is None:  # only a closed application has none, and a closed one runs no step
            raise RuntimeError(f"open application {app.tracking_no} holds no applicant NIK")
        return ProcessContext(application=app, state=stored.state, call=call, now=utcnow(), applicant_nik=stored.nik)

    async def record_outcome(self, stored: StoredApplication, revision: int, outcome: Outcome) -> None:
        """Record an outcome reached outside a step (an officer action) as a step's is recorded."""
        await self._record(stored, revision, outcome)

    async def _record(
        self, stored: StoredApplication, revision: int, outcome: Outcome, *, schedule: bool = True
    ) -> None:
        """Record the outcome (compare-and-set), then have the application moved on when it says."""
        app = stored.application
        now = utcnow()
        quiet = isinstance(outcome, Wait) and outcome.message is None and not outcome.details  # "not yet"
        status = outcome.status or app.status
        history = list(app.history)
        message = outcome.message
        if message is not None and not (history and history[-1].message == message):
            step_name = outcome.step if isinstance(outcome, Next) else app.step
            history.append(StatusStep(at=now, status=status, step=step_name, agency=outcome.agency, message=message))
        new_app = app.model_copy(
            update={
                "status": status,
                "step": outcome.step if isinstance(outcome, Next) else app.step,
                "details": {**app.details, **outcome.details},
                "history": history,
                "updated_at": app.updated_at if quiet else now,
            }
        )
        state = {**stored.state, **(outcome.state if not isinstance(outcome, Finish) else {})}
        if schedule:
            state.pop(_TIMER_STATE, None)  # any earlier timer is over: this outcome says what happens next
            if isinstance(outcome, Wait):
                # The timer's kick goes out before the state naming it: a crash in between leaves a kick that
                # is dropped as a leftover while this message, not yet acknowledged, is delivered again.
                state[_TIMER_STATE] = timer = uuid.uuid4().hex
                await self.kick(app.tracking_no, after=outcome.seconds, timer=timer)
        # Once final, the store keeps neither the NIK nor the state: nothing is left to run that needs them.
        await self.store.replace(stored.model_copy(update={"application": new_app, "state": state}), revision)
        if status is not app.status:
            await self._announce(new_app)
        if isinstance(outcome, Next):
            await self.kick(app.tracking_no)

    async def _record_outage(self, stored: StoredApplication, revision: int, error: HubError, process: Process) -> None:
        _log.info("step paused", code=error.code.value, agency=error.error.agency)
        with contextlib.suppress(StaleApplication):  # moved on elsewhere: whoever moved it carries on
            await self._record(stored, revision, Wait(process.retry_after, _outage_message(error), error.error.agency))

    async def _announce(self, app: Application) -> None:
        """``application.<status>`` on JetStream, once per status change however often it is asked: ids and masked
        values only (:class:`ApplicationEvent`), for the events stream keeps them 90 days."""
        began = len(app.history) - 1
        while began > 0 and app.history[began - 1].status is app.status:
            began -= 1
        dedup_id = f"{app.tracking_no}:{app.status.value}:{began}"
        event = ApplicationEvent.of(app)
        await self._events.publish(Event(f"application.{app.status.value}", event, dedup_id=dedup_id))
