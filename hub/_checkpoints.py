"""Signed checkpoints of the audit log, and the check of the log against them.

The records (:mod:`hub._audit`) are the leaves of one RFC 6962 Merkle tree. Every few seconds while records
arrive, the hub signs the tree's head as a C2SP checkpoint (origin, size, root hash) with the log key in its
secrets directory (never in NATS), has the witnesses it is configured with cosign it, and keeps it three
times: in the checkpoint stream, in a local file next to the key, and at each witness.

Whoever holds every NATS right can still delete and rewrite the records, but not the checkpoints they
already match: without the log key no new one can be signed, and with it a witness refuses a checkpoint that
does not extend the last one it cosigned. :func:`verify` names what it finds: a record gone, altered, out of
place, a log shorter than a checkpoint, a stream recreated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import structlog
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ConfigDict, ValidationError

from hub._audit import CHECKPOINTS_STREAM, CHECKPOINTS_SUBJECT, AuditLog, VerifyReport, Walk
from hub._files import write_atomically
from hub._merkle import MerkleTree, leaf_hash
from hub._note import Checkpoint, NoteError, NoteVerifier, open_note
from hub._witness_client import WitnessConfig, WitnessError, latest

__all__ = [
    "CHECKPOINTS_STREAM",
    "CHECKPOINTS_SUBJECT",
    "CheckpointStore",
    "StoredCheckpoint",
    "TrustedCheckpoint",
    "VerifiedLog",
    "verify_tree",
]

_log = structlog.get_logger("hub.checkpoints")


class StoredCheckpoint(BaseModel):
    """A signed checkpoint as the hub keeps it: the note (with any cosignatures) and what it knew then."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: str
    signed_at: datetime
    # When the audit stream it covers was created: a stream deleted and created again shows as a new time.
    stream_created: datetime | None = None


@dataclass(frozen=True)
class TrustedCheckpoint:
    """A checkpoint whose log signature verified, and where it came from."""

    checkpoint: Checkpoint
    stored: StoredCheckpoint
    source: str
    cosigned_by: tuple[str, ...] = ()


class CheckpointStore:
    """The checkpoint stream, and the local copy of the latest checkpoint (``local``, beside the log key)."""

    def __init__(
        self,
        js: JetStreamContext,
        local: Path | None = None,
        *,
        stream: str = CHECKPOINTS_STREAM,
        subject: str = CHECKPOINTS_SUBJECT,
    ) -> None:
        self._js = js
        self.local_file = local
        self._stream, self._subject = stream, subject

    async def keep(self, stored: StoredCheckpoint) -> None:
        """Keep ``stored`` in the stream and, atomically, as the local copy."""
        await self._js.publish(self._subject, stored.model_dump_json().encode(), stream=self._stream)
        if self.local_file is not None:  # fsync is slow: off the loop that serves calls
            self.local_file.parent.mkdir(parents=True, exist_ok=True)
            data = stored.model_dump_json().encode()
            await asyncio.to_thread(write_atomically, self.local_file, data, mode=0o600)

    def local(self) -> StoredCheckpoint | None:
        if self.local_file is None or not self.local_file.exists():
            return None
        return StoredCheckpoint.model_validate_json(self.local_file.read_bytes())

    async def latest(self) -> StoredCheckpoint | None:
        """The newest checkpoint in the stream, None while none is kept; raises ``ValidationError`` when that
        message is not a stored checkpoint."""
        try:
            message = await self._js.get_last_msg(self._stream, self._subject)
        except NotFoundError:
            return None
        return StoredCheckpoint.model_validate_json(message.data or b"")

    async def history(self) -> list[tuple[int, StoredCheckpoint | None]]:
        """Every checkpoint message, oldest first; None where a message is not a stored checkpoint."""
        try:
            state = (await self._js.stream_info(self._stream)).state
        except NotFoundError:
            return []
        found: list[tuple[int, StoredCheckpoint | None]] = []
        for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
            try:
                data = (await self._js.get_msg(self._stream, seq=seq)).data or b""
            except NotFoundError:
                continue
            try:
                found.append((seq, StoredCheckpoint.model_validate_json(data)))
            except ValidationError:
                found.append((seq, None))
        return found


def _trusted(
    stored: StoredCheckpoint, source: str, log_key: NoteVerifier, witnesses: Sequence[WitnessConfig]
) -> TrustedCheckpoint:
    """``stored``, once its log signature verifies, with the witnesses whose cosignature verifies; raises
    :class:`NoteError` naming what is wrong."""
    text, names = open_note(stored.note, [log_key, *(w.verifier for w in witnesses)])
    if log_key.name not in names:
        raise NoteError(f"it is not signed by the log key {log_key.name}")
    cosigners = tuple(name for name in names if name != log_key.name)
    return TrustedCheckpoint(Checkpoint.parse(text), stored, source, cosigned_by=cosigners)


@dataclass
class _Findings:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checkpoints: list[TrustedCheckpoint] = field(default_factory=list)


async def _gather(
    store: CheckpointStore,
    log_key: NoteVerifier,
    witnesses: Sequence[WitnessConfig],
    http: httpx.AsyncClient | None,
) -> _Findings:
    found = _Findings()
    for seq, stored in await store.history():
        try:
            if stored is None:
                raise NoteError("it is not a stored checkpoint")
            found.checkpoints.append(_trusted(stored, f"checkpoint message {seq}", log_key, witnesses))
        except NoteError as exc:
            found.problems.append(f"checkpoint message {seq} does not carry the log's signature ({exc}): forged?")
    try:
        local = store.local()
    except (OSError, ValidationError) as exc:
        found.problems.append(f"the local checkpoint {store.local_file} is unreadable ({type(exc).__name__})")
        local = None
    if local is not None:
        try:
            found.checkpoints.append(_trusted(local, "the local checkpoint copy", log_key, witnesses))
        except NoteError as exc:
            found.problems.append(f"the local checkpoint copy does not carry the log's signature ({exc})")
    for witness in witnesses:
        await _from_witness(witness, log_key, http, found)
    return found


async def _from_witness(
    witness: WitnessConfig, log_key: NoteVerifier, http: httpx.AsyncClient | None, found: _Findings
) -> None:
    if http is None:
        return
    try:
        note = await latest(http, witness.url, log_key.name)
    except (WitnessError, httpx.HTTPError) as exc:
        found.warnings.append(f"witness {witness.name} could not be asked ({exc}); checked without its copy")
        return
    if note is None:
        return
    try:
        stored = StoredCheckpoint(note=note, signed_at=datetime.now(UTC))
        trusted = _trusted(stored, f"the checkpoint witness {witness.name} cosigned", log_key, [witness])
        if witness.name not in trusted.cosigned_by:
            raise NoteError(f"it carries no cosignature of {witness.name}")
    except NoteError as exc:
        found.problems.append(f"witness {witness.name} answered a checkpoint that does not verify ({exc})")
        return
    found.checkpoints.append(trusted)


def _check(tree: MerkleTree, walk_problem: str | None, checkpoint: TrustedCheckpoint) -> str | None:
    """What is wrong between the records and one trusted checkpoint, if anything."""
    cp = checkpoint.checkpoint
    if cp.size > tree.size:
        if walk_problem is not None:
            return f"{walk_problem}; {checkpoint.source} covers {cp.size} records"
        return (
            f"the log is shorter than {checkpoint.source}: it holds {tree.size} records, the checkpoint signed "
            f"{checkpoint.stored.signed_at:%Y-%m-%d %H:%M:%S}Z covers {cp.size} (truncated)"
        )
    if tree.root(cp.size) != cp.root:
        return (
            f"the first {cp.size} records do not hash to the root of {checkpoint.source}: records were "
            "rewritten, reordered, removed or inserted after it was signed"
        )
    return None


def _recreated(created: datetime | None, checkpoint: TrustedCheckpoint) -> str | None:
    signed_over = checkpoint.stored.stream_created
    if created is None or signed_over is None or created == signed_over:
        return None
    return (
        f"the audit stream was created again at {created:%Y-%m-%d %H:%M:%S}Z; {checkpoint.source} was signed over "
        f"the stream created at {signed_over:%Y-%m-%d %H:%M:%S}Z (recreated)"
    )


def _narrow(tree: MerkleTree, checkpoints: list[TrustedCheckpoint], bad: TrustedCheckpoint) -> str:
    """Where a rewrite lies: after the largest checkpoint that still matches, up to the first that does not."""
    good = [c.checkpoint.size for c in checkpoints if c.checkpoint.size < bad.checkpoint.size
            and c.checkpoint.size <= tree.size and tree.root(c.checkpoint.size) == c.checkpoint.root]  # fmt: skip
    first = max(good, default=0)
    return f" (records {first + 1} to {bad.checkpoint.size} of the log; the first {first} still match)"


@dataclass(frozen=True)
class VerifiedLog:
    """What a verification walked: the report, the tree and the walk of the intact records, the checkpoints."""

    report: VerifyReport
    tree: MerkleTree
    walk: Walk
    checkpoints: list[TrustedCheckpoint]

    def best_covering(self, index: int) -> TrustedCheckpoint | None:
        """The checkpoint to prove leaf ``index`` against: the most cosigned, then the largest, covering it."""
        covering = [c for c in self.checkpoints if index < c.checkpoint.size <= self.tree.size]
        return max(covering, key=lambda c: (len(c.cosigned_by), c.checkpoint.size), default=None)


async def verify_tree(
    log: AuditLog,
    store: CheckpointStore,
    log_key: NoteVerifier,
    witnesses: Sequence[WitnessConfig] = (),
    http: httpx.AsyncClient | None = None,
) -> VerifiedLog:
    """Walk the records and check them against every checkpoint the hub, its copies and its witnesses hold."""
    walk = await log.walk()
    tree = MerkleTree(leaf_hash(leaf) for leaf in walk.leaves)
    found = await _gather(store, log_key, witnesses, http)
    created = await log.stream_created()
    ordered = sorted(found.checkpoints, key=lambda c: c.checkpoint.size)
    problems = list(found.problems)
    for checkpoint in ordered:
        problem = _check(tree, walk.problem, checkpoint)
        if problem is not None:
            if problem.startswith("the first"):
                problem += _narrow(tree, ordered, checkpoint)
            recreated = _recreated(created, checkpoint)
            problems.append(f"{recreated}; {problem}" if recreated else problem)
            break
    if walk.problem is not None and not problems:
        problems.append(walk.problem)
    latest_cp = ordered[-1] if ordered else None
    witnessed = tuple(sorted({name for c in ordered for name in c.cosigned_by}))
    report = VerifyReport(
        ok=not problems,
        records=tree.size,
        head_seq=walk.head_seq,
        root=tree.root().hex(),
        problem_seq=walk.problem_seq if walk.problem is not None else None,
        problem="; ".join(problems) or None,
        checkpoint_size=latest_cp.checkpoint.size if latest_cp else None,
        witnessed_by=witnessed,
        warnings=tuple(found.warnings),
    )
    return VerifiedLog(report, tree, walk, ordered)
