"""The other edge processes of ``mpp-hub up --edges N``: each listens on up's own port (SO_REUSEPORT), and the
kernel spreads the portal's connections over them.

``up`` starts them once its own edge listens (so a port 0 is known) as ``python -m hub._edge_process``, and
writes each its orders on its stdin: the settings, whole (what the TOML file, the environment and the flags
gave), the plugin settings (in sandbox mode, pointing at up's sandboxes), the bus and the port. Nothing goes on
a command line. A child reads the data dir's secrets itself, as up does.

Each child is a whole hub process, a worker as up is (it serves the agencies' operations and takes their
callbacks), with an edge over its own edge-role connection; its checkpointer only reads (one signer per log).
It stops when up closes its stdin, or on SIGTERM (Ctrl-C is up's to act on); and when up dies, even by
SIGKILL, its stdin ends with it, so no child is left holding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import SecretStr

from hub._asgi import AsgiServer
from hub._audit import AuditLog
from hub._bus_access import BusAccess
from hub._checkpointer import Checkpointer, CheckpointerBroken
from hub._checkpoints import CheckpointStore
from hub._edge import EdgeBus
from hub._embedded_bus import bus_access
from hub._http import create_app
from hub._logging import configure_logging
from hub._loop import run as run_loop
from hub._plugins import load_plugins
from hub._roles import Role
from hub._runtime import Hub
from hub._secrets import audit_key, audit_log_vkey
from hub._settings import HubSettings
from hub._transport import use_transport

__all__ = ["EdgeOrders", "EdgeProcessFailed", "EdgeProcesses"]

_log = structlog.get_logger("hub.edges")
#: Seconds a child has to listen once told to start (it loads the plugins and connects, as up does).
_START_TIMEOUT = 60.0
#: Seconds a child has to stop once told to; then it is killed, and kills itself (it never outlives its stop).
_STOP_GRACE = 20.0


class EdgeProcessFailed(RuntimeError):
    """An edge process did not start; its own log lines, on up's stderr, say why."""


@dataclass(frozen=True)
class EdgeOrders:
    """What up tells each of its other edge processes, on the child's stdin."""

    settings: HubSettings
    plugin_settings: Mapping[str, Mapping[str, Any]]
    nats_url: str
    port: int

    def encode(self) -> bytes:
        values = self.settings.model_dump(mode="json")
        for name in type(self.settings).model_fields:
            value = getattr(self.settings, name)
            if isinstance(value, SecretStr):  # a pipe to the child, never argv or a file: the value itself
                values[name] = value.get_secret_value()
        values["data_dir"] = str(self.settings.data_dir.resolve())
        orders = {"settings": values, "plugin_settings": self.plugin_settings, "nats_url": self.nats_url}
        return json.dumps({**orders, "port": self.port}).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> EdgeOrders:
        orders = json.loads(line)
        settings = HubSettings.model_validate(orders["settings"])
        return cls(settings, orders["plugin_settings"], orders["nats_url"], int(orders["port"]))


@dataclass
class _Child:
    number: int
    process: asyncio.subprocess.Process
    watcher: asyncio.Task[None] | None = None


class EdgeProcesses:
    """up's side: ``count`` child edge processes, started, watched, and stopped before up's own parts."""

    def __init__(self, orders: EdgeOrders, count: int) -> None:
        self._orders, self._count = orders.encode(), count
        self._children: list[_Child] = []
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [child.process.pid for child in self._children if child.process.returncode is None]

    async def start(self) -> None:
        """Start them one by one, each listening before the next; raises :class:`EdgeProcessFailed`."""
        try:
            for number in range(1, self._count + 1):
                child = await self._spawn(number)
                child.watcher = asyncio.create_task(self._watch(child))
                self._children.append(child)
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, number: int) -> _Child:
        # -P: the working directory is not put on sys.path, where a folder named "hub" would shadow the hub.
        # stderr: up's own, so the child's log lines go where up's go.
        pipe = asyncio.subprocess.PIPE
        process = await asyncio.create_subprocess_exec(sys.executable, "-P", "-m", __name__, stdin=pipe, stdout=pipe)
        child = _Child(number, process)
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(self._orders)
            await process.stdin.drain()
            ready = await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT)
        except (TimeoutError, ConnectionError):
            ready = b""
        if not ready:
            code = await _end(child)
            raise EdgeProcessFailed(
                f"edge process {number} (pid {process.pid}) did not start (exit code {code}); its log says why"
            )
        _log.info("edge process listening", edge=number, pid=process.pid)
        return child

    async def _watch(self, child: _Child) -> None:
        code = await child.process.wait()
        if not self._stopping:
            # Not restarted: a child that fails once would most likely fail again at once; the others serve on.
            # Exit code 0: stopped by a SIGTERM of its own (a service manager stopping the whole group, say).
            say = _log.warning if code == 0 else _log.error
            say(
                "edge process stopped; the other edge processes serve on", edge=child.number,
                pid=child.process.pid, exit_code=code, serving=len(self.pids) + 1,
            )  # fmt: skip

    async def stop(self) -> None:
        """Tell every child to stop (its stdin closes) and wait for each; one that does not is killed."""
        self._stopping = True
        await asyncio.gather(*(_end(child) for child in self._children))
        for child in self._children:
            if child.watcher is not None:
                await child.watcher
        self._children.clear()


async def _end(child: _Child) -> int:
    process = child.process
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    try:
        return await asyncio.wait_for(process.wait(), _STOP_GRACE)
    except TimeoutError:
        _log.warning("edge process did not stop in time; killed", edge=child.number, pid=process.pid)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return await process.wait()


# --- the child's side ------------------------------------------------------------------------------------


async def serve_edge(orders: EdgeOrders, stop: asyncio.Event, on_listening: Callable[[str], None]) -> None:
    """One more edge of up's: a hub worker, its edge-role link, a reading checkpointer, and the portal app on
    up's port, until ``stop`` is set."""
    settings = orders.settings
    use_transport(settings.http_transport)
    plugins = load_plugins(disabled=settings.disabled_plugins, only=settings.load_plugins)
    bus = bus_access(settings, orders.nats_url)
    key = audit_key(settings)
    async with contextlib.AsyncExitStack() as stack:
        hub = Hub(
            plugins, bus, orders.plugin_settings, audit_key=key, purposes=settings.purposes,
            traffic_tap=settings.traffic_tap, resilience=settings.resilience,
        )  # fmt: skip
        stack.push_async_callback(hub.stop)
        await hub.start()
        audit_log = await _start_reader(bus, settings, key, stack)
        edge_bus = await EdgeBus.open(
            bus, audit_key=key, purposes=settings.purposes, processes=plugins.processes, metrics=hub.metrics,
            front=settings.front,
        )  # fmt: skip
        stack.push_async_callback(edge_bus.close)
        app = create_app(
            hub, edge_bus, embedded_nats=settings.embedded_nats, request_timeout=settings.request_timeout,
            profile_budget=settings.profile_budget, audit_log=audit_log,
        )  # fmt: skip
        edge = AsgiServer(app, host=settings.host, port=orders.port, reuse_port=True)
        on_listening(await edge.start())
        stack.push_async_callback(edge.stop)  # stopped first: the port is let go of before the rest
        await stop.wait()


async def _start_reader(
    bus: BusAccess, settings: HubSettings, key: bytes, stack: contextlib.AsyncExitStack
) -> Checkpointer | None:
    """The checkpointer behind this process's access log, in reader mode; None (not served) if the log does
    not verify, as on up's own edge."""
    nc = await bus.connect(Role.WORKER, max_reconnect_attempts=-1)
    stack.push_async_callback(nc.drain)
    js = nc.jetstream()
    reader = Checkpointer.reader(
        js, AuditLog(js, key), CheckpointStore(js), audit_log_vkey(settings),
        interval=settings.audit_checkpoint_interval,
    )  # fmt: skip
    try:
        await reader.start()
    except CheckpointerBroken:
        return None  # said by the checkpointer, and by up's own at its start
    stack.push_async_callback(reader.stop)
    return reader


async def _child_main() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    orders = EdgeOrders.decode(await stdin.readline())
    configure_logging(orders.settings.log_level, orders.settings.log_format)
    stop = asyncio.Event()
    # Ctrl-C reaches the whole process group: up stops its children itself, first, by closing their stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    watches = [asyncio.create_task(_until_closed(stdin, stop)), asyncio.create_task(_end_in_time(stop))]
    try:
        await serve_edge(orders, stop, _say_listening)
    finally:
        for watch in watches:
            watch.cancel()


async def _until_closed(stdin: asyncio.StreamReader, stop: asyncio.Event) -> None:
    """up closes this pipe to stop the child, and the kernel closes it when up dies, however it dies."""
    while await stdin.read(4096):
        pass
    stop.set()


async def _end_in_time(stop: asyncio.Event) -> None:
    """A stop that hangs (the bus gone with up, say) must not keep the port: the process ends regardless."""
    await stop.wait()
    timer = threading.Timer(_STOP_GRACE, os._exit, (1,))
    timer.daemon = True  # not waited for by an exit that comes in time
    timer.start()


def _say_listening(url: str) -> None:
    sys.stdout.write(json.dumps({"pid": os.getpid(), "url": url}) + "\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing else goes to up's pipe, which it no longer reads


if __name__ == "__main__":
    run_loop(_child_main())
