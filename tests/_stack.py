"""The tests' one stack: agency sandboxes, a hub worker, its HTTP edge and the consumers a test calls as.

::

    async with Stack(bus, agencies=["dukcapil", "bank"], processes=["vehicle_tax_renewal"],
                     consumers={"desk": Grant(["application.*"])}) as stack:
        await stack.http.post("/v1/applications", json=..., headers=stack.headers("desk"))

Every piece is started on real sockets, and every piece started is stopped on the way out, in reverse order,
even when stopping another one fails (``contextlib.AsyncExitStack``): a hub left serving would take its share of
every later test's requests. Sandboxes a module shares across tests are a :class:`Sandboxes` of their own, passed
in as ``sandboxes=``; a stack that starts its own stops them with the rest.
"""

from __future__ import annotations

import contextlib
import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
from starlette.types import ASGIApp

from contracts import Channel
from hub import PluginSet, SandboxContext, load_plugins
from hub._asgi import AsgiServer
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._edge import EdgeBus
from hub._faults import ADMIN_PATH, with_faults
from hub._http import create_app
from hub._providers import sandbox_settings
from hub._runtime import Hub
from tests._servers import ThreadedServer
from tests.conftest import TEST_PURPOSE, add_known_consumer, make_hub, open_edge

__all__ = ["Grant", "Sandboxes", "Stack"]


class Sandboxes:
    """Agency sandboxes on loopback ports (behind the fault injector with ``faults``), one shared context.

    ``apps`` replaces a sandbox's app (the bank's with a clock the test moves, say). A sync context manager, so a
    module-scoped fixture can hold one for all its tests.
    """

    def __init__(
        self,
        agencies: Iterable[str],
        *,
        faults: bool = False,
        apps: Mapping[str, ASGIApp] | None = None,
        context: SandboxContext | None = None,
    ) -> None:
        self.context = context or SandboxContext()
        self.plugins = load_plugins(only=set(agencies))
        self.apps: dict[str, ASGIApp] = {}
        for code, sandbox in self.plugins.sandboxes.items():
            app = (apps or {}).get(code) or sandbox.app(self.context)
            self.apps[code] = with_faults(app) if faults else app
        self.servers: dict[str, ThreadedServer] = {}
        self._exits = contextlib.ExitStack()

    def __enter__(self) -> Sandboxes:
        with contextlib.ExitStack() as starting:
            for code, app in self.apps.items():
                self.servers[code] = ThreadedServer(app).start()
                # Looked up on the way out: a test may have restarted the sandbox on a new server object.
                starting.callback(self._stop, code)
            self._exits = starting.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exits.close()

    def _stop(self, code: str) -> None:
        self.servers[code].stop()

    def url(self, code: str) -> str:
        return self.servers[code].url

    def settings(self, plugins: PluginSet) -> dict[str, dict[str, Any]]:
        """Each agency's plugin settings pointing at its sandbox (the sandbox's obviously fake credentials); a
        provider's sandbox (the second bank's) under its agency's ``providers``."""
        settings: dict[str, dict[str, Any]] = {}
        for code, server in self.servers.items():
            if (sandbox := plugins.sandboxes.get(code)) is not None:
                sandbox_settings(sandbox, sandbox.settings(server.url), settings)
        return settings

    def restart(self, code: str) -> ThreadedServer:
        """Serve a stopped sandbox again, on its old port (the hub's settings point there)."""
        self.servers[code] = ThreadedServer(self.apps[code], self.servers[code].port).start()
        return self.servers[code]

    def faults(self, code: str, **config: Any) -> None:
        """Make one sandbox misbehave (see ``hub._faults.FaultConfig``); it must have been started with faults."""
        answer = httpx.put(f"{self.url(code)}{ADMIN_PATH}", json=config, timeout=10)
        assert answer.status_code == 200, answer.text

    def stats(self, code: str) -> dict[str, Any]:
        """The sandbox's own record of what it was asked (``GET /_sandbox/stats``)."""
        stats: dict[str, Any] = httpx.get(f"{self.url(code)}/_sandbox/stats", timeout=10).json()
        return stats

    def fault_stats(self, code: str) -> dict[str, Any]:
        stats: dict[str, Any] = httpx.get(f"{self.url(code)}{ADMIN_PATH}", timeout=10).json()
        return stats

    def clear_faults(self) -> None:
        for code in self.servers:
            httpx.delete(f"{self.url(code)}{ADMIN_PATH}", timeout=10)


class _Default(enum.Enum):
    PURPOSE = "the stack's purpose"


#: ``Stack.headers``' default: the purpose the stack was made with.
DEFAULT = _Default.PURPOSE


@dataclass(frozen=True)
class Grant:
    """A consumer a stack registers (as ``<name>-<the stack's tag>``): its rights and what it may state."""

    allow: list[str]
    quota_per_minute: int | None = None
    channel: Channel | None = None
    names_officers: bool = False


@dataclass
class _Options:
    agencies: tuple[str, ...]
    processes: tuple[str, ...]
    plugins: PluginSet | None
    settings: Mapping[str, Mapping[str, Any]]
    resilience: Mapping[str, Mapping[str, Any]] | None
    edge: bool
    edge_options: Mapping[str, Any]
    consumers: Mapping[str, Grant]
    http_timeout: float
    faults: bool
    sandbox_apps: Mapping[str, ASGIApp] | None


class Stack:
    """A hub serving ``agencies`` (and ``processes``) against their sandboxes, its edge, and ``consumers``.

    ``plugins`` replaces the plugins loaded (a test plugin's); ``settings`` is laid over each agency's sandbox
    settings; ``edge_options`` go to ``create_app`` (``request_timeout``, ``profile_budget``). With ``edge=False``
    there is no HTTP edge: call through a ``connect_client`` then. ``purpose`` is what ``headers()`` states
    unless told otherwise.
    """

    def __init__(
        self,
        bus: BusAccess,
        *,
        agencies: Iterable[str] = (),
        processes: Iterable[str] = (),
        plugins: PluginSet | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        resilience: Mapping[str, Mapping[str, Any]] | None = None,
        edge: bool = True,
        edge_options: Mapping[str, Any] | None = None,
        consumers: Mapping[str, Grant] | None = None,
        http_timeout: float = 10.0,
        purpose: str | None = TEST_PURPOSE,
        faults: bool = False,
        sandbox_apps: Mapping[str, ASGIApp] | None = None,
        sandboxes: Sandboxes | None = None,
    ) -> None:
        self.bus = bus
        self.purpose = purpose
        self.tag = uuid.uuid4().hex[:6]
        self.keys: dict[str, str] = {}
        self.edge: EdgeBus | None = None
        self.url = ""
        self._http: httpx.AsyncClient | None = None
        self._hub: Hub | None = None
        self._sandboxes = sandboxes
        self._exits = contextlib.AsyncExitStack()
        self._options = _Options(
            tuple(agencies), tuple(processes), plugins, settings or {}, resilience, edge, edge_options or {},
            consumers or {}, http_timeout, faults, sandbox_apps,
        )  # fmt: skip

    @property
    def hub(self) -> Hub:
        assert self._hub is not None, "the stack is not started: use it as `async with Stack(...) as stack`"
        return self._hub

    @property
    def sandboxes(self) -> Sandboxes:
        assert self._sandboxes is not None, "the stack is not started: use it as `async with Stack(...) as stack`"
        return self._sandboxes

    @property
    def http(self) -> httpx.AsyncClient:
        """An HTTP client on the edge's address (no credentials: pass ``headers()``)."""
        assert self._http is not None, "this stack has no HTTP edge (edge=False)"
        return self._http

    @property
    def registries(self) -> list[ConsumerRegistry]:
        """Every consumer registry of the stack (the edge's, the worker's), for ``add_known_consumer``."""
        return [*([self.edge.gate.consumers] if self.edge is not None else []), self.hub.gate.consumers]

    def name(self, consumer: str) -> str:
        """The registered name of the stack's ``consumer`` (tagged, so runs on one bus never clash)."""
        return f"{consumer}-{self.tag}"

    def headers(
        self, consumer: str | None = None, purpose: str | _Default | None = DEFAULT, **extra: str
    ) -> dict[str, str]:
        """The headers of a request by ``consumer`` (the stack's first one by default), stating ``purpose`` (the
        stack's by default; None: none) and ``extra``."""
        stated = self.purpose if isinstance(purpose, _Default) else purpose
        headers = {"Authorization": f"Bearer {self.keys[consumer or next(iter(self.keys))]}", **extra}
        if stated:
            headers["X-Purpose"] = stated
        return headers

    async def add_consumer(self, consumer: str, grant: Grant) -> str:
        """Register ``consumer`` (as :meth:`name` has it) and wait until the edge and the worker know it; its key."""
        self.keys[consumer] = await add_known_consumer(
            self.bus, self.name(consumer), grant.allow, *self.registries, quota_per_minute=grant.quota_per_minute,
            channel=grant.channel, names_officers=grant.names_officers,
        )  # fmt: skip
        return self.keys[consumer]

    async def __aenter__(self) -> Stack:
        async with contextlib.AsyncExitStack() as starting:
            await self._start(starting)
            self._exits = starting.pop_all()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self._exits.aclose()

    async def _start(self, exits: contextlib.AsyncExitStack) -> None:
        options = self._options
        plugins = options.plugins or load_plugins(only={*options.agencies, *options.processes})
        if self._sandboxes is None:
            own = Sandboxes(options.agencies, faults=options.faults, apps=options.sandbox_apps)
            self._sandboxes = exits.enter_context(own)
        settings = self.sandboxes.settings(plugins)
        for code, extra in options.settings.items():
            settings[code] = {**settings.get(code, {}), **extra}
        self._hub = make_hub(plugins, self.bus, settings, resilience=options.resilience)
        exits.push_async_callback(self._hub.stop)  # before start: a start that fails half-way is stopped too
        await self._hub.start()
        if options.edge:
            await self._start_edge(exits, options)
        for consumer, grant in options.consumers.items():
            await self.add_consumer(consumer, grant)

    async def _start_edge(self, exits: contextlib.AsyncExitStack, options: _Options) -> None:
        self.edge = await open_edge(self.hub, self.bus)
        exits.push_async_callback(self.edge.close)
        server = AsgiServer(create_app(self.hub, self.edge, embedded_nats=False, **options.edge_options))
        exits.push_async_callback(server.stop)
        self.url = await server.start()
        self.sandboxes.context.hub_url = self.url  # where the bank sends its payment notifications
        self._http = await exits.enter_async_context(httpx.AsyncClient(base_url=self.url, timeout=options.http_timeout))
