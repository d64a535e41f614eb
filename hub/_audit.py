"""A tamper-evident audit log of personal-data processing, kept on JetStream.

UU 27/2022 (Pelindungan Data Pribadi) asks a controller to show who processed whose personal data and
why. Every record carries the hash of the record before it, so deleting, editing or inserting a record
breaks the chain at that point, and :meth:`AuditLog.verify` names the first place it breaks.

Under load a worker writes the records that queued up while its last write was in flight as one
message (a JSON array, chained record to record inside it): one JetStream round trip for many records, and
far fewer races between workers for the head of the chain. A message holding one record is that record.

The data subject is kept twice, neither time as the NIK itself: as a keyed hash (searchable by whoever
holds the audit key, not reversible by whoever only reads the stream) and masked (readable by ops).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import DeliverPolicy, Header, StorageType, StreamConfig, StreamState
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, field_validator

from contracts import Mask
from hub._streams import ensure_stream

__all__ = [
    "AUDIT_STREAM",
    "AUDIT_SUBJECT",
    "GENESIS",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "VerifyReport",
    "audit_stream_config",
]

AUDIT_STREAM = "MPP_AUDIT"
AUDIT_SUBJECT = "mpp.audit.records"
GENESIS = "0" * 64

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
_NIK_MASK = Mask(keep_start=4, keep_end=2)

_log = structlog.get_logger("hub.audit")

_Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class AuditError(RuntimeError):
    """The audit log could not be written or read; callers must then withhold personal data."""


class AuditRecord(BaseModel):
    """One processing of personal data (or one refusal), chained to the record before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int | None = None
    time: datetime
    consumer: str | None
    operation: str
    purpose: str | None
    subject_hash: _Hex64 | None
    subject_masked: str | None
    outcome: str
    correlation_id: str
    worker: str
    prev_hash: _Hex64
    hash: _Hex64

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # A naive time cannot be placed on the timeline an investigation rebuilds from several workers.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("time must carry its time zone")
        return value.astimezone(UTC)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of walking the chain.

    ``records``, ``head_hash`` and ``head_seq`` describe the intact part: the whole log when ``ok``, else
    the records before ``problem_seq``.
    """

    ok: bool
    records: int
    head_hash: str
    head_seq: int
    problem_seq: int | None
    problem: str | None


def _canonical(record: AuditRecord) -> bytes:
    fields = record.model_dump(mode="json", exclude={"seq", "hash"})
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _content_hash(record: AuditRecord) -> str:
    return hashlib.sha256(_canonical(record)).hexdigest()


def _new_record(fields: dict[str, str | None], prev_hash: str) -> AuditRecord:
    # GENESIS stands in for the hash while it is computed: the hash never covers itself.
    draft = AuditRecord.model_validate({**fields, "time": datetime.now(UTC), "prev_hash": prev_hash, "hash": GENESIS})
    return draft.model_copy(update={"hash": _content_hash(draft)})


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


def _message(records: list[AuditRecord]) -> bytes:
    parts = [record.model_dump_json(exclude={"seq"}).encode() for record in records]
    return parts[0] if len(parts) == 1 else b"[" + b",".join(parts) + b"]"


def _chain_hash(data: bytes) -> str:
    """The hash the next record links to, even when the stream's last message is not a valid record.

    Linking to the raw bytes keeps the hub auditing after someone forges a broken message; verify still
    names that message.
    """
    try:
        return _parse(0, data)[-1].hash
    except _InvalidRecord:
        _log.warning("last audit message is not a valid record; chaining past it (run verify)")
        return hashlib.sha256(data).hexdigest()


def _backoff(attempt: int) -> float:
    # Full jitter: writers that lost together spread out instead of colliding again.
    return random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))


def _default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class _Walk:
    """Verify's running state: the intact prefix so far and the first problem found."""

    def __init__(self) -> None:
        self.records = 0
        self.head_seq = 0
        self.head_hash = GENESIS
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
            if _content_hash(record) != record.hash:
                self.fail(seq, f"record {seq} was altered: its content does not match its hash")
                return False
            if record.prev_hash != self.head_hash:
                self.fail(seq, _not_following(seq, self.head_seq))
                return False
            self.records, self.head_hash = self.records + 1, record.hash
        self.head_seq = seq
        return True

    def report(self) -> VerifyReport:
        return VerifyReport(
            ok=self.problem is None,
            records=self.records,
            head_hash=self.head_hash,
            head_seq=self.head_seq,
            problem_seq=self.problem_seq,
            problem=self.problem,
        )


def _missing(first: int, last: int) -> str:
    if first == last:
        return f"record {first} is missing (deleted?)"
    return f"record {first} is missing (deleted?), and so are the records after it up to {last}"


def _not_following(seq: int, previous: int) -> str:
    if previous == 0:
        return f"record {seq} does not follow the start of the log: its prev_hash is not the genesis hash"
    return f"record {seq} does not follow record {previous}: its prev_hash is not that record's hash"


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
        self._waiting: list[tuple[dict[str, str | None], asyncio.Future[AuditRecord]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._head: tuple[int, str] | None = None  # (last seq, its hash) as this process last saw them

    async def setup(self, replicas: int | None = None) -> None:
        """Create the stream, or bring an existing one to this configuration (the admin role's work)."""
        await ensure_stream(self._js, audit_stream_config(self._stream, self._subject), replicas)

    def subject_hash(self, nik: str) -> str:
        return hmac.new(self._key, nik.strip().encode(), hashlib.sha256).hexdigest()

    async def append(
        self,
        *,
        consumer: str | None,
        operation: str,
        purpose: str | None,
        subject_nik: str | None,
        outcome: str,
        correlation_id: str,
    ) -> AuditRecord:
        """Write one record at the head of the chain; raises :class:`AuditError` when it cannot."""
        nik = subject_nik.strip() if subject_nik is not None else None
        fields = {
            "consumer": consumer,
            "operation": operation,
            "purpose": purpose,
            "subject_hash": self.subject_hash(nik) if nik is not None else None,
            "subject_masked": _NIK_MASK.apply(nik) if nik is not None else None,
            "outcome": outcome,
            "correlation_id": correlation_id,
            "worker": self._worker,
        }
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

    async def _append_batch(self, batch: list[dict[str, str | None]]) -> list[AuditRecord]:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            if self._head is None:
                self._head = await self._read_head()
            last_seq, last_hash = self._head
            records: list[AuditRecord] = []
            for fields in batch:
                records.append(_new_record(fields, records[-1].hash if records else last_hash))
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
            self._head = (seq, records[-1].hash)
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

    async def _read_head(self) -> tuple[int, str]:
        """The stream's last sequence and the hash a new record must link to."""
        last_seq = (await self._stream_state()).last_seq
        if last_seq == 0:
            return 0, GENESIS
        data = await self._last_data(last_seq)
        return last_seq, GENESIS if data is None else _chain_hash(data)

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

    async def _stream_state(self) -> StreamState:
        return (await self._js.stream_info(self._stream)).state

    async def verify(self) -> VerifyReport:
        """Walk the whole chain and report the first record that is missing, altered or out of place."""
        state = await self._stream_state()
        walk = _Walk()
        async with aclosing(self._messages(state)) as messages:
            async for seq, data in messages:
                if not walk.step(seq, data):
                    return walk.report()
        if walk.head_seq < state.last_seq:
            walk.fail(walk.head_seq + 1, _missing(walk.head_seq + 1, state.last_seq))
        return walk.report()

    async def who_read(self, nik: str) -> list[AuditRecord]:
        """Every record about the person with this NIK, oldest first, refusals included."""
        wanted = self.subject_hash(nik)
        return [record async for record in self.records() if record.subject_hash == wanted]

    async def records(self) -> AsyncIterator[AuditRecord]:
        """Every record in stream order, with ``seq`` filled; raises :class:`AuditError` on a broken one."""
        # Closed explicitly, so the consumer goes away when iteration stops early, not when collected.
        async with aclosing(self._messages(await self._stream_state())) as messages:
            async for seq, data in messages:
                try:
                    records = _parse(seq, data)
                except _InvalidRecord as exc:
                    raise AuditError(f"record {seq} is not a valid audit record ({exc}); run verify") from None
                for record in records:
                    yield record

    async def _messages(self, state: StreamState) -> AsyncGenerator[tuple[int, bytes]]:
        """(seq, payload) of every message up to ``state.last_seq``, over one ordered consumer.

        One consumer streams the whole log with flow control, where one request per record would cost a
        network round trip each and make verify's time grow with the log times the latency.
        """
        if state.messages == 0:
            return  # a consumer on an empty stream would only wait for the next append
        sub = await self._js.subscribe(
            self._subject, stream=self._stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
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
