"""A transparency-log witness (c2sp.org/tlog-witness): cosigns a log's checkpoints only as it grows.

The hub's audit log is a Merkle tree whose signed head (a checkpoint) the hub publishes every few seconds.
The hub alone could still rewrite its history and sign the rewritten head. A witness, run by someone else on
another machine, closes that gap: it remembers the latest checkpoint it cosigned for each log and cosigns a
new one only with a consistency proof that the new tree extends the old. A rewrite then needs every witness's
cooperation, and a witness that refuses leaves the proof of the fork (two signed heads) behind.

What this module holds:

- `Witness`: the state (the latest cosigned checkpoint per origin, in its own data directory), the trusted
  log keys and the witness's own Ed25519 cosigning key (type 0x04, ``cosignature/v1``), and the checks of an
  ``add-checkpoint`` request, in the order the spec gives them;
- `create_app`: the HTTP interface (Starlette): ``POST /add-checkpoint``, the spec's monitoring
  ``GET /<sha256 hex of origin>/checkpoint``, and our extension ``GET /checkpoint/<url-quoted origin>``.

Every request authenticates itself (a checkpoint signed by a configured log key, with a proof), nothing
secret crosses the wire, and all an attacker can make the witness do is refuse. docs/witness.md says more.
The Merkle and note code is hub._merkle's and hub._note's; nothing here re-implements them.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hub._files import TMP_PREFIX, fsync_dir, write_atomically
from hub._merkle import EMPTY_ROOT, HASH_SIZE, ProofError, verify_consistency
from hub._note import (
    Checkpoint,
    CosignatureSigner,
    NoteError,
    NoteVerifier,
    SignedNote,
    open_note,
)

__all__ = [
    "CHECKPOINTS_DIR",
    "KEY_FILE",
    "LOCK_FILE",
    "LOGS_FILE",
    "MAX_BODY_BYTES",
    "MAX_PROOF_HASHES",
    "SIZE_CONTENT_TYPE",
    "Conflict",
    "Cosigned",
    "Refusal",
    "Witness",
    "WitnessLockedError",
    "WitnessSetupError",
    "create_app",
    "default_name",
    "load_cosigner",
    "origin_hash",
    "parse_log_keys",
    "read_cosigner",
]

#: A request body over this is refused unread (413): a checkpoint with 63 proof lines and a dozen signatures
#: is a few KiB; post-quantum signatures may grow it, still far below this.
MAX_BODY_BYTES = 64 * 1024
#: The spec: a client MUST NOT send more than 63 consistency proof lines (a tree of up to 2^63 leaves).
MAX_PROOF_HASHES = 63
#: The Content-Type of a 409 answer, whose body is the witness's size for the origin (c2sp.org/tlog-witness).
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: Files in the witness's data directory.
LOCK_FILE = "witness.lock"
LOGS_FILE = "logs.txt"
KEY_FILE = Path("secrets") / "witness.key"
CHECKPOINTS_DIR = "checkpoints"

_TEXT = "text/plain; charset=utf-8"
_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})")  # a uint64 has at most 20 decimal digits
_ORIGIN_HASH = re.compile(r"[0-9a-f]{64}")

#: What `mpp-hub up` makes in its data directory: a witness refuses to share it.
_HUB_FILES = ("hub.json", "nats", "secrets/bus")

_log = structlog.get_logger("hub.witness")


class WitnessSetupError(RuntimeError):
    """The witness cannot start as configured; the message says what to change."""


class WitnessLockedError(WitnessSetupError):
    """Another witness process holds this data directory."""


class Refusal(Exception):
    """An ``add-checkpoint`` request refused: the HTTP status, a short reason token, and what to do about it.

    The message never repeats the request's content (origin, hashes, signatures), so nothing a client sends
    is reflected to it or to the logs.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def response(self) -> Response:
        return PlainTextResponse(f"{self.reason}: {self.message}\n", status_code=self.status, media_type=_TEXT)


class Conflict(Refusal):
    """409: the client's old size is not the size this witness last cosigned (carried in `size`)."""

    def __init__(self, size: int) -> None:
        super().__init__(409, "conflict", f"this witness's latest cosigned checkpoint has size {size}")
        self.size = size

    def response(self) -> Response:
        # The spec fixes this body: the size in decimal and a newline, nothing else.
        # Exactly this Content-Type, no charset parameter: some clients compare it as a whole.
        return Response(f"{self.size}\n", status_code=409, headers={"Content-Type": SIZE_CONTENT_TYPE})


def _malformed(message: str) -> Refusal:
    return Refusal(400, "malformed", message)


def origin_hash(origin: str) -> str:
    """The spec's name of a log in monitoring URLs: SHA-256 of its origin line, lowercase hex."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def default_name() -> str:
    """``witness-<hostname>``: a key name (no spaces, no '+') that says which machine cosigned."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "localhost"
    return f"witness-{host}"


# --- files --------------------------------------------------------------------------------------------------


def _secrets_dir(data_dir: Path) -> Path:
    path = (data_dir / KEY_FILE).parent
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _refuse_hub_dir(data_dir: Path) -> None:
    if any((data_dir / part).exists() for part in _HUB_FILES):
        raise WitnessSetupError(
            f"{data_dir} is a hub's data directory: a witness must keep its state and key apart from the log it "
            "watches (another directory, ideally another machine and account)"
        )


def read_cosigner(data_dir: Path) -> CosignatureSigner | None:
    """The witness key in `data_dir`, or None if there is none yet."""
    path = data_dir / KEY_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    try:
        return CosignatureSigner.from_key_string(text)
    except NoteError:
        # The message would quote the file, which is a secret.
        raise WitnessSetupError(
            f"{path} is not a witness key (PRIVATE+KEY+<name>+<id>+<base64>, type 0x04): restore it from backup"
        ) from None


def load_cosigner(data_dir: Path, name: str | None = None) -> tuple[CosignatureSigner, bool]:
    """The witness's cosigning key, made on first use in ``<data_dir>/secrets/witness.key`` (0600).

    Returns the key and whether it was just made. A key keeps the name it was made with (the name is part of
    its key ID, so of the vkey the hub trusts): asking for another name is an error, not a silent new identity.
    """
    _refuse_hub_dir(data_dir)
    existing = read_cosigner(data_dir)
    if existing is None:
        chosen = name or default_name()
        try:
            fresh = CosignatureSigner.generate(chosen)
        except NoteError:
            raise WitnessSetupError(
                "the witness name must be non-empty, without spaces, '+' or control characters (e.g. "
                "witness.example.org/w1)"
            ) from None
        _secrets_dir(data_dir)
        try:
            write_atomically(data_dir / KEY_FILE, (fresh.key_string() + "\n").encode(), mode=0o600, replace=False)
            return fresh, True
        except FileExistsError:  # another process made it first: use that one
            existing = read_cosigner(data_dir)
            assert existing is not None
    if name is not None and name != existing.name:
        raise WitnessSetupError(
            f"the witness key in {data_dir / KEY_FILE} is named {existing.name!r}, not {name!r}: the name is part of "
            "the key's ID, so it cannot change; drop --name, or use a new data directory for a new witness"
        )
    return existing, False


def parse_log_keys(vkeys: Iterable[tuple[str, str]]) -> dict[str, list[NoteVerifier]]:
    """Log verifier keys by origin, from (where it came from, vkey) pairs; duplicates are dropped.

    The C2SP convention holds: a log's key name IS its checkpoints' origin, so the key named ``mpp.example/audit``
    may sign only checkpoints whose first line is ``mpp.example/audit``. Several keys of one name are all
    trusted for that origin (a key rotation).
    """
    by_origin: dict[str, list[NoteVerifier]] = {}
    seen: set[tuple[str, bytes]] = set()
    for where, vkey in vkeys:
        try:
            verifier = NoteVerifier.from_vkey(vkey)
        except NoteError as exc:
            raise WitnessSetupError(
                f"{where}: not a log verifier key (<origin>+<8 hex digit key ID>+<base64 of 0x01 and an Ed25519 "
                f"public key>): {exc}"
            ) from None
        if (verifier.name, verifier.key_id) not in seen:
            seen.add((verifier.name, verifier.key_id))
            by_origin.setdefault(verifier.name, []).append(verifier)
    return by_origin


def _read_logs_file(data_dir: Path) -> list[tuple[str, str]]:
    path = data_dir / LOGS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [
        (f"{path}:{number}", line.strip())
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


# --- the witness --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cosigned:
    """The latest checkpoint this witness cosigned for one origin, as stored: the log's note plus our line."""

    checkpoint: Checkpoint
    note: str


@dataclass(frozen=True)
class _Request:
    old_size: int
    proof: list[bytes]
    note: SignedNote
    checkpoint: Checkpoint


def _parse_request(body: bytes) -> _Request:
    """Split an add-checkpoint body: ``old <size>``, up to 63 base64 hashes, a blank line, a signed checkpoint."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("the body is not UTF-8 text") from None
    lines = iter(text.split("\n"))
    first = next(lines)
    if not (match := _OLD_LINE.fullmatch(first)):
        raise _malformed("the first line must be 'old <size>', the size in decimal without leading zeros")
    consumed = len(first) + 1
    proof: list[bytes] = []
    for line in lines:
        consumed += len(line) + 1
        if not line:
            break
        if len(proof) == MAX_PROOF_HASHES:
            raise _malformed(f"more than {MAX_PROOF_HASHES} consistency proof lines")
        proof.append(_proof_hash(line))
    else:
        raise _malformed("no blank line after the 'old' line and the consistency proof lines")
    try:
        note = SignedNote.parse(text[consumed:])
        checkpoint = Checkpoint.parse(note.text)
    except NoteError:
        raise _malformed(
            "after the blank line there must be a signed checkpoint (c2sp.org/tlog-checkpoint): origin, size and "
            "base64 root lines, optional extension lines, a blank line, then '— <key name> <base64>' lines"
        ) from None
    return _Request(int(match.group(1)), proof, note, checkpoint)


def _proof_hash(line: str) -> bytes:
    try:
        value = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("a consistency proof line is not standard base64") from None
    if len(value) != HASH_SIZE or base64.b64encode(value).decode() != line:
        raise _malformed(f"a consistency proof line is not the padded base64 of one {HASH_SIZE}-byte hash")
    return value


class Witness:
    """One witness: its key, the logs it trusts, and the latest checkpoint it cosigned for each.

    `open` takes the data directory's lock; `close` releases it. `add_checkpoint` runs its check and its write
    under one lock, so two requests racing cannot roll the stored size back (the race the spec warns of).
    """

    def __init__(
        self,
        data_dir: Path,
        cosigner: CosignatureSigner,
        logs: dict[str, list[NoteVerifier]],
        states: dict[str, Cosigned],
        lock_fd: int,
    ) -> None:
        self.data_dir = data_dir
        self.cosigner = cosigner
        self.logs = logs
        self._states = states
        self._lock_fd: int | None = lock_fd
        self._mutex = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path, logs: Iterable[str] = (), *, name: str | None = None) -> Witness:
        """Lock `data_dir`, load (or make) the key and the stored checkpoints, and trust `logs` and logs.txt.

        Raises `WitnessLockedError` if another witness holds the directory, `WitnessSetupError` when the
        configuration or the stored state is unusable (a state that cannot be read is never treated as empty:
        that would let a log roll back).
        """
        data_dir = Path(data_dir)
        _refuse_hub_dir(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(data_dir)
        try:
            trusted = parse_log_keys([*((f"--log {i}", v) for i, v in enumerate(logs, 1)), *_read_logs_file(data_dir)])
            if not trusted:
                raise WitnessSetupError(
                    f"no log to witness: pass --log <log vkey> (repeatable) or put one vkey per line in "
                    f"{data_dir / LOGS_FILE}"
                )
            states = _load_states(data_dir)
            if states and read_cosigner(data_dir) is None:
                raise WitnessSetupError(
                    f"{data_dir} holds cosigned checkpoints but no witness key ({data_dir / KEY_FILE}): restore the "
                    "key from backup; a new key would be a new witness, so start that in a new data directory"
                )
            cosigner, _ = load_cosigner(data_dir, name)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(data_dir, cosigner, trusted, states, lock_fd)

    def close(self) -> None:
        """Release the data directory (the lock), so another witness process may open it."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Witness:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def name(self) -> str:
        return self.cosigner.name

    @property
    def vkey(self) -> str:
        """The witness's verifier key (type 0x04), for the hub operator's ``audit_witnesses``."""
        return self.cosigner.verifier_key()

    def latest(self, origin: str) -> Cosigned | None:
        """The latest checkpoint cosigned for `origin`, with the log's signatures and ours."""
        with self._mutex:
            return self._states.get(origin)

    def latest_by_hash(self, hex_hash: str) -> Cosigned | None:
        with self._mutex:
            return next((s for o, s in self._states.items() if origin_hash(o) == hex_hash), None)

    def states(self) -> dict[str, Cosigned]:
        with self._mutex:
            return dict(self._states)

    def add_checkpoint(self, body: bytes, *, now: float | None = None) -> str:
        """Check an add-checkpoint request body and, if it passes, store the checkpoint and return our line(s).

        The checks, in the spec's order: well-formed (400); the origin is a configured log (404); a
        configured key of that origin signed it, and no configured key's signature fails (403); old size at
        most the new size (400); old size equal to the size last cosigned (409, carrying ours); a consistency
        proof from the stored checkpoint to this one, with equal sizes meaning equal roots and size 0 the
        empty tree (422). Then the cosigned checkpoint is written durably and only then answered.
        """
        request = _parse_request(body)
        checkpoint = request.checkpoint
        verifiers = self.logs.get(checkpoint.origin)
        if verifiers is None:
            raise Refusal(404, "unknown-origin", "this witness has no log key for the checkpoint's origin")
        try:
            open_note(request.note.format(), verifiers)
        except NoteError:
            raise Refusal(
                403,
                "bad-signature",
                "the checkpoint has no valid signature by the log key this witness trusts for its origin, "
                "or a signature by that key does not verify",
            ) from None
        if request.old_size > checkpoint.size:
            raise _malformed("the old size is larger than the checkpoint's size")
        with self._mutex:
            stored = self._states.get(checkpoint.origin)
            size, root = (stored.checkpoint.size, stored.checkpoint.root) if stored else (0, EMPTY_ROOT)
            if request.old_size != size:
                raise Conflict(size)
            try:
                verify_consistency(size, checkpoint.size, root, checkpoint.root, request.proof)
            except ProofError:
                _log.warning(
                    "inconsistent checkpoint refused: evidence of a forked or rewritten log if the proof is the "
                    "log's own",
                    origin_hash=origin_hash(checkpoint.origin),
                    cosigned_size=size,
                    cosigned_root=root.hex(),
                    new_size=checkpoint.size,
                    new_root=checkpoint.root.hex(),
                )
                raise Refusal(
                    422,
                    "inconsistent",
                    f"the checkpoint is not proven to extend the one this witness cosigned at size {size} (a wrong "
                    "consistency proof, a different root at the same size, or a size-0 checkpoint whose root is "
                    "not the empty tree's)",
                ) from None
            timestamp = max(1, int(time.time() if now is None else now))  # the spec: never a zero timestamp
            cosignature = self.cosigner.cosign(request.note.text, timestamp)
            # Kept and served: the log's signatures we verified and ours, not lines by keys we do not know.
            kept = tuple(sig for sig in request.note.signatures if any(sig.is_by(v) for v in verifiers))
            note = SignedNote(request.note.text, (*kept, cosignature))
            cosigned = Cosigned(checkpoint, note.format())
            self._store(checkpoint.origin, cosigned)
            self._states[checkpoint.origin] = cosigned
        _log.debug("checkpoint cosigned", origin_hash=origin_hash(checkpoint.origin), size=checkpoint.size)
        return cosignature.line()

    def _store(self, origin: str, cosigned: Cosigned) -> None:
        directory = self.data_dir / CHECKPOINTS_DIR
        if not directory.is_dir():
            directory.mkdir()
            fsync_dir(self.data_dir)  # the new directory's own entry must survive a power cut too
        write_atomically(directory / origin_hash(origin), cosigned.note.encode("utf-8"))


def _lock(data_dir: Path) -> int:
    """Take ``<data_dir>/witness.lock`` (flock, exclusive, not waiting) and write our pid into it."""
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise WitnessLockedError(
                f"another witness{who} is using {data_dir}: two witnesses must never share one state, or one "
                "could cosign what the other already refused; stop it or use another --data-dir"
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _load_states(data_dir: Path) -> dict[str, Cosigned]:
    directory = data_dir / CHECKPOINTS_DIR
    states: dict[str, Cosigned] = {}
    if not directory.is_dir():
        return states
    for path in sorted(directory.iterdir()):
        if path.name.startswith(TMP_PREFIX):  # a write that crashed before its rename: never the state
            path.unlink()
            continue
        try:
            note = path.read_text(encoding="utf-8")
            checkpoint = Checkpoint.parse(SignedNote.parse(note).text)
        except (NoteError, UnicodeDecodeError):
            raise WitnessSetupError(
                f"{path} is not a signed checkpoint: the witness will not start on a state it cannot read (starting "
                "empty would let the log roll back); restore it from backup"
            ) from None
        if origin_hash(checkpoint.origin) != path.name:
            raise WitnessSetupError(f"{path} holds another origin's checkpoint than its name says: restore it")
        states[checkpoint.origin] = Cosigned(checkpoint, note)
    return states


# --- HTTP ---------------------------------------------------------------------------------------------------


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = Refusal(413, "too-large", f"the request body is over {limit} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise too_large
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(witness: Witness, *, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The witness's HTTP interface (c2sp.org/tlog-witness, plus ``GET /checkpoint/<origin>``)."""

    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _read_body(request, max_body_bytes)
            line = await run_in_threadpool(witness.add_checkpoint, body)  # fsync must not stall the loop
        except Refusal as refusal:
            # Anyone can send garbage: debug only. An inconsistent checkpoint (422) needs the log's key, and
            # add_checkpoint logs it as a warning: it may be evidence of a fork.
            _log.debug("add-checkpoint refused", status=refusal.status, reason=refusal.reason)
            return refusal.response()
        return Response(line, media_type=_TEXT)

    def _checkpoint(found: Cosigned | None) -> Response:
        if found is None:
            return PlainTextResponse(
                "not-found: this witness has cosigned no checkpoint for that log\n", status_code=404, media_type=_TEXT
            )
        return Response(found.note, media_type=_TEXT)

    async def by_hash(request: Request) -> Response:
        hex_hash = request.path_params["origin_hash"]
        return _checkpoint(witness.latest_by_hash(hex_hash) if _ORIGIN_HASH.fullmatch(hex_hash) else None)

    async def by_origin(request: Request) -> Response:
        # Starlette hands over the percent-decoded path, so a quoted origin's %2F is already a '/'.
        return _checkpoint(witness.latest(request.path_params["origin"]))

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/checkpoint/{origin:path}", by_origin, methods=["GET"]),
            Route("/{origin_hash}/checkpoint", by_hash, methods=["GET"]),
        ]
    )
