"""JetStream encryption at rest on the embedded bus: what is on disk, a restart, an older store, a lost key."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import nats
import pytest

from hub._credentials import STORE_CIPHER, CredentialsError
from hub._embedded_bus import STORE_KEY_FILE, bus_secrets
from hub._events import event_subject
from hub._nats_server import EmbeddedNats
from hub._roles import Role
from hub.testing._bus import TestBus


def _store(data_dir: Path) -> Path:
    return data_dir / "nats" / "jetstream"


def _files(directory: Path) -> dict[Path, bytes]:
    """Every file under ``directory``, read as bytes."""
    return {path: path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def _holding(directory: Path, needle: bytes) -> list[str]:
    return [str(path.relative_to(directory)) for path, data in _files(directory).items() if needle in data]


async def _publish_event(bus: TestBus, marker: bytes) -> int:
    """``marker`` as a hub event, as the edge publishes agencies' callbacks; its stream sequence."""
    assert bus.access is not None
    nc = await bus.access.connect(Role.EDGE)
    try:
        ack = await nc.jetstream().publish(event_subject("test.encryption"), marker)
    finally:
        await nc.close()
    return ack.seq


async def _read_event(bus: TestBus, seq: int) -> bytes:
    assert bus.access is not None
    nc = await bus.access.connect(Role.ADMIN)
    try:
        return (await nc.jetstream().get_msg("MPP_EVENTS", seq)).data or b""
    finally:
        await nc.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_store_is_encrypted_and_a_restart_with_the_same_key_reads_it(tmp_path: Path) -> None:
    """What JetStream writes is not in clear on disk; the key is made once (0600), the configuration holding it
    is 0600 and the server's log never shows it; a restart with the same key reads every message back."""
    marker = f"CLEARTEXT-{uuid.uuid4().hex}".encode()
    bus = TestBus(tmp_path)
    await bus.astart()
    try:
        seq = await _publish_event(bus, marker)
    finally:
        await bus.astop()
    key_file = bus_secrets(tmp_path) / STORE_KEY_FILE
    key = key_file.read_text().strip()
    config_file = tmp_path / "nats" / "nats-server.conf"
    config = json.loads(config_file.read_text())
    assert config["jetstream"] == {"cipher": STORE_CIPHER, "key": key} and len(key) >= 32
    assert _mode(key_file) == _mode(config_file) == 0o600
    assert any(path.suffix == ".blk" and data for path, data in _files(_store(tmp_path)).items())
    assert _holding(_store(tmp_path), marker) == []
    assert key not in (tmp_path / "nats" / "nats-server.log").read_text()

    again = TestBus(tmp_path)
    await again.astart()
    try:
        assert await _read_event(again, seq) == marker
    finally:
        await again.astop()
    assert key_file.read_text().strip() == key  # the same key, not a new one


async def test_a_store_an_older_hub_left_in_clear_is_encrypted_at_the_next_start(tmp_path: Path) -> None:
    """The upgrade: a store written without encryption is readable after the hub starts on it with a key, and
    then nothing of it is left in clear on disk (nats-server re-encrypts existing streams when it starts)."""
    marker = f"CLEARTEXT-{uuid.uuid4().hex}".encode()
    plain = EmbeddedNats(tmp_path / "nats")  # as hubs before encryption ran it: no configuration, no key
    url = await plain.astart()
    try:
        nc = await nats.connect(url)
        try:
            js = nc.jetstream()
            await js.add_stream(name="MPP_EVENTS", subjects=["mpp.events.>"])
            seq = (await js.publish(event_subject("test.encryption"), marker)).seq
        finally:
            await nc.close()
    finally:
        await plain.astop()
    assert _holding(_store(tmp_path), marker), "the older store should hold the marker in clear"

    bus = TestBus(tmp_path)
    await bus.astart()
    try:
        assert await _read_event(bus, seq) == marker
    finally:
        await bus.astop()
    assert _holding(_store(tmp_path), marker) == []


async def test_an_encrypted_store_whose_key_is_gone_is_refused_not_given_a_new_key(tmp_path: Path) -> None:
    """A new key could not open the store, and nats-server would skip its streams for the hub to recreate them
    empty: so the start is refused, saying which key to put back."""
    bus = TestBus(tmp_path)
    await bus.astart()
    await bus.astop()
    key_file = bus_secrets(tmp_path) / STORE_KEY_FILE
    key_file.unlink()
    with pytest.raises(CredentialsError, match=r"encrypted, but its key .* is missing"):
        await TestBus(tmp_path).astart()
    assert not key_file.exists()
