"""The audit log of personal-data processing: append-only records on JetStream, one Merkle log over them.

UU 27/2022 (Pelindungan Data Pribadi) asks a controller to show who processed whose personal data and
why. Every record takes the next leaf index of one log; :mod:`hub._checkpoints` hashes the records into an
RFC 6962 Merkle tree and signs its head, so that a record removed, altered, reordered or slipped in breaks
a signed (and witnessed) checkpoint, whoever holds NATS rights. This module writes and walks the records.

Under load a worker writes the records that queued up while its last write was in flight as one
message (a JSON array): one JetStream round trip for many records, and far fewer races between workers
for the head of the log. A message holding one record is that record.

The data subject is kept twice, neither time in clear: as a keyed hash (searchable by whoever holds the
audit key, not reversible by whoever only reads the stream) and masked (readable by ops).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig, DeliverPolicy, Header, StorageType, StreamConfig, StreamState
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, field_validator

from contracts import Mask
from hub._streams import ensure_stream

__all__ = [
    "AUDIT_STREAM",
    "AUDIT_SUBJECT",
    "CHECKPOINTS_STREAM",
    "CHECKPOINTS_SUBJECT",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "VerifyReport",
    "Walk",
    "audit_stream_config",
    "checkpoints_stream_config",
    "leaf_data",
    "parse_records",
    "settled",
]

AUDIT_STREAM = "MPP_AUDIT"
AUDIT_SUBJECT = "mpp.audit.records"
#: Where the signed checkpoints of the log are kept (:mod:`hub._checkpoints`).
CHECKPOINTS_STREAM = "MPP_AUDIT_CHECKPOINTS"
CHECKPOINTS_SUBJECT = "mpp.audit.checkpoints"

_WRONG_LAST_SEQUENCE = 10071  # JetStream's JSStreamWrongLastSequenceErrF
_MAX_ATTEMPTS = 50
#: Records per message at most: 64 records are about 40 KB, far below NATS's 1 MB payload limit.
_MAX_BATCH = 64
# A writer that lost a race must re-read the head (two round trips) while the winner appends again in one;
# backing off lets it outlast a burst of appends from the other workers instead of losing every time.
_BACKOFF_BASE = 0.0005
_BACKOFF_CAP = 0.25
# A stalled delivery means a broken server or connection, never "end of log": say so instead of guessing.
_DELIVERY_TIMEOUT = 10.0
_SUBJECT_MASK = Mask(keep_start=4, keep_end=2)

_log = structlog.get_logger("hub.audit")

# Its own generator: jitter must not draw from (and so disturb) the random module an embedding program seeds.
_JITTER = random.Random()

_Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class AuditError(RuntimeError):
    """The audit log could not be written or read; callers must then withhold personal data."""


class _Processing(BaseModel):
    """What an audit entry and the record made of it share: who processed what, why, and how it ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consumer: str | None = None
    operation: str
    outcome: str
    correlation_id: str
    agency: str | None = None
    #: The provider that served, when it is not the agency's own (one bank of several): hub._providers.
    provider: str | None = None
    purpose: str | None = None
    legal_basis: str | None = None
    channel: str | None = None
    officer: str | None = None
    consent: str | None = None
    subject_kind: str | None = None
    #: The subject's keyed hash (:meth:`AuditLog.subject_hash`) and masked form. A caller sets them only for a
    #: subject it holds hashed, when ``subject`` is None (a closed application keeps no NIK).
    subject_hash: _Hex64 | None = None
    subject_masked: str | None = None
    fields: tuple[str, ...] | None = None
    #: The index of the record written when the call was let through to its agency, which said it would be
    #: answered: this call ended otherwise (this record's outcome). See :func:`settled`.
    amends: int | None = Field(default=None, ge=0)
    #: A record a site (a van, a kiosk) made, folded in when it synced: the site, its stream's sequence (the order
    #: the site recorded in) and the site's own time of it; the hub checked the site's signature first.
    site: str | None = None
    site_seq: int | None = Field(default=None, ge=1)
    site_time: datetime | None = None


class AuditEntry(_Processing):
    """What a caller asks the log to record about one processing (the log adds time, index and worker).

    ``subject`` is the data subject's identifier in clear (a NIK, a card number): the log keeps only its
    keyed hash and a masked form. ``fields`` names the reply fields released, where a right limits them.
    """

    subject: str | None = None


class AuditRecord(_Processing):
    """One processing of personal data (or one refusal): leaf ``index`` of the audit log."""

    seq: int | None = None  # the stream message holding it; not part of the leaf
    index: int = Field(ge=0)
    time: datetime
    worker: str

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # A naive time cannot be placed on the timeline an investigation rebuilds from several workers.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("time must carry its time zone")
        return value.astimezone(UTC)


def leaf_data(record: AuditRecord) -> bytes:
    """The bytes the Merkle log hashes for ``record``: canonical JSON without the stream position.

    Absent (None) fields are left out, so a field added to the record later leaves every older leaf, and
    every proof already handed out, as it was.
    """
    fields = record.model_dump(mode="json", exclude={"seq"}, exclude_none=True)
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def settled(records: Iterable[AuditRecord]) -> list[AuditRecord]:
    """Each call's last word: ``records`` without those a later one among them amends, in their order.

    A worker records a call when it lets it through to the agency, so that the record's write runs beside the
    agency's answer; when the call then ends otherwise, a second record amends the first. Views of who read
    what (the citizen's access log, who-read, the usage report) show the call once, as it ended.
    """
    listed = list(records)
    amended = {record.amends for record in listed if record.amends is not None}
    return [record for record in listed if record.index not in amended]


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of walking the records (and, from :mod:`hub._checkpoints`, of checking checkpoints).

    ``records`` and ``head_seq`` describe the intact part: the whole log when ``ok``, else the records
    before ``problem_seq``. ``root`` is the Merkle root (hex) of those records.
    """

    ok: bool
    records: int
    head_seq: int
    root: str
    problem_seq: int | None
    problem: str | None
    checkpoint_size: int | None = None
    witnessed_by: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


class _InvalidRecord(ValueError):
    pass


# A batch is never empty: an empty one would be a message that vouches for nothing.
_BATCH = TypeAdapter(Annotated[list[AuditRecord], Field(min_length=1)])


def _reason(exc: ValidationError) -> str:
    # Without the input: a forged or broken message may hold anything, a NIK included.
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(map(str, first["loc"]))
    return f"{where}: {first['msg']}" if where else first["msg"]


def _parse(seq: int, data: bytes) -> list[AuditRecord]:
    """The records of one message (one, or a batch), with ``seq`` filled."""
    batch = data.lstrip()[:1] == b"["
    try:
        records = _BATCH.validate_json(data) if batch else [AuditRecord.model_validate_json(data)]
    except ValidationError as exc:
        raise _InvalidRecord(_reason(exc)) from None
    return [record.model_copy(update={"seq": seq}) for record in records]


def parse_records(seq: int, data: bytes) -> list[AuditRecord]:
    """The records stream message ``seq`` holds; raises :class:`AuditError` when it holds none."""
    try:
        return _parse(seq, data)
    except _InvalidRecord as exc:
        raise AuditError(f"record {seq} is not a valid audit record ({exc}); run `mpp-hub audit verify`") from None


def _message(records: list[AuditRecord]) -> bytes:
    parts = [record.model_dump_json(exclude={"seq"}, exclude_none=True).encode() for record in records]
    return parts[0] if len(parts) == 1 else b"[" + b",".join(parts) + b"]"


def _backoff(attempt: int) -> float:
    # Full jitter: writers that lost together spread out instead of colliding again.
    return _JITTER.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))


def _default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Walk:
    """The running state of a walk over the records: the intact prefix so far and the first problem found."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []  # leaf_data of every intact record, in log order
        self.seqs: list[int] = []  # the stream message of each of them
        self.subjects: dict[str, list[int]] = {}  # subject hash -> leaf indices
        self.head_seq = 0
        self.problem_seq: int | None = None
        self.problem: str | None = None

    def fail(self, seq: int, problem: str) -> None:
        self.problem_seq, self.problem = seq, problem

    def step(self, seq: int, data: bytes) -> bool:
        """Check one message; False once a problem is found."""
        if seq != self.head_seq + 1:
            self.fail(self.head_seq + 1, _missing(self.head_seq + 1, seq - 1))
            return False
        try:
            records = _parse(seq, data)
        except _InvalidRecord as exc:
            self.fail(seq, f"record {seq} is not a valid audit record ({exc})")
            return False
        for record in records:
            if record.index != len(self.leaves):
                self.fail(seq, _out_of_place(seq, record.index, len(self.leaves)))
                return False
            if record.subject_hash is not None:
                self.subjects.setdefault(record.subject_hash, []).append(record.index)
            self.leaves.append(leaf_data(record))
            self.seqs.append(seq)
        self.head_seq = seq
        return True


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"record {first} is missing (deleted?)"
    return f"record {first} is missing (deleted?), and so are the records after it up to {last}"


def _out_of_place(seq: int, index: int, expected: int) -> str:
    return f"record {seq} claims leaf {index} of the log where leaf {expected} comes next (inserted or reordered?)"


def audit_stream_config(stream: str = AUDIT_STREAM, subject: str = AUDIT_SUBJECT) -> StreamConfig:
    return StreamConfig(
        name=stream,
        subjects=[subject],
        storage=StorageType.FILE,
        # Proof of processing must outlive any retention limit we could pick today; retention is a
        # legal decision, taken (and carried out) outside the hub.
        max_age=0,
        max_msgs=-1,
        max_bytes=-1,
        deny_delete=True,
        deny_purge=True,
        # A rollup header would purge every earlier record.
        allow_rollup_hdrs=False,
    )


def checkpoints_stream_config(stream: str = CHECKPOINTS_STREAM, subject: str = CHECKPOINTS_SUBJECT) -> StreamConfig:
    # Like the records: nothing is ever removed, and a rollup header could not purge the history.
    return StreamConfig(
        name=stream, subjects=[subject], storage=StorageType.FILE, max_age=0,
        max_msgs=-1, max_bytes=-1, deny_delete=True, deny_purge=True, allow_rollup_hdrs=False,
    )  # fmt: skip


class AuditLog:
    """The audit log of one hub; every worker appends to the same stream and chain.

    ``stream`` and ``subject`` exist for tests and for running two logs side by side; the hub uses
    the defaults.
    """

    def __init__(
        self,
        js: JetStreamContext,
        key: bytes,
        *,
        worker: str | None = None,
        stream: str = AUDIT_STREAM,
        subject: str = AUDIT_SUBJECT,
    ) -> None:
        if not key:
            raise ValueError("the audit key must not be empty: without it a NIK hash is a lookup away from the NIK")
        self._js = js
        self._key = key
        self._worker = worker or _default_worker()
        self._stream = stream
        self._subject = subject
        self._waiting: list[tuple[dict[str, object], asyncio.Future[AuditRecord]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._head: tuple[int, int] | None = None  # (last seq, next leaf index) as this process last saw them

    async def setup(self, replicas: int | None = None) -> None:
        """Create the stream, or bring an existing one to this configuration (the admin role's work)."""
        await ensure_stream(self._js, audit_stream_config(self._stream, self._subject), replicas)

    def subject_hash(self, subject: str) -> str:
        return hmac.new(self._key, subject.strip().encode(), hashlib.sha256).hexdigest()

    async def append(self, entry: AuditEntry) -> AuditRecord:
        """Write one record at the head of the log; raises :class:`AuditError` when it cannot."""
        subject = entry.subject.strip() if entry.subject is not None else None
        fields: dict[str, object] = entry.model_dump(exclude={"subject"})
        if subject is not None:
            fields |= {"subject_hash": self.subject_hash(subject), "subject_masked": _SUBJECT_MASK.apply(subject)}
        elif entry.subject_hash is None:
            fields["subject_kind"] = None  # a kind without a subject names nobody
        fields["worker"] = self._worker
        waiter: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        self._waiting.append((fields, waiter))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting())
        # Shielded: a caller that gives up (its deadline passed) does not take its record out of the chain.
        return await asyncio.shield(waiter)

    async def _write_waiting(self) -> None:
        """Group commit: one writer per process; what queued up during a write goes out as the next one."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:_MAX_BATCH], self._waiting[_MAX_BATCH:]
                try:
                    records = await self._append_batch([fields for fields, _ in batch])
                except Exception as exc:
                    error = exc if isinstance(exc, AuditError) else AuditError(
                        f"could not append to audit stream {self._stream}: {exc}"
                    )  # fmt: skip
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(error)
                            waiter.exception()  # its caller may have gone (a deadline): no "never retrieved"
                    continue
                for (_, waiter), record in zip(batch, records, strict=True):
                    if not waiter.done():
                        waiter.set_result(record)
        finally:
            self._writer = None

    async def _append_batch(self, batch: list[dict[str, object]]) -> list[AuditRecord]:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            if self._head is None:
                self._head = await self._read_head()
            last_seq, next_index = self._head
            now = datetime.now(UTC)
            records = [
                AuditRecord.model_validate({**fields, "index": next_index + i, "time": now})
                for i, fields in enumerate(batch)
            ]
            try:
                seq = await self._publish(records, last_seq)
            except BadRequestError as exc:
                self._head = None
                if exc.err_code != _WRONG_LAST_SEQUENCE:
                    raise
                _log.debug("audit append lost a race, retrying", attempt=attempt, expected_last_seq=last_seq)
                await asyncio.sleep(_backoff(attempt))
                continue
            except BaseException:
                self._head = None  # the write may or may not have landed
                raise
            self._head = (seq, records[-1].index + 1)
            return [record.model_copy(update={"seq": seq}) for record in records]
        raise AuditError(
            f"could not append to audit stream {self._stream}: other writers took the head "
            f"{_MAX_ATTEMPTS} times in a row"
        )

    async def _publish(self, records: list[AuditRecord], last_seq: int) -> int:
        ack = await self._js.publish(
            self._subject,
            _message(records),
            stream=self._stream,
            # The server refuses the write if anyone appended since we read the head: one linear chain.
            headers={Header.EXPECTED_LAST_SEQUENCE.value: str(last_seq)},
        )
        return ack.seq

    async def _read_head(self) -> tuple[int, int]:
        """The stream's last sequence and the leaf index the next record takes."""
        last_seq = (await self._stream_state()).last_seq
        if last_seq == 0:
            return 0, 0
        data = await self._last_data(last_seq)
        if data is None:
            return last_seq, 0
        try:
            return last_seq, _parse(last_seq, data)[-1].index + 1
        except _InvalidRecord:
            # Fail closed: without the head's index a new record could not take its place in the log.
            raise AuditError(
                f"the last message of audit stream {self._stream} is not a valid audit record; no personal data "
                "is released until an operator has run `mpp-hub audit verify` and repaired the log"
            ) from None

    async def _last_data(self, last_seq: int) -> bytes | None:
        try:
            return (await self._js.get_msg(self._stream, seq=last_seq)).data or b""
        except NotFoundError:
            pass
        # The last record was deleted. Keep writing after the hole rather than stop auditing for good;
        # verify names the hole.
        _log.warning("last audit record is missing; chaining past it (run verify)", missing_seq=last_seq)
        try:
            return (await self._js.get_last_msg(self._stream, self._subject)).data or b""
        except NotFoundError:
            return None

    async def stream_created(self) -> datetime | None:
        """When the stream was created: a stream deleted and made again has a new time."""
        created = (await self._js.stream_info(self._stream)).created
        return created.astimezone(UTC) if created is not None else None

    async def _stream_state(self) -> StreamState:
        return (await self._js.stream_info(self._stream)).state

    async def walk(self) -> Walk:
        """Walk every record: the leaves of the intact prefix, and the first record missing, broken or out of
        place (checking them against checkpoints is :mod:`hub._checkpoints`' work)."""
        state = await self._stream_state()
        walk = Walk()
        async with aclosing(self._messages(state)) as messages:
            async for seq, data in messages:
                if not walk.step(seq, data):
                    return walk
        if walk.head_seq < state.last_seq:
            walk.fail(walk.head_seq + 1, _missing(walk.head_seq + 1, state.last_seq))
        return walk

    async def who_read(self, subject: str) -> list[AuditRecord]:
        """Every call about the person this identifier (a NIK, a card number) names, oldest first, as it ended
        (:func:`settled`)."""
        wanted = self.subject_hash(subject)
        return settled([record async for record in self.records() if record.subject_hash == wanted])

    async def records(self) -> AsyncIterator[AuditRecord]:
        """Every record in stream order, with ``seq`` filled; raises :class:`AuditError` on a broken one."""
        # Closed explicitly, so the consumer goes away when iteration stops early, not when collected.
        async with aclosing(self._messages(await self._stream_state())) as messages:
            async for seq, data in messages:
                for record in parse_records(seq, data):
                    yield record

    async def messages_after(self, seq: int) -> AsyncGenerator[tuple[int, bytes]]:
        """(seq, payload) of every message after ``seq``, up to the stream's last one now."""
        async with aclosing(self._messages(await self._stream_state(), after=seq)) as messages:
            async for found in messages:
                yield found

    async def _messages(self, state: StreamState, after: int = 0) -> AsyncGenerator[tuple[int, bytes]]:
        """(seq, payload) of every message after ``after`` up to ``state.last_seq``, over one ordered consumer.

        One consumer streams the whole log with flow control, where one request per record would cost a
        network round trip each and make verify's time grow with the log times the latency.
        """
        if state.messages == 0 or state.last_seq <= after:
            return  # a consumer with nothing to deliver would only wait for the next append
        start = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1)
        sub = await self._js.subscribe(self._subject, stream=self._stream, ordered_consumer=True, config=start)
        try:
            while True:
                try:
                    message = await sub.next_msg(timeout=_DELIVERY_TIMEOUT)
                except NatsTimeoutError:
                    raise AuditError(f"audit stream {self._stream} stopped delivering records") from None
                meta = message.metadata
                seq = meta.sequence.stream
                if seq > state.last_seq:
                    return  # appended after the walk began: the next walk covers it
                yield seq, message.data
                if seq == state.last_seq or meta.num_pending == 0:
                    return
        finally:
            await sub.unsubscribe()
