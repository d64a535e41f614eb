from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import nats
import nkeys
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import APIError

from hub._audit import GENESIS, AuditError, AuditLog, AuditRecord
from hub._bus_access import BusAccess, server_list
from hub._roles import Permissions, Role
from hub.testing._bus import TestBus

KEY = b"test audit key"
NIK = "3328014506900001"
OTHER_NIK = "3174052208850002"


@dataclass(frozen=True)
class Names:
    stream: str
    subject: str


@pytest.fixture
def names() -> Names:
    """A stream of the test's own, so tests never see each other's records."""
    token = uuid.uuid4().hex[:12]
    return Names(stream=f"AUDIT_{token.upper()}", subject=f"test.audit.{token}")


#: These tests work the audit log's mechanics on streams of their own (test.audit.<token>), which no hub role
#: may touch: they run on a secured bus of their own with one extra user allowed exactly that (and, to play
#: the rogue admin, the JetStream API).
_SEED = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
_INBOX = "_INBOX_audit_test"
_AUDIT_TESTER = Permissions(publish=("test.audit.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>"), subscribe=(f"{_INBOX}.>",))


@pytest.fixture(scope="module")
def audit_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    public = nkeys.from_seed(_SEED.encode()).public_key.decode()
    server = TestBus(tmp_path_factory.mktemp("audit-nats"), extra_users={public: _AUDIT_TESTER})
    yield server.start()
    server.stop()


async def _connect(bus: BusAccess) -> NATS:
    """A connection as the audit tester: over the bus's TLS, authenticated by the tester's nkey."""
    options = {**bus.connect_options(Role.ADMIN), "nkeys_seed_str": _SEED, "inbox_prefix": _INBOX}
    return await nats.connect(server_list(bus.url), **{**options, "name": "audit-tester"})


@pytest.fixture
async def nc(audit_bus: BusAccess) -> AsyncIterator[NATS]:
    conn = await _connect(audit_bus)
    yield conn
    await conn.close()


@pytest.fixture
def js(nc: NATS) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
async def log(js: JetStreamContext, names: Names) -> AuditLog:
    audit = AuditLog(js, KEY, worker="test:1", stream=names.stream, subject=names.subject)
    await audit.setup()
    return audit


async def _append(log: AuditLog, nik: str | None = NIK, consumer: str = "portal", outcome: str = "ok") -> AuditRecord:
    return await log.append(
        consumer=consumer,
        operation="identity.lookup",
        purpose="service",
        subject_nik=nik,
        outcome=outcome,
        correlation_id=uuid.uuid4().hex,
    )


async def _all(log: AuditLog) -> list[AuditRecord]:
    return [record async for record in log.records()]


def _rehashed(record: AuditRecord, **changes: object) -> AuditRecord:
    """A record with ``changes`` and a hash that matches them, as a forger who knows the format would make."""
    draft = record.model_copy(update=changes)
    fields = draft.model_dump(mode="json", exclude={"seq", "hash"})
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return draft.model_copy(update={"hash": hashlib.sha256(canonical).hexdigest()})


async def _forge(js: JetStreamContext, names: Names, record: AuditRecord) -> None:
    await js.publish(names.subject, record.model_dump_json(exclude={"seq"}).encode())


async def _raw_messages(nc: NATS, js: JetStreamContext, stream: str) -> bytes:
    """Every stored message as the server keeps it, headers and payload, undecoded."""
    last = (await js.stream_info(stream)).state.last_seq
    raw = b""
    for seq in range(1, last + 1):
        # The stream API answers with the stored bytes, base64-encoded, before any client parses them.
        reply = await nc.request(f"$JS.API.STREAM.MSG.GET.{stream}", json.dumps({"seq": seq}).encode())
        message = json.loads(reply.data)["message"]
        raw += base64.b64decode(message.get("hdrs", "")) + base64.b64decode(message.get("data", ""))
    return raw


async def test_records_chain_and_verify_reports_count_and_head(log: AuditLog) -> None:
    """Each record links to the previous record's hash, and verify confirms the chain with its count and head."""
    empty = await log.verify()
    assert (empty.ok, empty.records, empty.head_hash, empty.head_seq) == (True, 0, GENESIS, 0)

    appended = [await _append(log) for _ in range(5)]

    assert [r.seq for r in appended] == [1, 2, 3, 4, 5]
    assert appended[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(appended))
    assert await _all(log) == appended
    report = await log.verify()
    assert (report.ok, report.problem, report.problem_seq) == (True, None, None)
    assert (report.records, report.head_seq, report.head_hash) == (5, 5, appended[-1].hash)


async def test_concurrent_workers_keep_one_chain(audit_bus: BusAccess, js: JetStreamContext, names: Names) -> None:
    """Two workers on separate connections appending at once still build one unbroken chain.

    Each worker writes what queued up during its last write as one message (group commit), so the chain
    runs through batches of both workers, in the order the stream took them."""
    other = await _connect(audit_bus)
    try:
        first = AuditLog(js, KEY, worker="w1", stream=names.stream, subject=names.subject)
        second = AuditLog(other.jetstream(), KEY, worker="w2", stream=names.stream, subject=names.subject)
        await first.setup()
        await second.setup()

        appended = await asyncio.gather(*(_append(w) for _ in range(150) for w in (first, second)))

        report = await first.verify()
        assert (report.ok, report.records) == (True, 300), report.problem
        records = await _all(second)
        assert sorted(r.hash for r in records) == sorted(r.hash for r in appended)
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
        messages = sorted({r.seq for r in records})
        assert messages == list(range(1, report.head_seq + 1)) and len(messages) < 300  # batched
        assert {r.worker for r in records} == {"w1", "w2"}
    finally:
        await other.close()


async def test_a_batch_is_checked_record_by_record(log: AuditLog, js: JetStreamContext, names: Names) -> None:
    """Inside a batch message too, an altered record, a broken link and an empty batch are named."""
    records = [await _append(log) for _ in range(2)]
    good = _rehashed(records[1], prev_hash=records[1].hash, purpose="service")
    altered = good.model_copy(update={"purpose": "curiosity"})
    batch = b"[" + b",".join(r.model_dump_json(exclude={"seq"}).encode() for r in (good, altered)) + b"]"
    await js.publish(names.subject, batch)
    report = await log.verify()
    assert (report.ok, report.problem_seq, report.records) == (False, 3, 3)
    assert report.problem == "record 3 was altered: its content does not match its hash"

    unlinked = b"[" + _rehashed(records[0], prev_hash=records[0].hash).model_dump_json(exclude={"seq"}).encode() + b"]"
    for forged, problem in ((unlinked, "does not follow"), (b"[]", "is not a valid audit record")):
        names_2 = Names(f"{names.stream}_{uuid.uuid4().hex[:6]}", f"{names.subject}.{uuid.uuid4().hex[:6]}")
        fresh = AuditLog(js, KEY, stream=names_2.stream, subject=names_2.subject)
        await fresh.setup()
        await _append(fresh)
        await js.publish(names_2.subject, forged)
        report = await fresh.verify()
        assert (report.ok, report.problem_seq) == (False, 2) and problem in (report.problem or ""), report.problem


async def test_deleted_record_is_named_missing(js: JetStreamContext, names: Names) -> None:
    """A record deleted from the stream is named as missing, at the end and in the middle."""
    # nats-server refuses to lift deny_delete once set, so this rogue admin is one who recreated the
    # stream without that protection.
    await js.add_stream(StreamConfig(name=names.stream, subjects=[names.subject], storage=StorageType.FILE))
    log = AuditLog(js, KEY, stream=names.stream, subject=names.subject)
    for _ in range(5):
        await _append(log)

    await js.delete_msg(names.stream, 5)
    tail = await log.verify()
    await js.delete_msg(names.stream, 3)
    middle = await log.verify()

    assert (tail.ok, tail.problem_seq, tail.records, tail.problem) == (False, 5, 4, "record 5 is missing (deleted?)")
    assert (middle.ok, middle.problem_seq, middle.records, middle.head_seq) == (False, 3, 2, 2)
    assert middle.problem == "record 3 is missing (deleted?)"
    # A worker that starts after the tampering still appends (past the deleted tail), and verify keeps
    # naming the hole.
    fresh = AuditLog(js, KEY, stream=names.stream, subject=names.subject)
    assert (await _append(fresh)).seq == 6
    assert (await log.verify()).problem_seq == 3


async def test_altered_record_is_named(log: AuditLog, js: JetStreamContext, names: Names) -> None:
    """A forged copy with one field changed but its old hash is named as altered."""
    records = [await _append(log) for _ in range(3)]
    await _forge(js, names, records[1].model_copy(update={"purpose": "curiosity"}))

    report = await log.verify()

    assert (report.ok, report.problem_seq, report.records, report.head_hash) == (False, 4, 3, records[-1].hash)
    assert report.problem == "record 4 was altered: its content does not match its hash"


async def test_record_with_wrong_prev_hash_is_named(log: AuditLog, js: JetStreamContext, names: Names) -> None:
    """A correctly hashed record that links to the wrong predecessor is named as not following."""
    records = [await _append(log) for _ in range(3)]
    await _forge(js, names, _rehashed(records[2], prev_hash=records[0].hash))

    report = await log.verify()

    assert (report.ok, report.problem_seq) == (False, 4)
    assert report.problem == "record 4 does not follow record 3: its prev_hash is not that record's hash"


async def test_invalid_message_is_named(log: AuditLog, js: JetStreamContext, names: Names) -> None:
    """A message that is not an audit record is named by verify and refused by records, yet appends go on."""
    await _append(log)
    await js.publish(names.subject, b"not json")
    await _append(log)

    report = await log.verify()

    assert (report.ok, report.problem_seq) == (False, 2)
    assert report.problem is not None and report.problem.startswith("record 2 is not a valid audit record")
    with pytest.raises(AuditError, match="record 2 is not a valid audit record"):
        await _all(log)


async def test_who_read_finds_one_person_and_nik_is_never_stored(
    log: AuditLog, nc: NATS, js: JetStreamContext, names: Names
) -> None:
    """who_read finds every access to one NIK; the stream holds its mask and keyed hash, never the NIK."""
    await _append(log, NIK, consumer="portal")
    await _append(log, OTHER_NIK, consumer="portal")
    await _append(log, NIK, consumer="kiosk", outcome="forbidden")
    await _append(log, None, consumer="kiosk", outcome="unauthorized")
    await _append(log, NIK, consumer="portal")

    found = await log.who_read(NIK)

    assert [(r.seq, r.consumer, r.outcome) for r in found] == [
        (1, "portal", "ok"),
        (3, "kiosk", "forbidden"),
        (5, "portal", "ok"),
    ]
    assert {r.subject_masked for r in found} == {"3328**********01"}
    assert [r.seq for r in await log.who_read(OTHER_NIK)] == [2]
    raw = await _raw_messages(nc, js, names.stream)
    assert NIK.encode() not in raw and OTHER_NIK.encode() not in raw
    assert b"3328**********01" in raw


async def test_stream_refuses_delete_and_purge(log: AuditLog, js: JetStreamContext, names: Names) -> None:
    """The audit stream refuses deletes and purges, keeps records forever, and the refusal cannot be lifted."""
    await _append(log)
    config = (await js.stream_info(names.stream)).config
    assert (config.deny_delete, config.deny_purge, config.max_age, config.storage) == (True, True, 0, "file")

    with pytest.raises(APIError, match="message delete not permitted"):
        await js.delete_msg(names.stream, 1)
    with pytest.raises(APIError, match="purge not permitted"):
        await js.purge_stream(names.stream)
    with pytest.raises(APIError, match="can not cancel deny message deletes"):
        await js.update_stream(StreamConfig(name=names.stream, subjects=[names.subject], deny_delete=False))
    assert (await log.verify()).records == 1


async def test_verify_walks_ten_thousand_records(log: AuditLog, js: JetStreamContext, names: Names) -> None:
    """verify walks a long log to its head (it streams the log rather than asking per record)."""
    record = await _append(log)
    for number in range(2, 10_001):
        record = _rehashed(record, prev_hash=record.hash, correlation_id=str(number))
        await js.publish_async(names.subject, record.model_dump_json(exclude={"seq"}).encode())
    await js.publish_async_completed()

    report = await log.verify()
    assert (report.ok, report.records, report.head_hash) == (True, 10_000, record.hash), report.problem
