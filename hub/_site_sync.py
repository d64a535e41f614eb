"""The hub's side of the sites: their stream sourced into ``MPP_SITES``, processed once each, and their reports.

The hub's NATS sources every registered site's stream across its leaf connection (``$JS.<site>.API``), whenever
the link is up: nothing on the site has to be running but its nats-server. A worker then takes the messages from
``MPP_SITES`` one at a time, in order, through a durable consumer every worker shares:

- it checks the site's signature and opens the sealed content (:mod:`hub._site_intake`);
- it does what the message says: starts the application under the site's tracking number
  (:meth:`hub._process.ProcessEngine.adopt`), keeps the ticket or the survey, or folds the audit record into the
  hub's audit log;
- then it records the site's sequence as processed (``synced.<site>``), and acknowledges.

Exactly once: a message processed again (a worker died before its acknowledgement) is skipped when its sequence is
at or below the one recorded, and each effect is idempotent on its own besides (an application that exists is
not started twice, a ticket is written under its id, a survey's claim holds once). A message the hub will not
process (no valid signature, a number another application holds) is dead-lettered, never retried in a loop.

Each site reports every few seconds on ``mpp.site.<site>.status`` (how much it holds); the answer tells it how far
the hub has processed, so the site deletes what is synced, and today's entry of the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ExternalStream,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamSource,
)
from nats.js.client import JetStreamContext
from pydantic import BaseModel, ValidationError

from contracts import ApplicationRequest, HubError, SiteVisit, SurveyRecord
from hub._audit import AuditEntry, AuditLog
from hub._dlq import DeadLetters
from hub._process import ProcessEngine
from hub._queue import FRONT_BUCKET
from hub._roles import SITE_STREAM, SITES_STREAM
from hub._site_intake import Envelope, IntakeKind, IntakeRefused, SiteOpener
from hub._site_schedule import SiteSchedule
from hub._site_state import SiteBook
from hub._sites import SiteRecord
from hub._streams import bind_key_value, ensure_stream
from hub._survey import SurveyBox
from hub._time import WIB, utcnow

__all__ = ["SiteReply", "SiteReport", "SiteSync", "provision_sites", "sites_stream"]

_DURABLE = "site-sync"
_QUEUE = "site-reports"
_RETRY = 2.0
_log = structlog.get_logger("hub.sites")


def sites_stream(sites: Iterable[SiteRecord]) -> StreamConfig:
    """``MPP_SITES``: every site's stream, sourced across its leaf connection (a work queue: processed, gone)."""
    sources = [
        StreamSource(
            name=SITE_STREAM,
            external=ExternalStream(api=f"$JS.{site.name}.API", deliver=f"mpp.site.{site.name}.sync"),
        )
        for site in sites
    ]
    return StreamConfig(
        name=SITES_STREAM, subjects=[], sources=sources, retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
    )  # fmt: skip


async def provision_sites(js: JetStreamContext, sites: Iterable[SiteRecord]) -> None:
    """As the admin: register the sites in ``mpp_sites`` and source their streams (nothing without sites)."""
    listed = list(sites)
    if not listed:
        return
    await ensure_stream(js, sites_stream(listed))
    book = await SiteBook.open(js)
    for site in listed:
        await book.register(site.name, site.model_dump_json().encode())


async def registered_sites(js: JetStreamContext) -> dict[str, SiteRecord]:
    book = await SiteBook.open(js)
    records: dict[str, SiteRecord] = {}
    for name in await book.names():
        raw = await book.registration(name)
        if raw:
            records[name] = SiteRecord.model_validate_json(raw)
    return records


class SiteReport(BaseModel):
    """What a site says every few seconds."""

    waiting: int  # messages its stream holds


class SiteReply(BaseModel):
    """What the hub answers: how far it has processed the site's stream, and today's schedule entry."""

    synced_seq: int
    today: SiteVisit | None = None


def origin_sequence(msg: Msg) -> int:
    """The site stream's sequence of a sourced message (its ``Nats-Stream-Source`` header: ``name seq ...``)."""
    header = (msg.headers or {}).get("Nats-Stream-Source", "")
    parts = header.split()
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        raise IntakeRefused("the message carries no source sequence: it was not sourced from a site") from None


class SiteSync:
    """Processes what the sites sent, and answers their reports."""

    def __init__(
        self,
        nc: NATS,
        sites: Mapping[str, SiteRecord],
        opener: SiteOpener,
        engine: ProcessEngine,
        audit: AuditLog,
        dead_letters: DeadLetters,
        schedule: SiteSchedule | None = None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._sites = dict(sites)
        self._opener = opener
        self._engine = engine
        self._audit = audit
        self._dead_letters = dead_letters
        self._schedule = schedule
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: list[Any] = []
        self.book: SiteBook | None = None

    def add_sites(self, sites: Mapping[str, SiteRecord]) -> None:
        """Serve these sites too (registered since start)."""
        self._sites.update(sites)
        self._opener.add_sites(sites)

    async def start(self) -> None:
        self.book = await SiteBook.open(self._js)
        front = await bind_key_value(self._js, FRONT_BUCKET)
        self._front, self._surveys = front, SurveyBox(front)
        self._subscriptions.append(await self._nc.subscribe("mpp.site.*.status", queue=_QUEUE, cb=self._on_report))
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1, ack_wait=60)
        pull = await self._js.pull_subscribe("", durable=_DURABLE, stream=SITES_STREAM, config=config)
        self._subscriptions.append(pull)
        self._tasks.append(asyncio.create_task(self._pull(pull)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _pull(self, pull: Any) -> None:
        while True:
            try:
                messages = await pull.fetch(1, timeout=5)
            except NatsTimeout:
                continue
            except NatsError as exc:
                _log.warning("site sync pull failed", error=type(exc).__name__)
                await asyncio.sleep(1)
                continue
            for msg in messages:
                try:
                    await self._handle(msg)
                except Exception as exc:  # one message's surprise must not stop every site's sync
                    _log.error("site message failed", subject=msg.subject, error=type(exc).__name__)
                    with contextlib.suppress(NatsError):
                        await msg.nak(delay=_RETRY)

    async def _handle(self, msg: Msg) -> None:
        assert self.book is not None
        site = msg.subject.split(".")[2] if msg.subject.count(".") >= 3 else "?"
        try:
            seq = origin_sequence(msg)
            if seq <= (await self.book.synced(site)).seq:
                await msg.ack()  # processed before this delivery: its effects are there once
                return
            envelope, payload = self._opener.open(msg.subject, msg.data, msg.headers)
            await self._apply(envelope, payload, seq)
        except (IntakeRefused, ValidationError) as exc:
            await self._dead_letters.bury(msg, f"site {site}: {exc}")
            seq = _maybe_sequence(msg)
        except HubError as exc:
            if exc.error.retryable:
                await msg.nak(delay=_RETRY)
                return
            await self._dead_letters.bury(msg, f"site {site}: {exc.error.message}")
            seq = _maybe_sequence(msg)
        except (NatsError, OSError) as exc:
            _log.warning("site message not processed yet", site=site, error=type(exc).__name__)
            await msg.nak(delay=_RETRY)
            return
        else:
            await msg.ack()
        if seq:
            await self.book.record_synced(site, seq)

    async def _apply(self, envelope: Envelope, payload: dict[str, Any], seq: int) -> None:
        if envelope.kind is IntakeKind.APPLICATION:
            request = ApplicationRequest.model_validate(payload["request"])
            started = await self._engine.adopt(request, payload["tracking_no"], envelope.at)
            _log.info("site application synced", site=envelope.site, tracking_no=payload["tracking_no"], new=started)
        elif envelope.kind is IntakeKind.TICKET:
            ticket_id = str(payload["id"])
            await self._front.put(f"s.{envelope.site}.{ticket_id}", orjson.dumps(payload))
        elif envelope.kind is IntakeKind.SURVEY:
            with contextlib.suppress(HubError):  # conflict: this survey (or one for the same visit) is kept already
                await self._surveys.submit(SurveyRecord.model_validate(payload))
        else:
            entry = AuditEntry.model_validate({**payload, "site": envelope.site, "site_seq": seq})
            await self._audit.append(entry.model_copy(update={"site_time": envelope.at}))

    async def _on_report(self, msg: Msg) -> None:
        assert self.book is not None
        site = msg.subject.split(".")[2]
        if site not in self._sites:
            return
        try:
            report = SiteReport.model_validate_json(msg.data)
        except ValidationError:
            return
        await self.book.record_seen(site, report.waiting)
        today = None
        if self._schedule is not None:
            today = await self._schedule.on(site, utcnow().astimezone(WIB).date())
        reply = SiteReply(synced_seq=(await self.book.synced(site)).seq, today=today)
        with contextlib.suppress(NatsError):
            await msg.respond(reply.model_dump_json().encode())


def _maybe_sequence(msg: Msg) -> int:
    try:
        return origin_sequence(msg)
    except IntakeRefused:
        return 0
