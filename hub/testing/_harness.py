"""A hub serving only the plugin under test, its sandbox, and a caller, driven from plain (sync) tests.

Everything runs on real sockets: a real nats-server, the plugin's real sandbox behind the fault injector,
a real hub worker. The hub and the sandbox share one event loop in a thread of their own, so the suite's
tests are plain functions and work whatever the plugin author's pytest-asyncio set-up is.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import threading
import typing
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from nats.micro.request import ERROR_CODE_HEADER
from pydantic import BaseModel, SecretStr
from starlette.types import ASGIApp

from contracts import OPERATIONS, AgencyHealth, ContractError
from hub import Agency, Connector, HubClient, PluginError, PluginSet, Sandbox, SandboxContext, load_plugins
from hub._asgi import AsgiServer
from hub._audit import AuditLog, AuditRecord
from hub._bus_access import BusAccess
from hub._faults import ADMIN_PATH, with_faults
from hub._purposes import DEFAULT_PURPOSES, PurposeRegistry
from hub._roles import Role
from hub._runtime import Hub
from hub.testing._bus import add_consumer, issuer_for
from hub.testing._logs import CapturedLogs

__all__ = ["Harness", "Reply", "load_target", "only_agency", "secret_fields", "secret_values"]

T = TypeVar("T")

#: The audit key of conformance hubs (an obviously fake test value).
AUDIT_KEY = b"conformance-audit-key-not-a-secret"
#: The suite checks the plugin's own error mapping, so the hub's retries and circuit breaker stay out of the
#: way: a retry would hide nothing, and an open circuit would turn every later answer into agency_unavailable.
_NO_RESILIENCE = {"retries": 0, "failure_threshold": 1_000_000}
_STEP_TIMEOUT = 60.0


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` (a sandbox) over HTTP on a free loopback port for the block; yields its root URL."""
    server = AsgiServer(app)
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


def load_target(reference: str) -> PluginSet:
    """The plugin under test: an installed entry-point name (``landoffice``) or ``package.module[:object]``.

    Only that plugin is loaded; the reference form lets a test run plugins that are not installed.
    """
    if ":" not in reference and "." not in reference:
        return load_plugins(only={reference})
    module_name, _, attribute = reference.partition(":")
    try:
        plugin: object = importlib.import_module(module_name)
        if attribute:
            plugin = getattr(plugin, attribute)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot import the plugin under test {reference!r}: {exc}") from exc
    return load_plugins(only=set(), extra=[(reference, plugin)])


def only_agency(plugins: PluginSet, reference: str) -> tuple[Agency[Any, Any], Sandbox]:
    """The one agency and sandbox the plugin declares; the suite needs both."""
    if len(plugins.agencies) != 1:
        found = ", ".join(sorted(plugins.agencies)) or "none"
        raise PluginError(
            f"plugin {reference!r} must declare exactly one agency (mpp_hub_agency) for the conformance suite; "
            f"found: {found}"
        )
    agency = next(iter(plugins.agencies.values()))
    sandbox = plugins.sandboxes.get(agency.code)
    if sandbox is None:
        raise PluginError(
            f"plugin {reference!r} declares no sandbox for {agency.code!r}: implement mpp_hub_sandbox, the suite "
            "runs every check against it"
        )
    return agency, sandbox


@dataclass(frozen=True)
class Reply:
    """A raw answer from the bus: the bytes, and the contract error when the worker answered one."""

    data: bytes
    error: ContractError | None
    seconds: float

    def json(self) -> Any:
        return json.loads(self.data)


class _LoopThread:
    """An event loop running in a daemon thread; coroutines are submitted to it and waited for."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="mpp-hub-harness", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = _STEP_TIMEOUT) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        # Every task ends before the loop closes, or its sockets would be reported unclosed.
        self.run(_cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _cancel_the_rest() -> None:
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


class Harness:
    """The plugin under test served by a real hub: call it, break its sandbox, read its logs.

    ``call`` and ``request`` go through the bus as a consumer allowed the plugin's operations; ``faults``
    steers the sandbox's fault injector (``PUT /_sandbox/faults``); ``logs`` holds every log line since start.
    """

    def __init__(self, reference: str, plugins: PluginSet, bus: BusAccess) -> None:
        self.reference = reference
        self.plugins = plugins
        self.agency, self.sandbox = only_agency(plugins, reference)
        self.bus = bus
        # A purpose whose legal basis covers every operation of the plugin, as a real caller would state.
        self.purpose = PurposeRegistry(DEFAULT_PURPOSES).first_covering(self.agency.operations)
        self.logs = CapturedLogs()
        self.sandbox_url = ""
        self.api_key = ""
        self._loop: _LoopThread | None = None
        self._client: HubClient | None = None
        # What _start opened, closed in reverse by _stop: each piece even when closing another one fails.
        self._exits: contextlib.AsyncExitStack | None = None

    @property
    def code(self) -> str:
        return self.agency.code

    @property
    def operations(self) -> list[str]:
        return sorted(self.agency.operations)

    @property
    def settings(self) -> dict[str, Any]:
        """The plugin's settings pointing at the running sandbox (its obviously fake credentials)."""
        return dict(self.sandbox.settings(self.sandbox_url))

    def start(self) -> Harness:
        self.logs.start()
        self._loop = _LoopThread()
        try:
            self._loop.run(self._start())
        except BaseException:
            self.stop()
            raise
        return self

    async def _start(self) -> None:
        async with contextlib.AsyncExitStack() as starting:
            sandbox = AsgiServer(with_faults(self.sandbox.app(SandboxContext())))
            starting.push_async_callback(sandbox.stop)
            self.sandbox_url = await sandbox.start()
            hub = Hub(
                self.plugins,
                self.bus,
                {self.code: self.settings},
                audit_key=AUDIT_KEY,
                resilience={self.code: _NO_RESILIENCE},
            )
            starting.push_async_callback(hub.stop)  # before start: a start that fails half-way is stopped too
            await hub.start()
            name = f"conformance-{uuid.uuid4().hex[:8]}"
            self.api_key = await add_consumer(self.bus, name, self.operations)
            self._client = await HubClient.connect(
                self.bus, Role.CLI, issuer=issuer_for(self.bus, Role.CLI, AUDIT_KEY), consumer=name,
                purpose=self.purpose,
            )  # fmt: skip
            starting.push_async_callback(self._client.close)
            await hub.gate.consumers.wait_for(name)
            self._exits = starting.pop_all()

    def stop(self) -> None:
        if self._loop is not None:
            try:
                self._loop.run(self._stop())
            finally:
                self._loop.close()
                self._loop = None
        self.logs.stop()

    async def _stop(self) -> None:
        exits, self._exits = self._exits, None
        if exits is not None:
            await exits.aclose()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = _STEP_TIMEOUT) -> T:
        """Run a coroutine on the harness's event loop (where the hub and the sandbox live)."""
        assert self._loop is not None, "the harness is not started"
        return self._loop.run(coro, timeout)

    # --- calling -----------------------------------------------------------------------------------------

    def call(self, operation: str, payload: Mapping[str, Any], *, timeout: float = 10.0) -> BaseModel:
        """Call through the bus as the plugin's consumer; returns the output model or raises ``HubError``."""
        assert self._client is not None
        correlation_id = f"conformance-{uuid.uuid4().hex[:12]}"
        return self.run(
            self._client.call(operation, dict(payload), timeout=timeout, correlation_id=correlation_id), timeout + 5
        )

    def request(self, operation: str, payload: Mapping[str, Any], *, deadline: float = 10.0) -> Reply:
        """Send raw JSON on the operation's subject, stating ``deadline`` seconds, and wait a while longer.

        Nothing is validated on the caller's side, so the suite sees exactly what the worker answered.
        """
        return self.run(self._request(operation, payload, deadline), deadline + 15)

    async def _request(self, operation: str, payload: Mapping[str, Any], deadline: float) -> Reply:
        assert self._client is not None
        body = json.dumps(payload).encode()
        headers = self._client.headers_for(
            operation, body, correlation_id=f"conformance-{uuid.uuid4().hex[:12]}", budget=deadline
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        reply = await self._client.nc.request(
            OPERATIONS.get(operation).subject, body, timeout=deadline + 10, headers=headers
        )
        error = None
        if reply.headers and ERROR_CODE_HEADER in reply.headers:
            error = ContractError.model_validate_json(reply.data)
        return Reply(reply.data, error, loop.time() - started)

    def who_read(self, subject: str) -> list[AuditRecord]:
        """The audit log's records about ``subject`` (a NIK, an NIB, any identifier the contract marks as naming a
        data subject), one per call as it ended: what `mpp-hub audit who-read` shows."""
        return self.run(self._who_read(subject))

    async def _who_read(self, subject: str) -> list[AuditRecord]:
        nc = await self.bus.connect(Role.CLI)
        try:
            return await AuditLog(nc.jetstream(), AUDIT_KEY).who_read(subject)
        finally:
            await nc.close()

    def health(self) -> AgencyHealth:
        """The agency's health as the bus reports it."""
        assert self._client is not None
        return self.run(self._client.health(self.code))

    def fresh_health(self) -> AgencyHealth:
        """The health a newly connected link reports (nothing cached), closed again afterwards."""
        return self.run(self._fresh_health())

    async def _fresh_health(self) -> AgencyHealth:
        connector: Connector = await self.agency.connect(self.agency.settings.model_validate(self.settings))
        try:
            return await connector.health()
        finally:
            await connector.aclose()

    # --- the sandbox -------------------------------------------------------------------------------------

    def samples(self) -> Mapping[str, Sequence[str]]:
        """The sandbox's sample identifiers by kind, as ``mpp-hub sandbox sample`` prints them."""
        return self.sandbox.samples()

    def faults(self, **config: Any) -> None:
        """Make the sandbox misbehave (see ``hub._faults.FaultConfig``): ``faults(outage=True)``."""
        answer = httpx.put(f"{self.sandbox_url}{ADMIN_PATH}", json=config, timeout=10)
        if answer.status_code != 200:
            raise AssertionError(f"the sandbox refused the faults {config}: {answer.text}")

    def clear_faults(self) -> None:
        httpx.delete(f"{self.sandbox_url}{ADMIN_PATH}", timeout=10)


def secret_values(agency: Agency[Any, Any], settings: Mapping[str, Any]) -> list[str]:
    """The values of the settings fields that are typed as secrets."""
    model = agency.settings.model_validate(dict(settings))
    found = []
    for name in secret_fields(agency):
        value = getattr(model, name)
        if value is not None:
            found.append(value.get_secret_value())
    return found


def secret_fields(agency: Agency[Any, Any]) -> list[str]:
    """The names of the settings fields typed ``SecretStr`` (optional ones included)."""
    return [name for name, field in agency.settings.model_fields.items() if _mentions(field.annotation, SecretStr)]


def _mentions(annotation: Any, kind: type) -> bool:
    if annotation is kind:
        return True
    return any(_mentions(arg, kind) for arg in typing.get_args(annotation))
