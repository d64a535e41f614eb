"""The witness (`mpp-hub witness`, c2sp.org/tlog-witness): real HTTP on loopback, real keys, real Merkle trees.

Each test plays the log: a `NoteSigner` signs checkpoints of a `MerkleTree` it grows, and the witness must
cosign exactly the checkpoints that extend what it cosigned before, and refuse everything else as the spec
says (400, 403, 404, 409, 422), keeping its state across restarts and never sharing its directory.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import stat
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from hub._merkle import EMPTY_ROOT, MerkleTree, leaf_hash
from hub._note import (
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    NoteSignature,
    NoteSigner,
    SignedNote,
    add_signatures,
    open_note,
    sign_note,
)
from hub._witness import (
    CHECKPOINTS_DIR,
    KEY_FILE,
    LOGS_FILE,
    MAX_BODY_BYTES,
    Witness,
    WitnessLockedError,
    WitnessSetupError,
    create_app,
    origin_hash,
)
from hub._witness_cli import witness as witness_command
from hub._witness_client import (
    WitnessConfig,
    WitnessConfigError,
    WitnessConflict,
    WitnessProtocolError,
    WitnessRefused,
    WitnessUnavailable,
    add_checkpoint,
    latest,
)
from tests._processes import run_cli, start_cli
from tests._servers import ThreadedServer
from tests._until import until_sync

ORIGIN = "mpp-hub.test/audit"


@dataclass
class Log:
    """A log as the hub keeps it: a Merkle tree of entries and a key that signs its checkpoints."""

    signer: NoteSigner = field(default_factory=lambda: NoteSigner.generate(ORIGIN))
    tree: MerkleTree = field(default_factory=MerkleTree)
    salt: str = "entry"

    def grow(self, to: int) -> Log:
        while self.tree.size < to:
            self.tree.append(leaf_hash(f"{self.salt} {self.tree.size}".encode()))
        return self

    def checkpoint(self, size: int | None = None, *, signer: NoteSigner | None = None) -> str:
        size = self.tree.size if size is None else size
        return sign_note(Checkpoint(ORIGIN, size, self.tree.root(size)).body(), signer or self.signer)

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        return self.tree.consistency_proof(old, self.tree.size if new is None else new)

    @property
    def vkey(self) -> str:
        return self.signer.verifier_key()


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}\n", *(base64.b64encode(p).decode() + "\n" for p in proof), "\n", note]
    return "".join(lines).encode()


class Served:
    """A witness on a data directory, served on a free loopback port; `restart` closes and reopens it."""

    def __init__(self, data_dir: Path, logs: list[str]) -> None:
        self.data_dir = data_dir
        self.logs = logs
        self.witness = Witness.open(data_dir, logs)
        self.server = ThreadedServer(create_app(self.witness)).start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier.from_vkey(self.witness.vkey)

    def stop(self) -> None:
        self.server.stop()
        self.witness.close()

    def restart(self) -> None:
        self.stop()
        self.witness = Witness.open(self.data_dir, self.logs)
        self.server = ThreadedServer(create_app(self.witness)).start()


@pytest.fixture
def log() -> Log:
    return Log().grow(5)


@pytest.fixture
def served(tmp_path: Path, log: Log) -> Iterator[Served]:
    server = Served(tmp_path / "witness", [log.vkey])
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def post(http: httpx.AsyncClient, served: Served, body: bytes) -> httpx.Response:
    return await http.post(f"{served.url}/add-checkpoint", content=body)


async def held(http: httpx.AsyncClient, served: Served) -> Checkpoint | None:
    note = await latest(http, served.url, ORIGIN, verifier=served.verifier)
    return None if note is None else Checkpoint.parse(SignedNote.parse(note).text)


# --- accepted -----------------------------------------------------------------------------------------------


async def test_the_first_checkpoint_is_cosigned_with_the_key_the_witness_prints(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    note = log.checkpoint()
    response = await post(http, served, request_body(0, [], note))
    assert response.status_code == 200, response.text
    assert response.text.startswith("\u2014 ") and response.text.endswith("\n")

    # The cosignature, added to the note, verifies with the vkey the witness prints, and is timestamped.
    verifier = CosignatureVerifier.from_vkey(served.witness.vkey)
    cosigned = add_signatures(note, NoteSignature.parse_line(response.text.rstrip("\n")))
    assert open_note(cosigned, [verifier])[1] == [served.witness.name]
    signature = SignedNote.parse(cosigned).signatures[-1]
    assert verifier.verify_cosignature(SignedNote.parse(note).text, signature.signature) > 0
    assert (await held(http, served)) == Checkpoint.parse(SignedNote.parse(note).text)


async def test_a_consistent_growth_is_cosigned_and_becomes_the_latest(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    assert await add_checkpoint(http, served.url, log.checkpoint(), 0, [], verifier=served.verifier)
    for size in (6, 8, 13, 64, 100):
        old = log.tree.size
        log.grow(size)
        lines = await add_checkpoint(http, served.url, log.checkpoint(), old, log.proof(old), verifier=served.verifier)
        assert len(lines) == 1
        note = add_signatures(log.checkpoint(), NoteSignature.parse_line(lines[0]))
        open_note(note, [served.verifier])  # raises unless the cosignature verifies
    assert (found := await held(http, served)) is not None
    assert (found.size, found.root) == (100, log.tree.root())

    # The same checkpoint again (old = size, same root, no proof) is cosigned again: nothing changed.
    assert await add_checkpoint(http, served.url, log.checkpoint(), 100, [], verifier=served.verifier)


async def test_the_latest_is_served_by_origin_hash_and_by_quoted_origin_with_both_signatures(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    assert (await http.get(f"{served.url}/{origin_hash(ORIGIN)}/checkpoint")).status_code == 404
    assert (await http.get(f"{served.url}/checkpoint/{urllib.parse.quote(ORIGIN, safe='')}")).status_code == 404
    assert await latest(http, served.url, ORIGIN) is None

    # Signed by the log and by a key the witness does not know: that line is ignored, and not kept either.
    stranger = NoteSigner.generate("someone.else/key")
    await add_checkpoint(
        http, served.url, sign_note(SignedNote.parse(log.checkpoint()).text, log.signer, stranger), 0, []
    )
    by_hash = await http.get(f"{served.url}/{origin_hash(ORIGIN)}/checkpoint")
    by_origin = await http.get(f"{served.url}/checkpoint/{urllib.parse.quote(ORIGIN, safe='')}")
    assert by_hash.status_code == by_origin.status_code == 200
    assert by_hash.text == by_origin.text == await latest(http, served.url, ORIGIN)
    # The log's signature and the witness's cosignature, both verifiable.
    open_note(by_hash.text, [log.signer.verifier()])
    open_note(by_hash.text, [served.verifier])
    assert [s.name for s in SignedNote.parse(by_hash.text).signatures] == [ORIGIN, served.witness.name]


async def test_an_empty_log_is_cosigned_only_with_the_empty_tree_root(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    wrong = sign_note(Checkpoint(ORIGIN, 0, log.tree.root()).body(), log.signer)
    assert (await post(http, served, request_body(0, [], wrong))).status_code == 422
    empty = sign_note(Checkpoint(ORIGIN, 0, EMPTY_ROOT).body(), log.signer)
    assert (await post(http, served, request_body(0, [], empty))).status_code == 200
    # ... and then grows from it.
    assert (await post(http, served, request_body(0, [], log.checkpoint()))).status_code == 200


# --- refused ------------------------------------------------------------------------------------------------


async def test_a_wrong_old_size_is_409_with_the_witness_size(http: httpx.AsyncClient, served: Served, log: Log) -> None:
    await add_checkpoint(http, served.url, log.checkpoint(), 0, [])
    log.grow(9)
    response = await post(http, served, request_body(3, log.proof(3), log.checkpoint()))
    assert response.status_code == 409
    assert response.headers["content-type"] == "text/x.tlog.size"
    assert response.text == "5\n"

    with pytest.raises(WitnessConflict) as conflict:
        await add_checkpoint(http, served.url, log.checkpoint(), 0, [])
    assert conflict.value.size == 5
    # With the witness's size, the push succeeds.
    await add_checkpoint(http, served.url, log.checkpoint(), conflict.value.size, log.proof(5))
    assert (found := await held(http, served)) is not None and found.size == 9


async def test_a_rewritten_tree_signed_by_the_right_key_is_422_and_changes_nothing(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    await add_checkpoint(http, served.url, log.checkpoint(), 0, [])
    before = await latest(http, served.url, ORIGIN)

    # The log's own key signs a tree whose history differs (entry 2 rewritten), with that tree's own proof.
    forged = Log(signer=log.signer, salt="rewritten").grow(12)
    response = await post(http, served, request_body(5, forged.proof(5), forged.checkpoint()))
    assert response.status_code == 422
    assert response.text.startswith("inconsistent: ")
    # The honest proof does not help a rewritten root either, and neither does a same-size different root.
    log.grow(12)
    assert (await post(http, served, request_body(5, log.proof(5), forged.checkpoint()))).status_code == 422
    assert (await post(http, served, request_body(5, [], forged.checkpoint(5)))).status_code == 422
    # A truncated proof is no proof.
    with pytest.raises(WitnessRefused) as refused:
        await add_checkpoint(http, served.url, forged.checkpoint(), 5, forged.proof(5)[:-1])
    assert (refused.value.status, refused.value.reason) == (422, "inconsistent")

    assert await latest(http, served.url, ORIGIN) == before
    assert (await http.get(f"{served.url}/{origin_hash(ORIGIN)}/checkpoint")).text == before


async def test_a_non_empty_proof_from_size_zero_is_422(http: httpx.AsyncClient, served: Served, log: Log) -> None:
    response = await post(http, served, request_body(0, [log.tree.root(2)], log.checkpoint()))
    assert response.status_code == 422
    assert await latest(http, served.url, ORIGIN) is None


async def test_a_smaller_size_is_refused_and_never_rolls_back(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    log.grow(8)
    await add_checkpoint(http, served.url, log.checkpoint(), 0, [])
    old_checkpoint = log.checkpoint(5)  # genuinely signed by the log, but older than what the witness holds
    response = await post(http, served, request_body(8, [], old_checkpoint))
    assert response.status_code == 400  # old size larger than the checkpoint's
    assert response.text.startswith("malformed: ")
    with pytest.raises(WitnessConflict) as conflict:
        await add_checkpoint(http, served.url, old_checkpoint, 5, [])
    assert conflict.value.size == 8
    assert (found := await held(http, served)) is not None and found.size == 8


async def test_racing_pushes_from_the_same_size_cosign_only_one(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    await add_checkpoint(http, served.url, log.checkpoint(), 0, [])
    log.grow(40)
    sizes = range(6, 41)
    answers = await asyncio.gather(
        *(post(http, served, request_body(5, log.proof(5, size), log.checkpoint(size))) for size in sizes)
    )
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 1 and codes.count(409) == len(codes) - 1, codes
    winner = sizes[codes.index(200)]
    assert (found := await held(http, served)) is not None and found.size == winner
    # Every 409 named a size the witness had at some point (5 or the winner), never a rollback.
    assert {a.text for a in answers if a.status_code == 409} <= {"5\n", f"{winner}\n"}


async def test_an_unknown_key_is_403_and_an_unknown_origin_404(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    impostor = NoteSigner.generate(ORIGIN)  # the right name, another key: its signature is ignored
    response = await post(http, served, request_body(0, [], log.checkpoint(signer=impostor)))
    assert response.status_code == 403
    assert response.text.startswith("bad-signature: ")

    # A signature line claiming the log's key (its name and key ID) whose bytes do not verify: 403 too,
    # even beside an impostor's.
    genuine = SignedNote.parse(log.checkpoint())
    [line] = genuine.signatures
    broken = NoteSignature(line.name, line.key_id, bytes(64))
    tampered = SignedNote(genuine.text, (broken,)).format()
    assert (await post(http, served, request_body(0, [], tampered))).status_code == 403
    # A valid signature next to a broken one by the same known key: still 403 (the note is malformed).
    both = SignedNote(genuine.text, (line, NoteSignature(line.name, line.key_id, bytes(64)))).format()
    assert (await post(http, served, request_body(0, [], both))).status_code == 403

    other = NoteSigner.generate("elsewhere.example/log")
    note = sign_note(Checkpoint("elsewhere.example/log", 5, log.tree.root()).body(), other)
    response = await post(http, served, request_body(0, [], note))
    assert response.status_code == 404
    assert response.text.startswith("unknown-origin: ")

    # Another key of another origin cannot vouch for ours, even if the witness trusted it.
    assert await latest(http, served.url, ORIGIN) is None


MARK = "ZZ<script>MARK"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"old x\n\n", id="old-not-a-number"),
        pytest.param(b"old 05\n\n", id="old-leading-zero"),
        pytest.param(b"old -1\n\n", id="old-negative"),
        pytest.param(b"old 0", id="no-newline"),
        pytest.param(b"new 0\n\n", id="not-old"),
        pytest.param(b"old 0\r\n\r\n", id="crlf"),
        pytest.param(b"old 0\n" + MARK.encode() + b"\n\n", id="proof-not-base64"),
        pytest.param(b"old 0\n" + base64.b64encode(b"short") + b"\n\n", id="proof-not-32-bytes"),
        pytest.param(b"old 0\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\n", id="64-proof-lines"),
        pytest.param(b"old 0\n", id="no-blank-line"),
        pytest.param(b"old 0\n\n" + MARK.encode() + b"\n", id="not-a-note"),
        pytest.param(b"old 0\n\n\xff\xfe\n", id="not-utf8"),
        pytest.param(f"old 0\n\n{ORIGIN}\n5\n{MARK}\n\n\u2014 {ORIGIN} AAAA\n".encode(), id="checkpoint-root-bad"),
        pytest.param(f"old 0\n\n{ORIGIN}\nfive\nAAAA\n\n\u2014 {ORIGIN} AAAAAAAA\n".encode(), id="size-bad"),
    ],
)
async def test_malformed_bodies_are_400_and_not_echoed(http: httpx.AsyncClient, served: Served, body: bytes) -> None:
    response = await post(http, served, body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("malformed: ")
    assert MARK not in response.text and "script" not in response.text


async def test_the_old_size_above_the_checkpoint_size_and_huge_bodies_are_refused(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    assert (await post(http, served, request_body(6, [], log.checkpoint()))).status_code == 400
    huge = request_body(0, [], log.checkpoint()) + b"x" * MAX_BODY_BYTES
    assert (await post(http, served, huge)).status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"y" * 1024

    assert (await http.post(f"{served.url}/add-checkpoint", content=chunks())).status_code == 413
    assert (await http.get(f"{served.url}/add-checkpoint")).status_code == 405
    assert await latest(http, served.url, ORIGIN) is None


# --- state ---------------------------------------------------------------------------------------------------


async def test_a_restarted_witness_keeps_its_key_and_its_state(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    await add_checkpoint(http, served.url, log.checkpoint(), 0, [])
    vkey = served.witness.vkey
    served.restart()
    assert served.witness.vkey == vkey
    assert (found := await held(http, served)) is not None and found.size == 5
    with pytest.raises(WitnessConflict) as conflict:
        await add_checkpoint(http, served.url, log.checkpoint(), 0, [])
    assert conflict.value.size == 5

    # On disk: the key is 0600 in a 0700 directory; the state is the cosigned note, named by origin hash.
    key = served.data_dir / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    stored = (served.data_dir / CHECKPOINTS_DIR / origin_hash(ORIGIN)).read_text()
    assert stored == await latest(http, served.url, ORIGIN)
    assert not [p for p in (served.data_dir / CHECKPOINTS_DIR).iterdir() if p.name != origin_hash(ORIGIN)]


def test_two_witnesses_never_share_a_data_directory(tmp_path: Path, log: Log) -> None:
    with Witness.open(tmp_path, [log.vkey]) as first:
        with pytest.raises(WitnessLockedError, match=f"pid {os.getpid()}"):
            Witness.open(tmp_path, [log.vkey])
        assert first.vkey
    with Witness.open(tmp_path, [log.vkey]) as again:  # released on close
        assert again.vkey == first.vkey


def test_an_unreadable_state_or_a_lost_key_refuses_to_start(tmp_path: Path, log: Log) -> None:
    with Witness.open(tmp_path, [log.vkey]) as witness:
        witness.add_checkpoint(request_body(0, [], log.checkpoint()))
    state = tmp_path / CHECKPOINTS_DIR / origin_hash(ORIGIN)
    good = state.read_text()
    state.write_text(good[:20])  # a torn write, which the atomic rename never leaves, or tampering
    with pytest.raises(WitnessSetupError, match="not a signed checkpoint"):
        Witness.open(tmp_path, [log.vkey])
    state.write_text(good)
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(WitnessSetupError, match="no witness key"):
        Witness.open(tmp_path, [log.vkey])


def test_configuration_mistakes_are_refused_with_what_to_do(tmp_path: Path, log: Log) -> None:
    with pytest.raises(WitnessSetupError, match="no log to witness"):
        Witness.open(tmp_path / "a")
    witness_key = CosignatureSigner.generate("w").verifier_key()
    with pytest.raises(WitnessSetupError, match="--log 1: not a log verifier key"):
        Witness.open(tmp_path / "b", [witness_key])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / LOGS_FILE).write_text(f"# the hub's audit log\n\n{log.vkey}\nnonsense\n")
    with pytest.raises(WitnessSetupError, match=f"{LOGS_FILE}:4: not a log verifier key"):
        Witness.open(tmp_path / "c")
    (tmp_path / "c" / LOGS_FILE).write_text(f"# the hub's audit log\n{log.vkey}\n")
    with Witness.open(tmp_path / "c", [log.vkey]) as witness:  # the same key twice is one key
        assert [v.vkey() for v in witness.logs[ORIGIN]] == [log.vkey]
    hub_dir = tmp_path / "hub"
    (hub_dir / "nats").mkdir(parents=True)
    with pytest.raises(WitnessSetupError, match="a hub's data directory"):
        Witness.open(hub_dir, [log.vkey])


# --- the client's configuration and failures ---------------------------------------------------------------


def test_witness_config_is_url_equals_vkey() -> None:
    vkey = CosignatureSigner.generate("witness.example/w1").verifier_key()
    config = WitnessConfig.parse(f"https://witness.example:8090/={vkey}")
    assert (config.url, config.vkey, config.name) == ("https://witness.example:8090", vkey, "witness.example/w1")
    assert WitnessConfig.parse(str(config)) == config
    for bad in ("https://witness.example", f"ftp://witness.example={vkey}", f"={vkey}", f"http://w?x=1={vkey}"):
        with pytest.raises(WitnessConfigError):
            WitnessConfig.parse(bad)
    with pytest.raises(WitnessConfigError, match="not a witness vkey"):
        WitnessConfig.parse(f"http://w:1={NoteSigner.generate('log').verifier_key()}")


async def test_the_client_says_when_a_witness_is_down_or_not_a_witness(
    http: httpx.AsyncClient, served: Served, log: Log
) -> None:
    url = served.url
    served.stop()
    with pytest.raises(WitnessUnavailable):
        await add_checkpoint(http, url, log.checkpoint(), 0, [])
    served.restart()
    # A witness key that is not this witness's: its cosignature is not accepted as that key's.
    stranger = CosignatureSigner.generate(served.witness.name).verifier()
    with pytest.raises(WitnessProtocolError, match="no cosignature by"):
        await add_checkpoint(http, served.url, log.checkpoint(), 0, [], verifier=stranger)
    with pytest.raises(WitnessProtocolError):
        await latest(http, served.url, ORIGIN, verifier=stranger)


# --- the command ----------------------------------------------------------------------------------------------


def test_mpp_hub_witness_serves_prints_its_key_and_holds_its_directory(tmp_path: Path, log: Log) -> None:
    data_dir = tmp_path / "w"
    args = ["witness", "--data-dir", str(data_dir), "--log", log.vkey, "--port", "0", "--name", "w.test/one"]
    first = start_cli(*args, "--json", cwd=tmp_path)
    try:
        report = until_sync(lambda: _json_line(first.out_path), "the witness's start-up report")
        assert report["name"] == "w.test/one" and report["url"].startswith("http://127.0.0.1:")
        assert report["logs"] == [{"origin": ORIGIN, "vkeys": [log.vkey], "size": None}]

        # `key` reads the key without the lock, so it works beside the running witness.
        key = CliRunner().invoke(witness_command, ["key", "--data-dir", str(data_dir), "--json"])
        assert key.exit_code == 0, key.output
        assert json.loads(key.stdout) == {"name": "w.test/one", "vkey": report["vkey"], "created": False}

        second = run_cli(*args, cwd=tmp_path)
        assert second.returncode == 3
        assert f"another witness (pid {first.pid}) is using" in second.stderr

        answer = httpx.post(f"{report['url']}/add-checkpoint", content=request_body(0, [], log.checkpoint()))
        assert answer.status_code == 200
        cosigned = add_signatures(log.checkpoint(), NoteSignature.parse_line(answer.text.strip()))
        open_note(cosigned, [CosignatureVerifier.from_vkey(report["vkey"])])
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=20)
    assert first.returncode == 0, err


def test_mpp_hub_witness_key_makes_the_key_once_and_keeps_its_name(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(witness_command, ["key", "--data-dir", str(tmp_path), "--name", "w.test/two"])
    assert made.exit_code == 0, made.output
    vkey = made.stdout.strip()
    assert CosignatureVerifier.from_vkey(vkey).name == "w.test/two"
    assert "a new witness key was made" in made.stderr
    again = runner.invoke(witness_command, ["key", "--data-dir", str(tmp_path)])
    assert (again.exit_code, again.stdout, again.stderr) == (0, vkey + "\n", "")
    renamed = runner.invoke(witness_command, ["key", "--data-dir", str(tmp_path), "--name", "other"])
    assert renamed.exit_code == 3 and "cannot change" in renamed.stderr


def _json_line(path: Path) -> dict[str, Any] | None:
    text = path.read_text()
    if not text.endswith("\n"):
        return None
    report: dict[str, Any] = json.loads(text.splitlines()[0])
    return report


def test_origin_hash_is_the_specs() -> None:
    assert origin_hash(ORIGIN) == hashlib.sha256(ORIGIN.encode()).hexdigest()
