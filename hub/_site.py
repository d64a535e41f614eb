"""A site's own runtime (`mpp-hub site up`): a nats-server that is a leaf node of the hub's, its streams, and the
agent that reports to the hub and deletes what the hub has processed.

The site's nats-server has its own JetStream domain (the site's name), encrypted at rest with a key of its own,
and a leaf connection to the hub's leaf listener over TLS (checked against the bus CA from the bundle) as the
site's leaf user. Its one local user (the site's edge and agent, this process) connects over TLS on loopback.
Everything the site takes in goes into its stream ``SITE_INTAKE`` (:mod:`hub._site_intake`), which the hub sources
whenever the link is up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import ssl
from pathlib import Path
from typing import Any

import nats
import nkeys
import structlog
from nacl.public import PublicKey
from nacl.signing import SigningKey
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from contracts import SiteVisit
from hub._assertions import Issuer
from hub._consumers import CONSUMERS_KV, Consumer, ConsumerRegistry
from hub._credentials import ensure_store_key, write_private
from hub._kv_watch import current_entries
from hub._nats_config import LeafRemote, TlsFiles, server_config
from hub._nats_server import EmbeddedNats
from hub._pki import CertificateAuthority
from hub._queue import FRONT_KV
from hub._roles import SITE_STREAM, site_inbox, site_local
from hub._site_intake import IntakeKind, SiteSealer, out_subject
from hub._site_sync import SiteReply, SiteReport
from hub._sites import BUNDLE_FILE, CA_FILE, CONSUMERS_FILE, LEAF_SEED_FILE, SIGNING_FILE, SUBJECTS_FILE, SiteBundle
from hub._streams import ensure_key_value, ensure_stream

__all__ = ["SITE_LOCAL_BUCKET", "Site"]

#: The site's own small state: today's schedule entry, its applications' numbers and where they stand.
SITE_LOCAL_BUCKET = "site_local"
_SITE_LOCAL_KV = KeyValueConfig(bucket=SITE_LOCAL_BUCKET, history=1, storage=StorageType.FILE)
_REPORT_TIMEOUT = 2.0
_log = structlog.get_logger("hub.site")


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise FileNotFoundError(f"the site's bundle has no {what} ({path}: {exc.strerror}); "
                                "write the bundle again with `mpp-hub site add` on the hub") from None  # fmt: skip


class Site:
    """One site: its bus, its stream, its agent. ``report_every`` seconds it reports to the hub."""

    def __init__(self, bundle_dir: Path, data_dir: Path, *, report_every: float = 2.0, port: int = -1) -> None:
        self.bundle = SiteBundle.model_validate_json(_read(bundle_dir / BUNDLE_FILE, "site.json"))
        self.name = self.bundle.name
        self._bundle_dir = bundle_dir
        self._data_dir = data_dir
        self._secrets = data_dir / "secrets"
        self.nats = EmbeddedNats(data_dir / "nats", port=port)
        self.report_every = report_every
        signing = SigningKey(base64.b64decode(_read(bundle_dir / SIGNING_FILE, "signing key")))
        self.sealer = SiteSealer(self.name, signing, PublicKey(base64.b64decode(self.bundle.intake_key)))
        subjects = base64.b64decode(_read(bundle_dir / SUBJECTS_FILE, "key of subject hashes"))
        self.issuer = Issuer(f"site.{self.name}", signing, subjects)
        self.online = False
        self.waiting = 0
        self.synced_seq = 0
        self.today: SiteVisit | None = None
        self._nc: NATS | None = None
        self._task: asyncio.Task[None] | None = None
        self._publish = asyncio.Lock()

    # --- the bus ---

    def _configure(self) -> tuple[str, Path]:
        ca = CertificateAuthority(self._secrets).ensure()
        cert, key = ca.issue("server", ("127.0.0.1", "localhost", "::1"), self._secrets)
        seed_file = self._secrets / "local.nk"
        if not seed_file.exists():
            write_private(seed_file, nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode())
        seed = seed_file.read_text().strip()
        public = nkeys.from_seed(seed.encode()).public_key.decode()
        store_key = ensure_store_key(self._secrets / "jetstream.key", self.nats.store_dir / "jetstream")
        leaf = LeafRemote(self.bundle.hub_leaf, _read(self._bundle_dir / LEAF_SEED_FILE, "leaf key"),
                          self._bundle_dir / CA_FILE)  # fmt: skip
        config = server_config(
            users={}, tls=TlsFiles(cert, key, ca.cert_file), extra_users={public: site_local(self.name)},
            store_key=store_key, domain=self.name, leaf_remote=leaf, server_name=f"site-{self.name}",
        )  # fmt: skip
        self.nats.store_dir.mkdir(parents=True, exist_ok=True)
        self.nats.config_file = self.nats.store_dir / "nats-server.conf"
        write_private(self.nats.config_file, config)
        return seed, ca.cert_file

    async def start(self) -> None:
        seed, ca_file = self._configure()
        url = (await self.nats.astart()).replace("nats://", "tls://", 1)
        tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
        self._nc = await nats.connect(
            url, nkeys_seed_str=seed, tls=tls, inbox_prefix=site_inbox(self.name), name=f"mpp-site-{self.name}",
            max_reconnect_attempts=-1, connect_timeout=5,
        )  # fmt: skip
        js = self._nc.jetstream()
        stream = StreamConfig(name=SITE_STREAM, subjects=[out_subject(self.name, ">")], storage=StorageType.FILE)
        await ensure_stream(js, stream)
        for bucket in (FRONT_KV, CONSUMERS_KV, _SITE_LOCAL_KV):
            await ensure_key_value(js, bucket)
        await self._load_consumers(js)
        self.consumers = await ConsumerRegistry.open(js)
        self._task = asyncio.create_task(self._report_loop())

    async def _load_consumers(self, js: JetStreamContext) -> None:
        records = json.loads(_read(self._bundle_dir / CONSUMERS_FILE, "consumers"))
        kv = await js.key_value(CONSUMERS_KV.bucket)
        for record in records:
            consumer = Consumer.model_validate(record)
            with contextlib.suppress(Exception):  # a newer record (a revoke the hub sent) is kept
                await kv.create(consumer.name, consumer.model_dump_json().encode())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self.consumers.close()
            if self._nc.is_connected:
                await self._nc.drain()
            else:
                # Its server is gone (killed): nothing to drain to, and asyncio's TLS transport may fail on the way.
                with contextlib.suppress(Exception):
                    await self._nc.close()
        await self.nats.astop()

    @property
    def nc(self) -> NATS:
        assert self._nc is not None, "the site is not started"
        return self._nc

    # --- intake ---

    async def take(self, kind: IntakeKind, payload: dict[str, Any], *, consumer: str | None) -> int:
        """Keep what the site took in; its sequence in the site's stream. Raises if the site's own store fails."""
        data, headers = self.sealer.seal(kind, payload, consumer=consumer)
        async with self._publish:
            ack = await self.nc.jetstream().publish(out_subject(self.name, kind), data, headers=headers)
        self.waiting += 1
        return int(ack.seq)

    # --- the agent ---

    async def _report_loop(self) -> None:
        while True:
            with contextlib.suppress(NatsError, OSError, ValueError):
                await self.report()
            await asyncio.sleep(self.report_every)

    async def report(self) -> None:
        """Tell the hub how much the site holds; delete what it has processed; learn today's schedule entry."""
        js = self.nc.jetstream()
        state = (await js.stream_info(SITE_STREAM)).state
        self.waiting = state.messages
        report = SiteReport(waiting=state.messages)
        try:
            answer = await self.nc.request(
                f"mpp.site.{self.name}.status", report.model_dump_json().encode(), timeout=_REPORT_TIMEOUT
            )
        except NatsError:
            self.online = False
            return
        reply = SiteReply.model_validate_json(answer.data)
        self.online, self.today = True, reply.today
        if reply.synced_seq > self.synced_seq:
            self.synced_seq = reply.synced_seq
            # Processed by the hub: what the site took in is deleted here (JetStream purges below the sequence).
            await js.purge_stream(SITE_STREAM, seq=reply.synced_seq + 1)
            self.waiting = (await js.stream_info(SITE_STREAM)).state.messages
            await self._forget_synced(js)

    async def _forget_synced(self, js: JetStreamContext) -> None:
        """Applications the hub has: their desk view (the NIK masked) goes; a mark that the hub has it stays."""
        local = await js.key_value(SITE_LOCAL_BUCKET)
        for entry in await current_entries(local, "app.*", meta_only=False):
            seq, _, rest = (entry.value or b"").decode().partition("\n")
            if seq.isdigit() and int(seq) <= self.synced_seq and rest:
                await local.put(entry.key, f"{seq}\n".encode())
