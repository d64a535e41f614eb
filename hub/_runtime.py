"""A hub worker: NATS connection, the events stream, and every agency's operations on the bus."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog
from nats.aio.client import Client as NATS
from pydantic import ValidationError

from contracts import AgencyHealth, HealthStatus, HubError
from hub._access import Gate
from hub._agency import Agency, Connector
from hub._applications import ApplicationStore, index_secret
from hub._assertions import AssertionLedger
from hub._audit import AuditLog
from hub._bus import AgencyService, safe_health
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._dlq import DeadLetters
from hub._events import EVENTS_STREAM, EventPublisher
from hub._metrics import Metrics
from hub._plugins import PluginError, PluginSet
from hub._process import ProcessEngine
from hub._purposes import DEFAULT_PURPOSES, Purpose
from hub._resilience import ResiliencePolicy
from hub._roles import ASSERTIONS_BUCKET, Role
from hub._streams import bind_key_value
from hub._traffic import TrafficTap

__all__ = ["EVENTS_STREAM", "Hub", "index_secret"]

_log = structlog.get_logger("hub.runtime")


def _agency_settings(agency: Agency[Any, Any], values: Mapping[str, Any]) -> Any:
    try:
        return agency.settings.model_validate(dict(values))
    except ValidationError as exc:
        # from_validation never echoes the values: one of them may be a secret.
        problems = HubError.from_validation(exc, f"settings of plugin {agency.code!r}").error.message
        raise PluginError(
            f"{problems}. Set them under [plugins.{agency.code}] in mpp-hub.toml or as "
            f"MPP_HUB_PLUGINS__{agency.code.upper()}__<FIELD>"
        ) from None


def _policy(agency: Agency[Any, Any], overrides: Mapping[str, Any]) -> ResiliencePolicy:
    try:
        return ResiliencePolicy.model_validate({**agency.resilience.model_dump(), **overrides})
    except ValidationError as exc:
        message = HubError.from_validation(exc, f"resilience policy of {agency.code!r}").error.message
        raise PluginError(f"{message}. Fix [resilience.{agency.code}] in mpp-hub.toml") from None


async def on_nats_error(exc: Exception) -> None:
    # nats-py's default prints a traceback for what is routine in a cluster (a node going away).
    _log.warning("nats connection error", error=type(exc).__name__)


async def _on_reconnected() -> None:
    _log.info("nats reconnected")


class Hub:
    """Connects to NATS and serves the operations of every loaded agency until stopped."""

    def __init__(
        self,
        plugins: PluginSet,
        bus: BusAccess,
        plugin_settings: Mapping[str, Mapping[str, Any]],
        *,
        audit_key: bytes,
        purposes: Mapping[str, Purpose] = DEFAULT_PURPOSES,
        traffic_tap: bool = True,
        resilience: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.plugins = plugins
        self.bus = bus
        self.nats_url = bus.url
        self._plugin_settings = plugin_settings
        self._audit_key = audit_key
        self._purposes = purposes
        self._traffic_tap = traffic_tap
        self._resilience = resilience or {}
        self.nc: NATS | None = None
        self.services: dict[str, AgencyService] = {}
        self.events: EventPublisher | None = None
        self.gate: Gate | None = None
        self.engine: ProcessEngine | None = None
        self.metrics = Metrics()
        self.tap: TrafficTap | None = None
        self.audit: AuditLog | None = None
        self.dead_letters: DeadLetters | None = None

    async def start(self) -> None:
        settings = {
            code: _agency_settings(agency, self._plugin_settings.get(code, {}))
            for code, agency in self.plugins.agencies.items()
        }
        self.nc = await self.bus.connect(
            Role.WORKER, max_reconnect_attempts=-1, error_cb=on_nats_error,
            disconnected_cb=self._on_disconnected, reconnected_cb=_on_reconnected,
        )  # fmt: skip
        js = self.nc.jetstream()
        self.events = await EventPublisher.open(js)
        self.tap = TrafficTap(self.nc, enabled=self._traffic_tap)
        self.audit = AuditLog(js, self._audit_key)
        self.dead_letters = DeadLetters(js)
        store = await ApplicationStore.open(js, self._audit_key)
        refusals = self.metrics.anonymous_refusals.labels(self.metrics.worker, "bus")
        self.gate = Gate(
            await ConsumerRegistry.open(js, charging=True), self.audit, self._purposes, refusals.inc, applications=store
        )
        verifier = self.bus.verifier(self._audit_key)
        ledger = AssertionLedger(await bind_key_value(js, ASSERTIONS_BUCKET))
        issuer = self.bus.issuer(Role.WORKER, self._audit_key)
        self.engine = ProcessEngine(self.nc, store, self.events, self.dead_letters, self.plugins.processes, issuer)
        for code, agency in self.plugins.agencies.items():
            connector: Connector = await agency.connect(settings[code])
            policy = _policy(agency, self._resilience.get(code, {}))
            service = AgencyService(
                self.nc, agency, connector, self.gate, self.tap, self.metrics, policy, verifier, ledger
            )
            self.services[code] = service
            await service.start()
            _log.info("agency served", agency=code, operations=sorted(agency.operations))
        if self.plugins.processes:
            await self.engine.start()
        await self.nc.flush()  # the server knows every subscription before anyone is told the hub is up

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()
        for service in self.services.values():
            await service.stop()
        for service in self.services.values():
            await service.connector.aclose()
        self.services.clear()
        if self.gate is not None:
            await self.gate.consumers.close()
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.drain()

    async def _on_disconnected(self) -> None:
        if self.nc is not None and not (self.nc.is_closed or self.nc.is_draining):
            _log.warning("nats disconnected; reconnecting")

    @property
    def nats_connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def agency_health(self) -> dict[str, AgencyHealth]:
        checks = [safe_health(code, s.connector) for code, s in self.services.items()]
        found = {health.agency: health for health in await asyncio.gather(*checks)}
        for code, health in found.items():
            self.metrics.agency_up.labels(self.metrics.worker, code).set(1 if health.status is HealthStatus.UP else 0)
        return found
