"""``mpp-hub up`` and ``mpp-hub worker``: start everything in order, stop it in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from contracts import HubError
from hub._agency import SandboxContext
from hub._asgi import AsgiServer, HttpPortInUse, check_port_free
from hub._audit import AuditLog
from hub._bus_access import BusAccess
from hub._checkpointer import Checkpointer, CheckpointerBroken
from hub._checkpoints import CheckpointStore
from hub._consumers import ConsumerRegistry
from hub._credentials import has_role
from hub._edge import EdgeBus
from hub._edge_process import EdgeOrders, EdgeProcesses
from hub._embedded_bus import EmbeddedBus, bus_access
from hub._faults import initial_faults, with_faults
from hub._http import create_app, metrics_app
from hub._nats_server import NatsServerFailed, PortInUse
from hub._plugins import PluginError, PluginSet, load_plugins
from hub._providers import PROVIDERS_KEY, sandbox_settings
from hub._provision import provision
from hub._purposes import PurposeRegistry
from hub._roles import Role
from hub._runtime import Hub
from hub._secrets import audit_key, audit_log_signer, checkpoint_file, cli_key_file, sandbox_token, write_secret
from hub._settings import HubSettings
from hub._site_sync import provision_sites
from hub._sites import load_sites
from hub._transport import use_transport
from hub._witness_client import WitnessConfig

__all__ = [
    "LOCK_FILE", "STATE_FILE", "AuditLogStatus", "DataDirLock", "HubAlreadyRunning", "Started", "read_state", "run",
    "write_state",
]  # fmt: skip

#: Where a running hub says where it is, so `mpp-hub call` and friends find it with no flags.
STATE_FILE = "hub.json"
#: Held (flock) by the one `mpp-hub up` of a data dir, and by its nats-server, for as long as either runs.
LOCK_FILE = "hub.lock"
#: How long a start waits for the nats-server of a hub that died to let go of the store (it stops on SIGTERM).
_ORPHAN_GRACE = 15.0

_log = structlog.get_logger("hub.up")


@dataclass
class Started:
    """What came up and where, for the start-up report."""

    nats_url: str
    embedded_nats: bool
    nats_store: str | None
    plugins: PluginSet
    sandboxes: dict[str, str] = field(default_factory=dict)
    http_url: str | None = None
    http_port: int | None = None
    cli_consumer: str | None = None
    audit_log: AuditLogStatus | None = None


@dataclass
class AuditLogStatus:
    """The audit log's signing, as `up` started it: the log's public key, and why it signs nothing if it does not."""

    vkey: str
    checkpointer: Checkpointer | None = None
    problem: str | None = None


def write_state(data_dir: Path, started: Started) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STATE_FILE
    state = {
        "pid": os.getpid(),
        "nats_url": started.nats_url,
        "http_url": started.http_url,
        "sandboxes": started.sandboxes,
    }
    path.write_text(json.dumps(state, indent=2) + "\n")
    return path


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The state of the hub running on ``data_dir``, or None when none is running there."""
    try:
        state: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
        os.kill(int(state["pid"]), 0)  # raises if that hub is gone and left a stale file
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return state


class HubAlreadyRunning(RuntimeError):
    """Another `mpp-hub up` runs on this data dir: its JetStream store, its state file and its checkpoints."""


class DataDirLock:
    """The one `mpp-hub up` of a data dir: an flock on ``hub.lock``, which records the holder's pid and edge.

    The kernel drops the lock when the last process holding it dies, so a crashed hub never blocks a restart.
    Its nats-server inherits the lock, so a hub killed while its server is still shutting down does not let a
    new server open the same store: the next start waits for that server first.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self.fd = -1

    async def __aenter__(self) -> DataDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            await self._acquire()
        except BaseException:
            os.close(self.fd)
            raise
        self.record(None)
        return self

    async def __aexit__(self, *_: object) -> None:
        os.close(self.fd)  # unlocks; the file stays, so every hub locks the same inode

    async def _acquire(self) -> None:
        deadline, waiting = time.monotonic() + _ORPHAN_GRACE, False
        while not self._try_lock():
            holder = self._holder()
            pid, edge = holder.get("pid"), holder.get("http_url") or "its edge not up yet"
            if _alive(pid):
                raise HubAlreadyRunning(
                    f"another hub runs on {self.path.parent} (pid {pid or 'unknown'}, {edge}): stop it first, "
                    "or give this one another --data-dir"
                )
            if time.monotonic() > deadline:  # a server that outlived its hub and does not stop
                raise HubAlreadyRunning(
                    f"the nats-server of a hub that died (pid {pid}) still holds {self.path.parent}: stop that "
                    "nats-server, or give this hub another --data-dir"
                )
            if not waiting:
                waiting = True
                _log.info("waiting for the nats-server of a hub that died to let go of the data dir", pid=pid)
            await asyncio.sleep(0.1)  # that nats-server is shutting down (SIGTERM): it lets go within moments

    def _try_lock(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _holder(self) -> dict[str, Any]:
        try:
            holder = json.loads(os.pread(self.fd, 4096, 0))
        except ValueError:
            return {}  # being rewritten just now
        return holder if isinstance(holder, dict) else {}

    def record(self, http_url: str | None) -> None:
        """Say who holds the data dir (rewritten in place: a new file would be a new, unlocked inode)."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps({"pid": os.getpid(), "http_url": http_url}).encode(), 0)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # no record yet: a hub that is starting
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _provision(bus: BusAccess, settings: HubSettings, *, cli_consumer: bool) -> str | None:
    """With the admin credential at hand: create or adopt the streams, and in sandbox mode the CLI's consumer.

    The admin connection lives only for this; no running part of the hub holds one.
    """
    if not has_role(bus.credentials, Role.ADMIN):
        return None  # on a cluster, `mpp-hub bus setup` did this once
    nc = await bus.connect(Role.ADMIN, max_reconnect_attempts=1)
    try:
        await provision(nc.jetstream(), settings.stream_replicas)
        await provision_sites(nc.jetstream(), load_sites(settings.data_dir))
        if not cli_consumer:
            return None
        registry = await ConsumerRegistry.open(nc.jetstream())
        try:
            return await _ensure_cli_consumer(registry, settings)
        finally:
            await registry.close()
    finally:
        await nc.drain()


async def _ensure_cli_consumer(registry: ConsumerRegistry, settings: HubSettings) -> str:
    """In sandbox mode the local CLI is a consumer like any other (audited, revocable) with its key on disk."""
    path = cli_key_file(settings)
    if path.exists():
        try:
            return (await registry.authenticate(path.read_text().strip())).name
        except HubError:
            pass  # revoked, or a key of another NATS: make a new consumer
    # The operator's own console: it may name the officer a call is made for (`mpp-hub call --officer`).
    consumer, key = await registry.add(f"cli-{secrets.token_hex(3)}", ["*"], names_officers=True)
    write_secret(path, key)
    _log.info("local CLI consumer created", consumer=consumer.name)
    return consumer.name


def _plugin_settings(settings: HubSettings, sandbox_overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    merged = {code: dict(values) for code, values in settings.plugins.items()}
    for code, values in sandbox_overrides.items():
        table = merged.setdefault(code, {})
        # A provider sandbox's settings win within its provider's table; the rest of that table stays.
        providers = {name: dict(extra) for name, extra in (table.get(PROVIDERS_KEY) or {}).items()}
        for name, extra in (values.get(PROVIDERS_KEY) or {}).items():
            providers.setdefault(name, {}).update(extra)
        table.update(values)  # sandbox mode: the sandbox's address and fake keys win
        if providers:
            table[PROVIDERS_KEY] = providers
    return merged


def _check_purposes(settings: HubSettings) -> None:
    """Refuse, before anything starts, a purpose that names no operation of the contract the plugins make up."""
    try:
        PurposeRegistry(settings.purposes)
    except ValueError as exc:
        raise PluginError(f"settings: {exc}") from None


async def run(
    settings: HubSettings,
    *,
    http: bool = True,
    stop: asyncio.Event | None = None,
    on_started: Callable[[Started], None] = lambda _: None,
) -> None:
    """Run a hub until ``stop`` is set (or SIGINT/SIGTERM arrives when ``stop`` is not given)."""
    stop = stop or _stop_on_signals()
    use_transport(settings.http_transport)  # before any plugin opens its agency link
    plugins = load_plugins(disabled=settings.disabled_plugins, only=settings.load_plugins)
    _check_purposes(settings)
    async with contextlib.AsyncExitStack() as stack:
        # The hub with the edge owns its data dir; workers join it. Entered first, so it is let go of last.
        lock = await stack.enter_async_context(DataDirLock(settings.data_dir)) if http else None
        bus, started = await _start_bus(settings, plugins, stack, lock)
        started.cli_consumer = await _provision(bus, settings, cli_consumer=settings.sandbox_mode)
        sandbox_context = SandboxContext()
        overrides = await _start_sandboxes(settings, plugins, sandbox_context, started, stack)
        key = audit_key(settings)
        plugin_settings = _plugin_settings(settings, overrides)
        hub = Hub(
            plugins,
            bus,
            plugin_settings,
            audit_key=key,
            purposes=settings.purposes,
            traffic_tap=settings.traffic_tap,
            resilience=settings.resilience,
        )
        stack.push_async_callback(hub.stop)
        await hub.start()
        if lock is not None:
            await _start_edge(hub, bus, settings, key, started, stack)
            await _start_other_edges(settings, plugin_settings, bus, started, stack)
            sandbox_context.hub_url = started.http_url
            lock.record(started.http_url)
        elif settings.metrics_port is not None:
            # Each worker exposes its own counters, labelled with its name, for Prometheus to scrape and sum.
            exporter = AsgiServer(metrics_app(hub), host=settings.host, port=settings.metrics_port)
            try:
                started.http_url = await exporter.start()
            except HttpPortInUse as exc:
                raise HttpPortInUse(exc.host, exc.port, "--metrics-port (metrics_port, MPP_HUB_METRICS_PORT)") from None
            stack.push_async_callback(exporter.stop)
        _log.info("hub started", nats=bus.url, agencies=sorted(plugins.agencies), http=started.http_url)
        on_started(started)
        await stop.wait()
        _log.info("hub stopping")


async def _start_bus(
    settings: HubSettings, plugins: PluginSet, stack: contextlib.AsyncExitStack, lock: DataDirLock | None
) -> tuple[BusAccess, Started]:
    """The embedded nats-server (unless ``nats_url`` names a bus to join), and how to reach the bus."""
    if settings.nats_url is not None:
        bus = bus_access(settings, settings.nats_url)
        return bus, Started(nats_url=bus.url, embedded_nats=False, nats_store=None, plugins=plugins)
    embedded = EmbeddedBus(
        settings.data_dir, port=settings.nats_port, host=settings.nats_host, inherit_fds=(lock.fd,) if lock else (),
        leaf_listen=settings.sites_leaf_listen,
    )  # fmt: skip
    try:
        bus = await embedded.astart()
    except PortInUse as exc:
        # What nats-server's ~30 lines of log come to, and what the hub's user can do about it.
        raise NatsServerFailed(
            f"NATS port {exc.port} ({exc.address}) is already in use, by another hub or program: choose another "
            "with --nats-port (nats_port in mpp-hub.toml, MPP_HUB_NATS_PORT), or -1 for any free port"
        ) from None
    stack.push_async_callback(embedded.astop)
    store = str(embedded.nats.store_dir)
    return bus, Started(nats_url=bus.url, embedded_nats=True, nats_store=store, plugins=plugins)


async def _start_sandboxes(
    settings: HubSettings,
    plugins: PluginSet,
    context: SandboxContext,
    started: Started,
    stack: contextlib.AsyncExitStack,
) -> dict[str, Any]:
    """In sandbox mode, every plugin's sandbox on a port of its own (each provider's too: the second bank's); the
    plugin settings that point at them."""
    overrides: dict[str, Any] = {}
    if not settings.sandbox_mode:
        return overrides
    faults = initial_faults(settings.sandbox_faults, plugins.sandboxes)
    token = sandbox_token(settings)
    for code, sandbox in plugins.sandboxes.items():
        # Every sandbox can be made to fail at runtime (PUT /_sandbox/faults), starting as configured.
        server = AsgiServer(
            with_faults(sandbox.app(context), initial=faults.get(code), admin_token=token), host=settings.sandbox_host
        )
        started.sandboxes[code] = await server.start()
        stack.push_async_callback(server.stop)
        sandbox_settings(sandbox, sandbox.settings(started.sandboxes[code]), overrides)
    return overrides


async def _start_edge(
    hub: Hub, bus: BusAccess, settings: HubSettings, key: bytes, started: Started, stack: contextlib.AsyncExitStack
) -> None:
    """The portal API and /healthz, with the checkpointer behind the citizen's access log; then the state file."""
    # The one process with the edge holds the log key and signs checkpoints; workers only append.
    started.audit_log = await _start_checkpointer(bus, settings, key, stack)
    edge_bus = await EdgeBus.open(
        bus, audit_key=key, purposes=settings.purposes, processes=hub.plugins.processes, metrics=hub.metrics,
        front=settings.front,
    )  # fmt: skip
    stack.push_async_callback(edge_bus.close)
    app = create_app(
        hub,
        edge_bus,
        embedded_nats=settings.embedded_nats,
        request_timeout=settings.request_timeout,
        profile_budget=settings.profile_budget,
        audit_log=started.audit_log.checkpointer,
    )
    # Shared only when other edge processes are to join it: a lone edge keeps its port to itself.
    shared = settings.edge_processes > 1
    edge = AsgiServer(app, host=settings.host, port=settings.port, reuse_port=shared)
    try:
        if shared and settings.port != 0:
            check_port_free(settings.host, settings.port)  # not joined to another hub's shared port
        started.http_url = await edge.start()
    except HttpPortInUse as exc:
        raise HttpPortInUse(exc.host, exc.port, "--port (port in mpp-hub.toml, MPP_HUB_PORT)") from None
    stack.push_async_callback(edge.stop)
    started.http_port = edge.port
    # Only the hub with the edge says where it is: workers come and go in numbers.
    state = write_state(settings.data_dir, started)
    stack.callback(state.unlink, missing_ok=True)


async def _start_other_edges(
    settings: HubSettings,
    plugin_settings: dict[str, dict[str, Any]],
    bus: BusAccess,
    started: Started,
    stack: contextlib.AsyncExitStack,
) -> None:
    """``--edges N``: N-1 more processes on the port up's edge listens on (known now, even if it was 0)."""
    if settings.edge_processes < 2 or started.http_port is None:
        return
    orders = EdgeOrders(settings, plugin_settings, bus.url, started.http_port)
    others = EdgeProcesses(orders, settings.edge_processes - 1)
    await others.start()
    stack.push_async_callback(others.stop)  # before up's own parts stop, so each child stops on a live bus


async def _start_checkpointer(
    bus: BusAccess, settings: HubSettings, key: bytes, stack: contextlib.AsyncExitStack
) -> AuditLogStatus:
    nc = await bus.connect(Role.WORKER, max_reconnect_attempts=-1)  # as long as the edge it signs for lives
    stack.push_async_callback(nc.drain)
    js = nc.jetstream()
    signer = audit_log_signer(settings)
    checkpointer = Checkpointer(
        js, AuditLog(js, key), CheckpointStore(js, checkpoint_file(settings)), signer,
        witnesses=[WitnessConfig.parse(text) for text in settings.audit_witnesses],
        interval=settings.audit_checkpoint_interval,
    )  # fmt: skip
    try:
        await checkpointer.start()
    except CheckpointerBroken as exc:
        # The hub serves on (its records still append), but signs nothing over a log that does not verify.
        return AuditLogStatus(signer.verifier_key(), problem=str(exc))
    stack.push_async_callback(checkpointer.stop)
    return AuditLogStatus(signer.verifier_key(), checkpointer=checkpointer)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
