"""Officer actions: a process step a person completes, with what only that person may give (a passphrase).

The step itself answers ``Wait`` like any step with nothing to do yet; its process names an
:class:`OfficerAction` for it. An officer whose consumer holds the action's ``right`` submits the action's body
(``POST /v1/applications/{tracking_no}/actions/{name}``, :mod:`hub._routes_documents`), and within that request:

1. the application must wait at the action's step; it is claimed (a compare-and-set on its record), so that a
   second officer's submission cannot run beside the first;
2. ``make`` runs with the body, its contract calls made as the officer's consumer: what the body holds is used
   for those calls and is never stored (not in the application, its events, the logs or the dead letters);
3. the document it made is kept, once per application (:mod:`hub._documents`);
4. ``then``'s outcome is recorded with a compare-and-set, as a step's would be.

A hub killed during 2 leaves the application waiting: the claim lapses ``timeout`` + 5 s after it was taken, and
the officer submits again. Killed between 3 and 4, the document is kept: the next submission records it, runs nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from contracts import Application, ErrorCode, HubError
from hub._applications import StaleApplication, StoredApplication
from hub._documents import Document
from hub._process import Outcome, ProcessContext, ProcessEngine
from hub._time import utcnow

__all__ = ["OfficerAction", "OfficerCall", "action_of", "perform", "waiting_action"]

Body = TypeVar("Body", bound=BaseModel)
#: A contract call made as the officer's own consumer (rights, purpose and audit are the officer's).
OfficerCall = Callable[[str, Mapping[str, Any]], Awaitable[BaseModel]]

#: Where the working state holds the claim of a submission under way: its id, and when it lapses.
_CLAIM = "_officer_claim"
#: A claim outlives the action's own deadline by this much, so that it lapses only once the action is over.
_CLAIM_MARGIN = dt.timedelta(seconds=5)
_CAS_ATTEMPTS = 10


@dataclass(frozen=True)
class OfficerAction(Generic[Body]):
    """What an application waiting at ``step`` needs from an officer holding ``right``.

    ``make`` produces the application's document from the body (secrets as ``SecretStr``); ``then`` says what is
    recorded once it is kept, from the document alone (it runs again, without ``make``, after a crash).
    """

    step: str
    right: str
    body: type[Body]
    make: Callable[[ProcessContext, Body], Awaitable[Document]]
    then: Callable[[Application, Document], Outcome]
    timeout: float = 30.0  # seconds ``make`` may take; its calls are cut off there


def action_of(engine: ProcessEngine, application: Application, name: str) -> OfficerAction[Any]:
    """The officer action ``name`` of the application's process."""
    process = engine.processes.get(application.service)
    action = process.actions.get(name) if process else None
    if action is None:
        raise HubError.of(ErrorCode.NOT_FOUND, f"The {application.service} service has no officer action {name!r}")
    return action


def waiting_action(engine: ProcessEngine, application: Application, name: str) -> OfficerAction[Any]:
    """The officer action ``name``, if the application waits for it now (else ``conflict``)."""
    action = action_of(engine, application, name)
    if application.status.final or application.step != action.step:
        raise HubError.of(
            ErrorCode.CONFLICT,
            f"Application {application.tracking_no} is at {application.step} ({application.status.value}), "
            f"not waiting for {name}",
        )
    return action


async def perform(
    engine: ProcessEngine, tracking_no: str, name: str, body: BaseModel, call: OfficerCall
) -> Application:
    """Run the officer action ``name`` on the application, keep its document, record its outcome; the application."""
    stored, revision, action = await _waiting(engine, tracking_no, name)
    document = await engine.documents.get(tracking_no)
    if document is None:
        stored, revision = await _claim(engine, stored, revision, name, action)
        document = await _made(engine, stored, action, body, call)
    return await _record(engine, tracking_no, name, action.then(stored.application, document))


async def _waiting(
    engine: ProcessEngine, tracking_no: str, name: str
) -> tuple[StoredApplication, int, OfficerAction[Any]]:
    """The application as it is now, its revision, and the action ``name`` it waits for."""
    found = await engine.store.get(tracking_no)
    if found is None:
        raise HubError.of(ErrorCode.NOT_FOUND, f"No application {tracking_no} on this hub")
    return found[0], found[1], waiting_action(engine, found[0].application, name)


def _unclaimed(stored: StoredApplication) -> StoredApplication:
    """``stored`` without any submission's claim: what a step, or the next record, sees of the state."""
    return stored.model_copy(update={"state": {k: v for k, v in stored.state.items() if k != _CLAIM}})


async def _claim(
    engine: ProcessEngine, stored: StoredApplication, revision: int, name: str, action: OfficerAction[Any]
) -> tuple[StoredApplication, int]:
    """The application claimed for this submission (a compare-and-set), unless another one's claim holds."""
    tracking_no = stored.application.tracking_no
    for _ in range(_CAS_ATTEMPTS):
        held = stored.state.get(_CLAIM)
        if held is not None and dt.datetime.fromisoformat(held["until"]) > utcnow():
            raise HubError.of(
                ErrorCode.CONFLICT,
                f"Another officer's submission for application {tracking_no} is under way; try again after "
                f"{held['until']} if it does not complete",
            )
        until = utcnow() + dt.timedelta(seconds=action.timeout) + _CLAIM_MARGIN
        claim = {"id": uuid.uuid4().hex, "until": until.isoformat()}
        claimed = stored.model_copy(update={"state": {**stored.state, _CLAIM: claim}})
        try:
            return claimed, await engine.store.replace(claimed, revision)
        except StaleApplication:  # the engine looked at it meanwhile (its wait's timer): read it again
            stored, revision, _ = await _waiting(engine, tracking_no, name)
    raise HubError.of(ErrorCode.CONFLICT, f"Application {tracking_no} keeps changing; try again")


async def _made(
    engine: ProcessEngine, stored: StoredApplication, action: OfficerAction[Any], body: BaseModel, call: OfficerCall
) -> Document:
    """The action's document, kept; or, if another submission kept one first (its claim lapsed), that one."""
    tracking_no = stored.application.tracking_no
    if stored.nik is None:  # only a closed application has none, and a closed one waits for nothing
        raise RuntimeError(f"open application {tracking_no} holds no applicant NIK")
    state = _unclaimed(stored).state
    context = ProcessContext(
        application=stored.application, state=state, call=call, now=utcnow(), applicant_nik=stored.nik
    )
    try:
        async with asyncio.timeout(action.timeout):
            made = await action.make(context, body)
    except Exception as exc:
        await _release(engine, tracking_no, stored.state[_CLAIM]["id"])
        if isinstance(exc, TimeoutError):
            raise HubError.of(
                ErrorCode.AGENCY_TIMEOUT, f"The action did not complete within {action.timeout:g}s; submit it again"
            ) from None
        raise
    if await engine.documents.keep(tracking_no, made):
        return made
    kept = await engine.documents.get(tracking_no)
    if kept is None:  # kept and gone: nothing removes a document, so the bucket was tampered with
        raise RuntimeError(f"application {tracking_no}'s document is neither new nor kept")
    return kept


async def _release(engine: ProcessEngine, tracking_no: str, claim_id: str) -> None:
    """Drop this submission's claim (it failed), so the officer may submit again at once."""
    for _ in range(_CAS_ATTEMPTS):
        found = await engine.store.get(tracking_no)
        if found is None or (found[0].state.get(_CLAIM) or {}).get("id") != claim_id:
            return
        try:
            await engine.store.replace(_unclaimed(found[0]), found[1])
            return
        except StaleApplication:
            continue


async def _record(engine: ProcessEngine, tracking_no: str, name: str, outcome: Outcome) -> Application:
    """Record the action's outcome on the application as it is now (a compare-and-set); the application."""
    for _ in range(_CAS_ATTEMPTS):
        found = await engine.store.get(tracking_no)
        if found is None:
            raise HubError.of(ErrorCode.NOT_FOUND, f"No application {tracking_no} on this hub")
        stored, revision = found
        try:
            waiting_action(engine, stored.application, name)
        except HubError:
            return stored.application  # recorded already, by a submission that found the same document
        try:
            await engine.record_outcome(_unclaimed(stored), revision, outcome)
        except StaleApplication:
            continue
        found = await engine.store.get(tracking_no)
        return found[0].application if found else stored.application
    raise HubError.of(ErrorCode.CONFLICT, f"Application {tracking_no} keeps changing; try again")
