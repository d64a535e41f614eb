"""The process that signs the audit log's checkpoints: it follows the records, keeps the Merkle tree, signs
its head every few seconds while it grows, and has the witnesses cosign it.

One process does this (``mpp-hub up``, which holds the log key); every worker only appends records. It
starts by checking the log against the checkpoints already signed, and signs nothing over a log that does
not verify: a checkpoint over a rewritten log would launder it.

The other edge processes of ``mpp-hub up --edges N`` follow the records the same way in reader mode
(:meth:`Checkpointer.reader`): they sign nothing (a witness refuses two writers), but take the latest
checkpoint the signer kept from the checkpoint stream, and build the citizen's receipts against it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from contextlib import aclosing
from datetime import UTC, datetime

import httpx
import structlog
from nats.js.client import JetStreamContext
from pydantic import ValidationError

from hub._audit import (
    AUDIT_STREAM,
    AUDIT_SUBJECT,
    AuditError,
    AuditLog,
    AuditRecord,
    leaf_data,
    parse_records,
)
from hub._checkpoints import CheckpointStore, StoredCheckpoint, TrustedCheckpoint, verify_tree
from hub._merkle import MerkleTree, leaf_hash
from hub._note import (
    Checkpoint,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    SignedNote,
    add_signatures,
    open_note,
    sign_note,
)
from hub._receipts import Receipt, make_receipt
from hub._witness_client import WitnessConfig, WitnessConflict, WitnessError, add_checkpoint

__all__ = ["Checkpointer", "CheckpointerBroken"]

_log = structlog.get_logger("hub.checkpointer")
#: Seconds `stop` waits for a checkpoint in progress: a witness answers, or times out, within this.
_STOP_GRACE = 15.0


class CheckpointerBroken(RuntimeError):
    """The log does not verify (or stopped following on): no checkpoint is signed until an operator looks."""


class Checkpointer:
    """Follows the audit records and signs checkpoints of them (or, made by :meth:`reader`, reads the ones the
    signing process keeps)."""

    def __init__(
        self,
        js: JetStreamContext,
        log: AuditLog,
        store: CheckpointStore,
        signer: NoteSigner | None,
        *,
        witnesses: Sequence[WitnessConfig] = (),
        interval: float = 5.0,
        stream: str = AUDIT_STREAM,
        subject: str = AUDIT_SUBJECT,
        log_key: NoteVerifier | None = None,
    ) -> None:
        key = signer.verifier() if signer is not None else log_key
        if key is None:
            raise ValueError("a checkpointer needs the log's signer, or in reader mode its public key")
        self._js, self._log, self.store, self._signer = js, log, store, signer
        self._log_key = key
        self._witnesses = tuple(witnesses)
        self._witness_sizes: dict[str, int] = {}
        self._interval = interval
        self._stream, self._subject = stream, subject
        self.tree = MerkleTree()
        self.seqs: list[int] = []  # the stream message of each leaf
        self.subjects: dict[str, list[int]] = {}  # subject hash -> leaf indices
        self.latest: StoredCheckpoint | None = None
        self.broken: str | None = None
        self._head_seq = 0
        self._catching_up = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http = httpx.AsyncClient(timeout=10)

    @classmethod
    def reader(
        cls,
        js: JetStreamContext,
        log: AuditLog,
        store: CheckpointStore,
        log_key: NoteVerifier,
        *,
        interval: float = 5.0,
        stream: str = AUDIT_STREAM,
        subject: str = AUDIT_SUBJECT,
    ) -> Checkpointer:
        """A checkpointer that signs nothing: it follows the records and builds receipts against the latest
        checkpoint the signing process kept in ``store``, checked against ``log_key`` and its own tree.
        ``interval``: how often the signer signs, for what it says meanwhile."""
        return cls(js, log, store, None, interval=interval, stream=stream, subject=subject, log_key=log_key)

    @property
    def origin(self) -> str:
        return self._log_key.name

    @property
    def latest_size(self) -> int | None:
        """Records the latest checkpoint covers (None before the first)."""
        return _size(self.latest) if self.latest is not None else None

    async def start(self) -> None:
        """Check the log against what was signed before, then follow it; raises :class:`CheckpointerBroken`."""
        verified = await verify_tree(self._log, self.store, self._log_key, self._witnesses, self._http)
        report, tree, checkpoints = verified.report, verified.tree, verified.checkpoints
        if not report.ok:
            self.broken = report.problem
            _log.error("audit log does not verify; no checkpoints are signed", problem=report.problem)
            raise CheckpointerBroken(report.problem or "the audit log does not verify")
        self.tree, self._head_seq = tree, report.head_seq
        self.seqs, self.subjects = verified.walk.seqs, verified.walk.subjects
        self._learn_witness_sizes(checkpoints)
        self.latest = checkpoints[-1].stored if checkpoints else None
        if self._signer is not None:
            self._task = asyncio.create_task(self._sign_periodically())

    def _index(self, record: AuditRecord) -> None:
        assert record.seq is not None
        self.seqs.append(record.seq)
        if record.subject_hash is not None:
            self.subjects.setdefault(record.subject_hash, []).append(record.index)

    def _learn_witness_sizes(self, checkpoints: list[TrustedCheckpoint]) -> None:
        for checkpoint in checkpoints:
            for name in checkpoint.cosigned_by:
                self._witness_sizes[name] = max(self._witness_sizes.get(name, 0), checkpoint.checkpoint.size)

    async def stop(self) -> None:
        """Let a checkpoint in progress finish (up to the witnesses' timeout), then stop signing."""
        self._stopping.set()
        if self._task is not None:
            # Not task.cancel(): nats-py can turn a cancellation inside a delivery into a timeout error, which
            # the loop would take for a failed round and go on.
            done, _ = await asyncio.wait({self._task}, timeout=_STOP_GRACE)
            if not done:
                self._task.cancel()
        await self._http.aclose()

    async def catch_up(self) -> None:
        """Take the records appended since the last look into the tree.

        In bursts, when a checkpoint is due or a receipt asked for, not message by message as they come: a
        record then costs the serving loop nothing while calls wait on it (one ordered consumer per burst).
        """
        async with self._catching_up:
            if self.broken is not None:
                raise CheckpointerBroken(self.broken)
            async with aclosing(self._log.messages_after(self._head_seq)) as messages:
                async for seq, data in messages:
                    self._take(seq, data)
                    if self.broken is not None:
                        raise CheckpointerBroken(self.broken)

    def _take(self, seq: int, data: bytes) -> None:
        if seq != self._head_seq + 1:
            return self._break(f"record {self._head_seq + 1} is missing (deleted?)")
        try:
            records = parse_records(seq, data)
        except AuditError as exc:
            return self._break(str(exc))
        for record in records:
            if record.index != self.tree.size:
                return self._break(f"record {seq} claims leaf {record.index} where {self.tree.size} comes next")
            self.tree.append(leaf_hash(leaf_data(record)))
            self._index(record)
        self._head_seq = seq
        return None

    def _break(self, problem: str) -> None:
        self.broken = problem
        _log.error("audit log broke while followed; no more checkpoints are signed", problem=problem)

    async def _sign_periodically(self) -> None:
        while self.broken is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            try:
                await self.checkpoint()
            except CheckpointerBroken:
                return  # said once, loudly, by _break
            except Exception as exc:  # JetStream or a witness away: the next round tries again
                _log.warning("checkpoint not kept", error=str(exc))

    async def checkpoint(self) -> StoredCheckpoint | None:
        """Take in the new records, sign the tree's head, have the witnesses cosign it, and keep it (the latest
        checkpoint again when nothing arrived; None while the log is empty).

        In reader mode nothing is signed: this takes in the latest checkpoint the signer kept, if newer.
        """
        await self.catch_up()
        if self._signer is None:
            await self._read_latest()
            return self.latest
        size = self.tree.size
        if size == 0:
            return None
        if self.latest is not None and _size(self.latest) == size:
            return self.latest
        body = Checkpoint(self.origin, size, self.tree.root(size)).body()
        note = sign_note(body, self._signer)
        for witness in self._witnesses:
            note = await self._cosign(witness, note, size)
        stored = StoredCheckpoint(
            note=note, signed_at=datetime.now(UTC), stream_created=await self._log.stream_created()
        )
        await self.store.keep(stored)
        self.latest = stored
        _log.info("audit checkpoint signed", size=size)
        return stored

    async def _cosign(self, witness: WitnessConfig, note: str, size: int) -> str:
        for _ in range(2):  # a second try when the witness says it holds another size than we thought
            old = self._witness_sizes.get(witness.name, 0)
            try:
                proof = self.tree.consistency_proof(old, size) if old else []
                lines = await add_checkpoint(self._http, witness.url, note, old, proof, verifier=witness.verifier)
            except WitnessConflict as exc:
                if exc.size > size:
                    self._break(f"witness {witness.name} has cosigned {exc.size} records, the log holds {size}")
                    return note
                self._witness_sizes[witness.name] = exc.size
                continue
            except (WitnessError, httpx.HTTPError) as exc:
                _log.warning("witness did not cosign", witness=witness.name, error=str(exc))
                return note
            self._witness_sizes[witness.name] = size
            return add_signatures(note, *map(NoteSignature.parse_line, lines))
        return note

    async def receipt(self, index: int) -> Receipt:
        """The receipt of leaf ``index`` against a checkpoint that covers it (signing one now if need be; in
        reader mode, an :class:`AuditError` while the signer has not signed one that covers it yet)."""
        stored = self.latest
        if stored is None or _size(stored) <= index:
            stored = await self.checkpoint()
        if stored is None or _size(stored) <= index:
            if self._signer is None and index < self.tree.size:
                raise AuditError(
                    f"no checkpoint covers record {index} yet: the hub's signing process signs one within "
                    f"{self._interval:g} s of it"
                )
            raise AuditError(f"the audit log has no record {index}")
        record = await _record_at(self._js, self._stream, self.seqs[index], index)
        return make_receipt(leaf_data(record), index, self.tree, stored.note, _size(stored))

    async def about(self, subject_hash: str) -> list[tuple[AuditRecord, Receipt | None]]:
        """Every record about one data subject (by keyed hash), oldest first, each with its receipt, or None
        while no checkpoint covers it yet (the next one comes within the signing interval)."""
        await self.catch_up()
        if self._signer is None:
            await self._read_latest()
        latest = self.latest
        size = _size(latest) if latest is not None else 0
        found: list[tuple[AuditRecord, Receipt | None]] = []
        for index in list(self.subjects.get(subject_hash, ())):
            record = await _record_at(self._js, self._stream, self.seqs[index], index)
            receipt = None
            if latest is not None and index < size:
                receipt = make_receipt(leaf_data(record), index, self.tree, latest.note, size)
            found.append((record, receipt))
        return found

    async def _read_latest(self) -> None:
        """Reader mode: take the signer's latest checkpoint, once its signature and root match this tree."""
        try:
            stored = await self.store.latest()
        except ValidationError:
            return self._break("the latest message of the checkpoint stream is not a stored checkpoint")
        if stored is None:
            return None  # nothing signed yet
        try:
            checkpoint = Checkpoint.parse(open_note(stored.note, [self._log_key])[0])
        except NoteError as exc:
            return self._break(
                f"the latest checkpoint in the checkpoint stream does not carry the log's signature ({exc})"
            )
        if self.latest is not None and checkpoint.size <= _size(self.latest):
            return None
        if checkpoint.size > self.tree.size:
            await self.catch_up()  # signed over records appended since this process last looked
        if checkpoint.size > self.tree.size:
            return None  # not in this process's view of the stream yet: the older checkpoint serves meanwhile
        if self.tree.root(checkpoint.size) != checkpoint.root:
            return self._break(f"the checkpoint of {checkpoint.size} records does not match the records")
        self.latest = stored
        return None


async def _record_at(js: JetStreamContext, stream: str, seq: int, index: int) -> AuditRecord:
    data = (await js.get_msg(stream, seq=seq)).data or b""
    for record in parse_records(seq, data):
        if record.index == index:
            return record
    raise AuditError(f"record {seq} no longer holds leaf {index}; run `mpp-hub audit verify`")


def _size(stored: StoredCheckpoint) -> int:
    return Checkpoint.parse(SignedNote.parse(stored.note).text).size
