"""What the audit log's signed checkpoints cost per call: records only against records, a running checkpointer
and a witness, side by side on one stack.

    python -m bench.audit_cost [--calls N] [--rounds R] [--seconds S] [--interval S] [--control] [--json FILE]

One stack in one process on loopback, as bench.bus_security's secure one: a real nats-server (TLS, role users),
the hub worker and the Dukcapil sandbox, a HubClient as the CLI. Every ``identity.lookup`` appends its record
to MPP_AUDIT (group commit, fail closed) in both states:

- **before**: records only, nothing follows them: the audit as it was before checkpoints.
- **after**: the same, plus what `mpp-hub up` runs in the process that holds the log key: a ``Checkpointer``
  on a NATS connection of its own, in the worker's process and on its event loop (as `up` runs it), taking the
  new records into the Merkle tree in a burst and signing a checkpoint every ``--interval`` seconds while they arrive
  (0.5 s by default, ten times as often as the 5 s default, so that it signs many times while it is measured),
  each pushed to one witness and kept (the checkpoint stream and the fsynced local copy, on the temp dir's
  disk). The witness is a real ``mpp-hub witness`` on a temp data directory of its own, in a process of its
  own: a witness is another party's process, so its HTTP handling and signing are not put on the hub's loop
  (it still shares this machine's two cores).

Why one stack with the checkpointer started and stopped, not two stacks: then the checkpointer is the only
difference between the two states. Two stacks would also differ in their nats-server, stream files and
connections, and on this machine such differences are tenths of a millisecond, as large as the +0.2 ms goal.
Twelve rounds of sequential calls per state alternate (before, after, after, before, ...), so machine noise
falls on both; for an "after" round a fresh checkpointer starts (checking the log against what was signed, as
`up` does at start) and stops after it. Neither that start nor a few warm-up calls per round (in both states;
in "after" until its first checkpoint, so the witness connection is open) is timed. Throughput at 16 in
flight is measured in halves interleaved the same way. The cost is reported as the difference of the pooled
p50s (as bench.bus_security does) and round by round (the median of each round's difference), with the CPU
this process (hub, client, sandbox, checkpointer) spent per call. ``--control`` runs the "after" rounds
without the checkpointer too: an A/A run, whose "cost" is the method's own noise on the machine at the time.

The checkpointer's own work is timed as well: taking in one record (parse the message, leaf hash, tree
append) and the tree append alone in µs, over every record of the run; signing a checkpoint (tree head and
Ed25519) in µs; and a whole checkpoint (sign, witness cosign over HTTP, keep) in ms, as the running
checkpointer did it during the timed "after" phases, with how many it signed and how many the witness cosigned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bus_security import _AUDIT_KEY, _hub_client, _latencies, _percentile, _throughput
from hub import HubClient
from hub._audit import AuditLog, AuditRecord, leaf_data, parse_records
from hub._bus_access import BusAccess
from hub._checkpointer import Checkpointer
from hub._checkpoints import CheckpointStore, StoredCheckpoint
from hub._logging import configure_logging
from hub._loop import run as run_loop
from hub._merkle import MerkleTree, leaf_hash
from hub._note import Checkpoint, NoteSigner, SignedNote, sign_note
from hub._roles import Role
from hub._witness_client import WitnessConfig
from hub.testing._bus import TestBus

_MPP_HUB = str(Path(sys.executable).parent / "mpp-hub")
_STATES = ("before", "after")


@dataclass
class _Tally:
    """What the running checkpointers did while ``timing`` (the timed "after" phases)."""

    witness: WitnessConfig
    timing: bool = False
    signed: int = 0
    cosigned: int = 0
    failed: int = 0
    checkpoint_ms: list[float] = field(default_factory=list)
    keep_ms: list[float] = field(default_factory=list)

    def kept(self, stored: StoredCheckpoint, took_ms: float) -> None:
        if not self.timing:
            return
        self.signed += 1
        self.checkpoint_ms.append(took_ms)
        verifier = self.witness.verifier
        if any(signature.is_by(verifier) for signature in SignedNote.parse(stored.note).signatures):
            self.cosigned += 1


class _TimedStore(CheckpointStore):
    """The checkpoint store `up` uses, timing each keep (a JetStream publish and the fsynced local copy)."""

    def __init__(self, *args: Any, tally: _Tally, **options: Any) -> None:
        super().__init__(*args, **options)
        self._tally = tally

    async def keep(self, stored: StoredCheckpoint) -> None:
        started = time.perf_counter()
        await super().keep(stored)
        if self._tally.timing:
            self._tally.keep_ms.append((time.perf_counter() - started) * 1000)


class _TimedCheckpointer(Checkpointer):
    """The hub's Checkpointer, timing each checkpoint it signs and keeps (its signing loop calls this)."""

    def __init__(self, *args: Any, tally: _Tally, **options: Any) -> None:
        super().__init__(*args, **options)
        self._tally = tally
        self.kept = asyncio.Event()  # set once it has kept a checkpoint of its own

    async def checkpoint(self) -> StoredCheckpoint | None:
        before = self.latest
        started = time.perf_counter()
        try:
            stored = await super().checkpoint()
        except Exception:
            if self._tally.timing:
                self._tally.failed += 1
            raise
        if stored is not None and stored is not before:  # not "nothing new to sign"
            self._tally.kept(stored, (time.perf_counter() - started) * 1000)
            self.kept.set()
        return stored


@contextlib.asynccontextmanager
async def _witness(data_dir: Path, log_vkey: str) -> AsyncIterator[WitnessConfig]:
    """A real ``mpp-hub witness`` of the log ``log_vkey`` on a free loopback port, in a process of its own."""
    errors = data_dir.with_suffix(".log")
    with errors.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            _MPP_HUB, "witness", "--data-dir", str(data_dir), "--log", log_vkey, "--port", "0", "--json",
            "--log-level", "warning", stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(60):
            line = await process.stdout.readline()
        if not line:
            raise RuntimeError(f"mpp-hub witness did not start: {errors.read_text()[-2000:]}")
        started = json.loads(line)
        yield WitnessConfig(started["url"], started["vkey"])
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@dataclass
class _Signing:
    """How `up` signs checkpoints, ready to start and stop: the log key, the store, the witness, the tally."""

    bus: BusAccess
    signer: NoteSigner
    local_file: Path
    witness: WitnessConfig
    interval: float
    tally: _Tally

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[_TimedCheckpointer]:
        """A checkpointer on a connection of its own, as `up` starts one, until the block ends."""
        nc = await self.bus.connect(Role.WORKER)
        js = nc.jetstream()
        checkpointer = _TimedCheckpointer(
            js, AuditLog(js, _AUDIT_KEY), _TimedStore(js, self.local_file, tally=self.tally), self.signer,
            witnesses=[self.witness], interval=self.interval, tally=self.tally,
        )  # fmt: skip
        try:
            await checkpointer.start()
            try:
                yield checkpointer
            finally:
                await checkpointer.stop()
            if checkpointer.broken is not None:
                raise RuntimeError(f"the checkpointer broke: {checkpointer.broken}")
        finally:
            await nc.drain()


@contextlib.asynccontextmanager
async def _state(
    state: str, signing: _Signing, client: HubClient, warmup: int, control: bool = False
) -> AsyncIterator[None]:
    """One timed phase in ``state``: the checkpointer running through it for "after", nothing for "before"
    (nor for "after" when ``control``: an A/A run, which shows how far apart the method puts two equal states)."""
    if state == "before" or control:
        await _latencies(client, warmup)
        yield
        return
    async with signing.running() as checkpointer:
        await _latencies(client, warmup)
        async with asyncio.timeout(30):
            await checkpointer.kept.wait()  # its first checkpoint, of the warm-up's records, cosigned and kept
        signing.tally.timing = True
        try:
            yield
        finally:
            signing.tally.timing = False


def _order(i: int) -> tuple[str, str]:
    return _STATES if i % 2 == 0 else _STATES[::-1]  # before, after, after, before, ...


def _per_record_us(started: float, count: int) -> float:
    return round((time.perf_counter() - started) / max(count, 1) * 1e6, 2)


async def _records(bus: BusAccess) -> list[AuditRecord]:
    nc = await bus.connect(Role.WORKER)
    try:
        return [record async for record in AuditLog(nc.jetstream(), _AUDIT_KEY).records()]
    finally:
        await nc.drain()


def _own_work(records: list[AuditRecord], signer: NoteSigner) -> dict[str, float]:
    """The checkpointer's CPU work, alone: following a record, the tree append, signing a checkpoint."""
    messages = [
        (record.seq or 0, record.model_dump_json(exclude={"seq"}, exclude_none=True).encode()) for record in records
    ]  # as a worker publishes one record (a group commit batches several into one message)
    started = time.perf_counter()
    tree = MerkleTree()
    for seq, data in messages:  # what Checkpointer.catch_up does for each record
        for record in parse_records(seq, data):
            tree.append(leaf_hash(leaf_data(record)))
    follow_us = _per_record_us(started, len(messages))
    leaves = [leaf_hash(leaf_data(record)) for record in records]
    started = time.perf_counter()
    appended = MerkleTree()
    for leaf in leaves:
        appended.append(leaf)
    append_us = _per_record_us(started, len(leaves))
    signs = 200
    started = time.perf_counter()
    for _ in range(signs):  # what Checkpointer.checkpoint does before it asks the witness
        sign_note(Checkpoint(signer.name, tree.size, tree.root(tree.size)).body(), signer)
    return {
        "follow_record_us": follow_us,
        "tree_append_us": append_us,
        "sign_us": _per_record_us(started, signs),
        "records_in_log": len(records),
    }


async def measure(
    calls: int = 600,
    seconds: float = 5.0,
    rounds: int = 12,
    warmup: int = 50,
    interval: float = 0.5,
    control: bool = False,
) -> dict[str, Any]:
    per_round = max(2, calls // rounds)
    round_warmup = max(2, warmup // 5)
    with tempfile.TemporaryDirectory(prefix="mpp-bench-audit-") as tmp:
        root = Path(tmp)
        server = TestBus(root / "bus")
        bus = await server.astart()
        signer = NoteSigner.generate("bench.audit/checkpoints")
        try:
            async with _witness(root / "witness", signer.verifier_key()) as witness, _hub_client(bus) as client:
                tally = _Tally(witness)
                signing = _Signing(bus, signer, root / "hub" / "checkpoint.json", witness, interval, tally)
                await _latencies(client, warmup)  # connections, caches, the sandbox
                samples: dict[str, list[float]] = {state: [] for state in _STATES}
                cpu = dict.fromkeys(_STATES, 0.0)  # this process's CPU (hub, client, sandbox, checkpointer)
                medians: dict[str, list[float]] = {state: [] for state in _STATES}
                for i in range(rounds):
                    for state in _order(i):
                        async with _state(state, signing, client, round_warmup, control):
                            started = time.process_time()
                            found = await _latencies(client, per_round)
                            cpu[state] += time.process_time() - started
                            samples[state] += found
                            medians[state].append(statistics.median(found))
                rates: dict[str, list[float]] = {state: [] for state in _STATES}
                for i in range(2):
                    for state in _order(i):
                        async with _state(state, signing, client, round_warmup, control):
                            rates[state].append(await _throughput(client, seconds / 2))
            records = await _records(bus)
        finally:
            await server.astop()
    figures: dict[str, Any] = {}
    for state, values in samples.items():
        figures[state] = {
            "p50_ms": round(_percentile(values, 0.50), 3),
            "p99_ms": round(_percentile(values, 0.99), 3),
            "calls_per_s_16_in_flight": round(statistics.fmean(rates[state]), 1),
            "cpu_us_per_call": round(cpu[state] / len(values) * 1e6, 1),
        }
    figures["cost"] = {  # the keys `python -m bench` reports as audit_cost_*
        "p50_ms": round(figures["after"]["p50_ms"] - figures["before"]["p50_ms"], 3),
        "p99_ms": round(figures["after"]["p99_ms"] - figures["before"]["p99_ms"], 3),
        # The same, round by round: the median over rounds of (after's p50 - before's p50 next to it), which a
        # load that changes from one round to the next moves less than the pooled figures above.
        "p50_paired_ms": round(
            statistics.median(a - b for a, b in zip(medians["after"], medians["before"], strict=True)), 3
        ),
        "throughput_ratio": round(
            figures["after"]["calls_per_s_16_in_flight"] / figures["before"]["calls_per_s_16_in_flight"], 3
        ),
        "cpu_us_per_call": round(figures["after"]["cpu_us_per_call"] - figures["before"]["cpu_us_per_call"], 1),
    }
    figures["checkpointer"] = {
        "control": control,
        "interval_s": interval,
        "checkpoints_signed": tally.signed,
        "checkpoints_cosigned": tally.cosigned,
        "checkpoints_failed": tally.failed,
        "checkpoint_ms_p50": round(statistics.median(tally.checkpoint_ms), 3) if tally.checkpoint_ms else None,
        "checkpoint_ms_max": round(max(tally.checkpoint_ms), 3) if tally.checkpoint_ms else None,
        "keep_ms_p50": round(statistics.median(tally.keep_ms), 3) if tally.keep_ms else None,
    } | _own_work(records, signer)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.audit_cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=600, help="sequential calls per state, over all its rounds")
    parser.add_argument("--rounds", type=int, default=12, help="rounds per state, alternating with the other's")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput at 16 in flight, per state")
    parser.add_argument("--interval", type=float, default=0.5, help="the checkpointer's signing interval (s)")
    parser.add_argument(
        "--control", action="store_true", help='no checkpointer in the "after" rounds either: the method\'s own noise'
    )
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    configure_logging("warning", "console")
    found = measure(args.calls, args.seconds, args.rounds, interval=args.interval, control=args.control)
    figures = run_loop(found)  # uvloop, as the hub runs
    print(f"{'audit':<31} {'p50 ms':>8} {'p99 ms':>8} {'calls/s @16':>12} {'CPU µs/call':>12}")
    for state, what in (("before", "records only"), ("after", "records + checkpoints + witness")):
        f = figures[state]
        print(f"{what:<31} {f['p50_ms']:>8.3f} {f['p99_ms']:>8.3f} {f['calls_per_s_16_in_flight']:>12.1f} "
              f"{f['cpu_us_per_call']:>12.1f}")  # fmt: skip
    cost, cp = figures["cost"], figures["checkpointer"]
    print(f"checkpoints cost {cost['p50_ms']:+.3f} ms p50 (round by round {cost['p50_paired_ms']:+.3f} ms), "
          f"{cost['p99_ms']:+.3f} ms p99, "
          f"throughput x{cost['throughput_ratio']:.3f}, {cost['cpu_us_per_call']:+.1f} µs of this process's CPU "
          "per call")  # fmt: skip
    print(f"while timed: {cp['checkpoints_signed']} checkpoints signed every {cp['interval_s']:g} s, "
          f"{cp['checkpoints_cosigned']} cosigned by the witness, {cp['checkpoints_failed']} failed; "
          f"a checkpoint (sign, cosign, keep) p50 {cp['checkpoint_ms_p50']} ms, max {cp['checkpoint_ms_max']} ms, "
          f"of which keep p50 {cp['keep_ms_p50']} ms")  # fmt: skip
    print(f"checkpointer work alone: follow a record {cp['follow_record_us']:g} µs (tree append "
          f"{cp['tree_append_us']:g} µs), sign a checkpoint {cp['sign_us']:g} µs; "
          f"{cp['records_in_log']} records in the log")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
