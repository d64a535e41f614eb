from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import nkeys
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import APIError

from contracts import ErrorCode, HubError
from hub._asgi import AsgiServer
from hub._audit import (
    AUDIT_SUBJECT,
    AuditEntry,
    AuditError,
    AuditLog,
    AuditRecord,
    VerifyReport,
    checkpoints_stream_config,
)
from hub._bus_access import BusAccess, server_list
from hub._checkpointer import Checkpointer
from hub._checkpoints import CheckpointStore, verify_tree
from hub._note import CosignatureSigner, NoteSigner
from hub._receipts import ReceiptError, check_receipt
from hub._roles import Permissions, Role
from hub._witness import Witness
from hub._witness import create_app as create_witness_app
from hub._witness_client import WitnessConfig, WitnessRefused, add_checkpoint
from hub.testing._bus import TestBus
from plugins.dukcapil.plugin import _sandbox_settings
from tests._servers import ThreadedServer
from tests.conftest import connect_client, start_hub

KEY = b"test audit key"
NIK = "3328014506900001"
OTHER_NIK = "3174052208850002"
SANDBOX_NIK = "3328080709870001"  # a synthetic Tegal resident the Dukcapil sandbox knows


@dataclass(frozen=True)
class Names:
    stream: str
    subject: str

    @property
    def checkpoints(self) -> tuple[str, str]:
        return f"{self.stream}_CP", f"{self.subject}.checkpoints"


@pytest.fixture
def names() -> Names:
    """Streams of the test's own (records and checkpoints), so tests never see each other's."""
    token = uuid.uuid4().hex[:12]
    return Names(stream=f"AUDIT_{token.upper()}", subject=f"test.audit.{token}.records")


#: These tests work the audit log's mechanics on streams of their own (test.audit.<token>), which no hub role
#: may touch: they run on a secured bus of their own with one extra user allowed exactly that (and, to play
#: the rogue admin, the JetStream API).
_SEED = nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode()
_INBOX = "_INBOX_audit_test"
_AUDIT_TESTER = Permissions(
    publish=("test.audit.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>"), subscribe=(f"{_INBOX}.>", "_INBOX.>")
)


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
        AuditEntry(
            consumer=consumer, operation="identity.lookup", purpose="service", subject=nik,
            subject_kind="nik" if nik else None, outcome=outcome, correlation_id=uuid.uuid4().hex,
        )
    )  # fmt: skip


async def _all(log: AuditLog) -> list[AuditRecord]:
    return [record async for record in log.records()]


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


@dataclass
class Log:
    """One audit log of the test's own with its checkpoint stream, local copy and signing key."""

    log: AuditLog
    store: CheckpointStore
    signer: NoteSigner
    js: JetStreamContext
    names: Names

    def checkpointer(self, **options: object) -> Checkpointer:
        return Checkpointer(
            self.js, self.log, self.store, self.signer, stream=self.names.stream, subject=self.names.subject,
            **options,  # type: ignore[arg-type]
        )  # fmt: skip

    async def verify(self, **options: object) -> VerifyReport:
        return (await verify_tree(self.log, self.store, self.signer.verifier(), **options)).report  # type: ignore[arg-type]


@pytest.fixture
async def audit(log: AuditLog, js: JetStreamContext, names: Names, tmp_path: Path) -> Log:
    await js.add_stream(checkpoints_stream_config(*names.checkpoints))
    stream, subject = names.checkpoints
    store = CheckpointStore(js, tmp_path / "checkpoint.json", stream=stream, subject=subject)
    return Log(log, store, NoteSigner.generate(f"test.audit/{names.stream.lower()}"), js, names)


async def _signed(audit: Log, size: int, **options: object) -> None:
    """A checkpoint of the first ``size`` records, signed as the hub does."""
    checkpointer = audit.checkpointer(interval=3600, **options)
    await checkpointer.start()
    try:
        signed = await checkpointer.checkpoint()
        assert signed is not None and checkpointer.latest_size == size
    finally:
        await checkpointer.stop()


async def _recreate(audit: Log, records: list[AuditRecord]) -> None:
    """What someone with every NATS right can do: delete the audit stream and fill a new one with ``records``."""
    names = audit.names
    await audit.js.delete_stream(names.stream)
    await audit.js.add_stream(StreamConfig(name=names.stream, subjects=[names.subject], storage=StorageType.FILE))
    for record in records:
        await audit.js.publish(names.subject, record.model_dump_json(exclude={"seq"}, exclude_none=True).encode())


def _renumbered(records: list[AuditRecord]) -> list[AuditRecord]:
    """``records`` with leaf indices 0, 1, 2... as a forger who knows the format would number them."""
    return [record.model_copy(update={"index": i}) for i, record in enumerate(records)]


async def test_records_take_consecutive_leaves_and_verify_against_a_checkpoint(audit: Log) -> None:
    """Records take leaf indices 0, 1, 2...; verify confirms them, and then them against a signed checkpoint."""
    empty = await audit.verify()
    assert (empty.ok, empty.records, empty.head_seq, empty.checkpoint_size) == (True, 0, 0, None)

    appended = [await _append(audit.log) for _ in range(5)]
    assert [(r.seq, r.index) for r in appended] == [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)]
    assert await _all(audit.log) == appended
    await _signed(audit, 5)
    await _append(audit.log)  # after the checkpoint: not yet covered, still intact

    report = await audit.verify()
    assert (report.ok, report.problem, report.records, report.head_seq) == (True, None, 6, 6)
    assert report.checkpoint_size == 5 and report.witnessed_by == ()
    assert audit.store.local() is not None


async def test_concurrent_workers_keep_one_log(audit_bus: BusAccess, audit: Log, names: Names) -> None:
    """Two workers on separate connections appending at once still build one log, leaf after leaf.

    Each worker writes what queued up during its last write as one message (group commit), so the log runs
    through batches of both workers, in the order the stream took them."""
    other = await _connect(audit_bus)
    try:
        first = AuditLog(audit.js, KEY, worker="w1", stream=names.stream, subject=names.subject)
        second = AuditLog(other.jetstream(), KEY, worker="w2", stream=names.stream, subject=names.subject)

        await asyncio.gather(*(_append(w) for _ in range(150) for w in (first, second)))

        await _signed(audit, 300)
        report = await audit.verify()
        assert (report.ok, report.records, report.checkpoint_size) == (True, 300, 300), report.problem
        records = await _all(second)
        assert [r.index for r in records] == list(range(300))
        messages = sorted({r.seq or 0 for r in records})  # a record without one would show as message 0
        assert messages == list(range(1, report.head_seq + 1)) and len(messages) < 300  # batched
        assert {r.worker for r in records} == {"w1", "w2"}
    finally:
        await other.close()


async def test_a_rewritten_log_fails_verify(audit: Log) -> None:
    """The stream deleted and refilled with one record altered (its purpose) is named, and so is the recreation."""
    records = [await _append(audit.log) for _ in range(3)]
    await _signed(audit, 3)
    records += [await _append(audit.log) for _ in range(3)]
    await _signed(audit, 6)
    forged = [*records[:4], records[4].model_copy(update={"purpose": "curiosity"}), records[5]]
    await _recreate(audit, forged)

    report = await audit.verify()
    assert not report.ok and report.problem is not None
    assert "recreated" in report.problem and "do not hash to the root" in report.problem, report.problem
    assert "records 4 to 6 of the log; the first 3 still match" in report.problem


async def test_a_truncated_log_fails_verify(audit: Log) -> None:
    """A log refilled with its first records only is shorter than its checkpoint: named as truncated."""
    records = [await _append(audit.log) for _ in range(5)]
    await _signed(audit, 5)
    await _recreate(audit, records[:2])

    report = await audit.verify()
    assert not report.ok and "it holds 2 records" in (report.problem or "") and "truncated" in (report.problem or "")


async def test_a_reordered_log_fails_verify(audit: Log) -> None:
    """Two records swapped (and renumbered, so every index looks right) no longer hash to the checkpoint."""
    records = [await _append(audit.log) for _ in range(4)]
    await _signed(audit, 4)
    await _recreate(audit, _renumbered([records[0], records[2], records[1], records[3]]))

    report = await audit.verify()
    assert not report.ok and "do not hash to the root" in (report.problem or ""), report.problem


async def test_three_reads_removed_with_the_checkpoints_deleted_too_fail_verify(audit: Log, names: Names) -> None:
    """The attack of the issue: three reads taken out, the rest renumbered, and the checkpoint stream deleted and
    made again empty. The local copy of the last checkpoint (outside NATS) still catches it."""
    records = [await _append(audit.log, nik) for nik in (NIK, OTHER_NIK, NIK, NIK, OTHER_NIK)]
    await _signed(audit, 5)
    await _recreate(audit, _renumbered([records[1], records[4]]))  # the three reads of NIK gone
    await audit.js.delete_stream(names.checkpoints[0])
    await audit.js.add_stream(checkpoints_stream_config(*names.checkpoints))

    report = await audit.verify()
    assert not report.ok and "the local checkpoint copy" in (report.problem or ""), report.problem


async def test_appended_records_out_of_place_fail_verify(audit: Log, names: Names) -> None:
    """A record slipped in (a copy of an old one, with its old index) is named where it stands."""
    records = [await _append(audit.log) for _ in range(3)]
    await audit.js.publish(names.subject, records[1].model_dump_json(exclude={"seq"}, exclude_none=True).encode())

    report = await audit.verify()
    assert (report.ok, report.problem_seq) == (False, 4)
    assert report.problem == "record 4 claims leaf 1 of the log where leaf 3 comes next (inserted or reordered?)"


async def test_a_checkpoint_signed_by_another_key_is_named(audit: Log, names: Names) -> None:
    """A checkpoint forged with a key of the forger's own does not count, and is named as forged."""
    await _append(audit.log)
    forger = Log(audit.log, audit.store, NoteSigner.generate(audit.signer.name), audit.js, names)
    await _signed(forger, 1)

    report = await audit.verify()
    assert not report.ok and "forged?" in (report.problem or ""), report.problem


async def test_invalid_message_is_named(log: AuditLog, audit: Log, names: Names) -> None:
    """A message that is not an audit record is named by verify and refused by records; appends then fail closed."""
    await _append(log)
    await audit.js.publish(names.subject, b"not json")

    report = await audit.verify()
    assert (report.ok, report.problem_seq) == (False, 2)
    assert report.problem is not None and report.problem.startswith("record 2 is not a valid audit record")
    with pytest.raises(AuditError, match="record 2 is not a valid audit record"):
        await _all(log)
    fresh = AuditLog(audit.js, KEY, stream=names.stream, subject=names.subject)
    with pytest.raises(AuditError, match="no personal data is released"):
        await _append(fresh)


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
    assert len(await _all(log)) == 1


async def test_verify_walks_ten_thousand_records(audit: Log, js: JetStreamContext, names: Names) -> None:
    """verify walks a long log to its head (it streams the log rather than asking per record)."""
    record = await _append(audit.log)
    for index in range(1, 10_000):
        record = record.model_copy(update={"index": index, "correlation_id": str(index)})
        await js.publish_async(names.subject, record.model_dump_json(exclude={"seq"}, exclude_none=True).encode())
    await js.publish_async_completed()
    await _signed(audit, 10_000)

    report = await audit.verify()
    assert (report.ok, report.records, report.checkpoint_size) == (True, 10_000, 10_000), report.problem


@pytest.fixture
async def witness(audit: Log, tmp_path: Path) -> AsyncIterator[WitnessConfig]:
    """A witness of this log on a data directory of its own, served over loopback HTTP."""
    with Witness.open(tmp_path / "witness", logs=[audit.signer.verifier_key()]) as held:
        server = AsgiServer(create_witness_app(held))
        url = await server.start()
        try:
            yield WitnessConfig(url, held.vkey)
        finally:
            await server.stop()


async def test_a_log_rebuilt_and_resigned_with_the_log_key_is_caught_by_the_witness(
    audit: Log, witness: WitnessConfig, names: Names
) -> None:
    """Someone with every NATS right AND the log key rebuilds the log without three reads, wipes the checkpoint
    stream and the local copy, and signs a fresh checkpoint. The witness refuses it (it does not extend what
    the witness cosigned), and verify, asking the witness, names the rewrite."""
    records = [await _append(audit.log, nik) for nik in (NIK, OTHER_NIK, NIK, NIK, OTHER_NIK)]
    await _signed(audit, 5, witnesses=[witness])
    async with httpx.AsyncClient() as http:
        assert (await audit.verify(witnesses=[witness], http=http)).witnessed_by == (witness.name,)

    filler = [records[1].model_copy(update={"correlation_id": uuid.uuid4().hex}) for _ in range(4)]
    await _recreate(audit, _renumbered([records[1], records[4], *filler]))  # 6 records, none of them about NIK
    await audit.js.delete_stream(names.checkpoints[0])
    await audit.js.add_stream(checkpoints_stream_config(*names.checkpoints))
    assert audit.store.local_file is not None
    audit.store.local_file.unlink()
    rebuilt = audit.checkpointer(interval=3600)  # the forger's own signer, told of no witness
    await rebuilt.start()
    try:
        signed = await rebuilt.checkpoint()
        assert signed is not None
        note = signed.note
        async with httpx.AsyncClient() as http:
            with pytest.raises(WitnessRefused) as refused:
                await add_checkpoint(http, witness.url, note, 5, rebuilt.tree.consistency_proof(5, 6))
    finally:
        await rebuilt.stop()
    assert refused.value.status == 422

    async with httpx.AsyncClient() as http:
        without_witness = await audit.verify()
        report = await audit.verify(witnesses=[witness], http=http)
    assert without_witness.ok  # what NATS and the hub machine hold now agrees with itself...
    assert not report.ok and f"witness {witness.name}" in (report.problem or ""), report.problem  # ...not with it


async def test_a_receipt_verifies_offline_and_fails_after_one_byte_changes(audit: Log, witness: WitnessConfig) -> None:
    """A receipt for one read checks with only the log's and the witness's public keys; one byte changed in the
    record or in the checkpoint, and it fails."""
    for nik in (OTHER_NIK, NIK, OTHER_NIK):
        await _append(audit.log, nik)
    checkpointer = audit.checkpointer(interval=3600, witnesses=[witness])
    await checkpointer.start()
    try:
        stored = await checkpointer.checkpoint()
        receipt = await checkpointer.receipt(1)
    finally:
        await checkpointer.stop()
    log_key, witness_key = audit.signer.verifier(), witness.verifier
    text = receipt.model_dump_json()

    checked = check_receipt(text, log_key, [witness_key])
    assert checked.record.subject_masked == "3328**********01" and checked.record.index == 1
    assert (checked.checkpoint.size, checked.cosigned_by) == (3, (witness.name,))
    assert stored is not None and receipt.checkpoint == stored.note

    tampered_record = receipt.model_copy(update={"record": receipt.record.replace('"ok"', '"oK"')})
    tampered_note = receipt.model_copy(update={"checkpoint": receipt.checkpoint.replace("\n3\n", "\n4\n", 1)})
    with pytest.raises(ReceiptError, match="not in the log"):
        check_receipt(tampered_record.model_dump_json(), log_key, [witness_key])
    with pytest.raises(ReceiptError, match="does not verify"):
        check_receipt(tampered_note.model_dump_json(), log_key, [witness_key])
    with pytest.raises(ReceiptError, match="not cosigned"):
        check_receipt(text, log_key, [CosignatureSigner.generate("another-witness").verifier()])


async def test_no_personal_data_is_answered_when_its_record_cannot_be_written(
    tmp_path: Path, dukcapil_sandbox: ThreadedServer
) -> None:
    """Fail closed: with the log's head broken (garbage appended with a stolen worker credential), a read that
    the agency answers is withheld, with a contract error that says why, and no personal value in it."""
    server = TestBus(tmp_path / "nats")
    bus = await server.astart()
    try:
        rogue = await bus.connect(Role.WORKER)
        await rogue.jetstream().publish(AUDIT_SUBJECT, b"not an audit record")
        await rogue.close()
        hub = await start_hub(bus, dict(_sandbox_settings(dukcapil_sandbox.url)))
        client = await connect_client(bus)
        try:
            with pytest.raises(HubError) as refused:
                await client.call("identity.lookup", {"nik": SANDBOX_NIK})
        finally:
            await client.close()
            await hub.stop()
    finally:
        await server.astop()
    assert refused.value.code is ErrorCode.INTERNAL and "audit log cannot be written" in refused.value.error.message
    assert SANDBOX_NIK not in refused.value.error.model_dump_json()
