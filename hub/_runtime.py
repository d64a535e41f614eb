"""A hub worker: NATS connection, the events stream, and every agency's operations on the bus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from nacl.signing import VerifyKey
from nats.aio.client import Client as NATS
from pydantic import ValidationError

from contracts import AgencyHealth, HealthStatus, HubError
from hub._access import Gate
from hub._agency import Agency, Connector
from hub._applications import ApplicationStore, index_secret
from hub._assertions import AssertionLedger, Verifier
from hub._audit import AuditLog
from hub._bus import AgencyService, safe_health
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._dlq import DeadLetters
from hub._events import EVENTS_STREAM, EventPublisher
from hub._metrics import Metrics
from hub._plugins import PluginError, PluginSet
from hub._process import ProcessEngine
from hub._providers import Provider, Providers
from hub._purposes import DEFAULT_PURPOSES, Purpose
from hub._resilience import ResiliencePolicy
from hub._roles import ASSERTIONS_BUCKET, Role
from hub._site_intake import SiteOpener
from hub._site_schedule import SiteSchedule
from hub._site_sync import SiteSync, registered_sites
from hub._sites import SiteRecord, intake_private_key
from hub._streams import bind_key_value
from hub._traffic import TrafficTap

__all__ = ["EVENTS_STREAM", "Hub", "HubNotStarted", "Running", "index_secret"]

_log = structlog.get_logger("hub.runtime")


def _agency_settings(provider: Provider) -> Any:
    agency = provider.agency
    try:
        return agency.settings.model_validate(dict(provider.values))
    except ValidationError as exc:
        # from_validation never echoes the values: one of them may be a secret.
        problems = HubError.from_validation(exc, f"settings of plugin {agency.code!r}").error.message
        raise PluginError(f"{problems}. Set them under {provider.where}") from None


def _policy(agency: Agency[Any, Any], overrides: Mapping[str, Any]) -> ResiliencePolicy:
    try:
        return ResiliencePolicy.model_validate({**agency.resilience.model_dump(), **overrides})
    except ValidationError as exc:
        message = HubError.from_validation(exc, f"resilience policy of {agency.code!r}").error.message
        raise PluginError(f"{message}. Fix [resilience.{agency.code}] in mpp-hub.toml") from None


async def _on_reconnected() -> None:
    _log.info("nats reconnected")


@dataclass(frozen=True, slots=True)
class Running:
    """What a started hub serves with, all of it connected: made by :meth:`Hub.start`, never half built."""

    nc: NATS
    events: EventPublisher
    tap: TrafficTap
    audit: AuditLog
    dead_letters: DeadLetters
    gate: Gate
    engine: ProcessEngine


class HubNotStarted(RuntimeError):
    """A started hub's part was asked for before :meth:`Hub.start` finished (a wiring bug, not a user error)."""


class Hub:
    """Connects to NATS and serves the operations of every loaded agency until stopped.

    ``start()`` returns the :class:`Running` parts (also at ``hub.nc``, ``hub.engine``, ``hub.gate`` ...,
    none of them optional); ``stop()`` closes whatever ``start()`` had opened, in reverse, even after a
    start that failed half way.
    """

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
        self.services: dict[str, AgencyService] = {}  # by provider name
        self.providers = Providers({})  # what start() serves, from the plugin settings
        self.metrics = Metrics()
        self._running: Running | None = None
        self._open = contextlib.AsyncExitStack()
        self.site_sync: SiteSync | None = None  # once started, when sites are registered
        self._verifier: Verifier | None = None

    async def start(self) -> Running:
        # Every provider's settings are checked before anything connects, so a typo costs no connection.
        self.providers = Providers.configured(self.plugins, self._plugin_settings)
        settings = {p.name: _agency_settings(p) for p in self.providers}
        try:
            running = await self._connect()
            sites = await registered_sites(running.nc.jetstream())
            verifier = self._verifier = self.bus.verifier(self._audit_key, _trust(sites))
            ledger = AssertionLedger(await bind_key_value(running.nc.jetstream(), ASSERTIONS_BUCKET))
            for provider in self.providers:
                await self._serve(running, provider, settings[provider.name], verifier, ledger)
            if self.plugins.processes:
                await running.engine.start()
                self._open.push_async_callback(running.engine.stop)
            if sites:
                await self._sync_sites(running, sites)
            await running.nc.flush()  # the server knows every subscription before anyone is told the hub is up
        except BaseException:
            await self.stop()
            raise
        self._running = running
        return running

    async def _connect(self) -> Running:
        nc = await self.bus.connect(
            Role.WORKER, max_reconnect_attempts=-1,
            disconnected_cb=self._on_disconnected, reconnected_cb=_on_reconnected,
        )  # fmt: skip
        self._open.push_async_callback(_drain, nc)
        js = nc.jetstream()
        events = await EventPublisher.open(js)
        audit = AuditLog(js, self._audit_key)
        dead_letters = DeadLetters(js)
        store = await ApplicationStore.open(js, self._audit_key)
        refusals = self.metrics.anonymous_refusals.labels(self.metrics.worker, "bus")
        consumers = await ConsumerRegistry.open(js, charging=True)
        self._open.push_async_callback(consumers.close)
        gate = Gate(consumers, audit, self._purposes, refusals.inc, applications=store)
        issuer = self.bus.issuer(Role.WORKER, self._audit_key)
        engine = ProcessEngine(nc, store, events, dead_letters, self.plugins.processes, issuer)
        tap = TrafficTap(nc, enabled=self._traffic_tap)
        return Running(nc, events, tap, audit, dead_letters, gate, engine)

    async def refresh_sites(self) -> None:
        """Take in the sites registered since start (`mpp-hub site add`): trust their keys, sync their streams."""
        sites = await registered_sites(self.nc.jetstream())
        if self._verifier is None:
            raise HubNotStarted("the hub is not started: await hub.start() first")
        self._verifier.trust_sites(_trust(sites))
        if self.site_sync is not None:
            self.site_sync.add_sites(sites)
        elif sites:
            await self._sync_sites(self.running, sites)

    async def _sync_sites(self, running: Running, sites: Mapping[str, SiteRecord]) -> None:
        js = running.nc.jetstream()
        opener = SiteOpener(intake_private_key(self._audit_key), sites)
        schedule = await SiteSchedule.open(js)
        sync = SiteSync(running.nc, sites, opener, running.engine, running.audit, running.dead_letters, schedule)
        await sync.start()
        self._open.push_async_callback(sync.stop)
        self.site_sync = sync

    async def _serve(
        self, running: Running, provider: Provider, settings: Any, verifier: Verifier, ledger: AssertionLedger
    ) -> None:
        agency, name = provider.agency, provider.name
        connector: Connector = await agency.connect(settings)
        self._open.push_async_callback(connector.aclose)
        # [resilience.<provider>] over [resilience.<agency>]: one bank's link may need other limits than another's.
        policy = _policy(agency, {**self._resilience.get(agency.code, {}), **self._resilience.get(name, {})})
        service = AgencyService(
            running.nc, agency, connector, running.gate, running.tap, self.metrics, policy, verifier, ledger,
            provider=name, defaults=provider.defaults,
        )  # fmt: skip
        self.services[name] = service
        self._open.callback(self.services.pop, name, None)
        await service.start()
        self._open.push_async_callback(service.stop)
        _log.info("agency served", agency=agency.code, provider=name, operations=sorted(agency.operations))

    async def stop(self) -> None:
        await self._open.aclose()

    async def _on_disconnected(self) -> None:
        # Not while draining at stop; during start, the connection's error callback has said what went wrong already.
        nc = self._running.nc if self._running is not None else None
        if nc is not None and not (nc.is_closed or nc.is_draining):
            _log.warning("nats disconnected; reconnecting")

    @property
    def running(self) -> Running:
        """The started hub's parts; :class:`HubNotStarted` until :meth:`start` has finished."""
        if self._running is None:
            raise HubNotStarted("the hub is not started: await hub.start() first")
        return self._running

    # The edge and the tests reach a started hub's parts by these names.
    @property
    def nc(self) -> NATS:
        return self.running.nc

    @property
    def events(self) -> EventPublisher:
        return self.running.events

    @property
    def tap(self) -> TrafficTap:
        return self.running.tap

    @property
    def audit(self) -> AuditLog:
        return self.running.audit

    @property
    def dead_letters(self) -> DeadLetters:
        return self.running.dead_letters

    @property
    def gate(self) -> Gate:
        return self.running.gate

    @property
    def engine(self) -> ProcessEngine:
        return self.running.engine

    @property
    def nats_connected(self) -> bool:
        return self._running is not None and self._running.nc.is_connected

    async def agency_health(self) -> dict[str, AgencyHealth]:
        """Each provider's health, by provider name (an agency's own provider is named by its code)."""
        services = list(self.services.values())
        checks = await asyncio.gather(*(safe_health(s.agency.code, s.connector, s.provider) for s in services))
        for service, health in zip(services, checks, strict=True):
            up = self.metrics.agency_up.labels(self.metrics.worker, service.agency.code, service.provider)
            up.set(1 if health.status is HealthStatus.UP else 0)
        return {service.provider: health for service, health in zip(services, checks, strict=True)}


def _trust(sites: Mapping[str, SiteRecord]) -> dict[str, tuple[VerifyKey, frozenset[str]]]:
    return {name: (site.verify_key, frozenset(site.consumers)) for name, site in sites.items()}


async def _drain(nc: NATS) -> None:
    if not nc.is_closed:
        await nc.drain()
