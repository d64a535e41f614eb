"""What a plugin declares: its agency, the operations it serves, its settings and its sandbox."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp

from contracts import AgencyHealth, AgencyKind
from hub._resilience import ResiliencePolicy
from hub._time import utcnow as utcnow  # its old home: code written against hub._agency keeps working

__all__ = [
    "Agency",
    "AgencySettings",
    "CallContext",
    "Callback",
    "CallbackReply",
    "Connector",
    "Event",
    "InboundRequest",
    "Sandbox",
    "SandboxContext",
    "Served",
]


class AgencySettings(BaseModel):
    """Base for a plugin's typed settings; secrets are ``SecretStr`` and never printed.

    Values come from the hub's TOML file (``[plugins.<code>]``) and from environment variables
    ``MPP_HUB_PLUGINS__<CODE>__<FIELD>``; the hub passes them in, so plugins read no environment.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


class Connector(Protocol):
    """A live link to one agency, opened at start-up and closed at shutdown."""

    async def health(self) -> AgencyHealth: ...

    async def aclose(self) -> None: ...


ConnectorT = TypeVar("ConnectorT", bound=Connector)
SettingsT = TypeVar("SettingsT", bound=AgencySettings)


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who asked, under which correlation id, and by when the answer is needed."""

    operation: str
    correlation_id: str
    deadline: float = field(default_factory=lambda: time.monotonic() + 30.0)

    def remaining(self) -> float:
        """Seconds left before the caller stops waiting (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


Handler = Callable[[ConnectorT, Any, CallContext], Awaitable[BaseModel]]


@dataclass(frozen=True, slots=True)
class Served(Generic[ConnectorT]):
    """One contract operation a plugin serves.

    ``schema_hash`` is the contract's schema hash the plugin was written against (pin the literal
    printed by ``mpp-hub contract export``); the hub refuses the plugin when the contract differs.
    """

    handler: Handler[ConnectorT]
    schema_hash: str


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """An agency calling the hub (a payment notification, say), as it arrived at the HTTP edge.

    ``path`` is the full path the agency called, query string included, because agencies sign it.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Event:
    """A hub event to publish on JetStream at ``mpp.events.<name>``, at most once per ``dedup_id``."""

    name: str
    payload: BaseModel
    dedup_id: str


@dataclass(frozen=True, slots=True)
class CallbackReply:
    """What to answer the agency (in its own format), and the events its call gives rise to.

    The hub publishes the events durably *before* it sends the answer, so an agency that got a success
    answer can rely on the hub having recorded what it said.
    """

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    events: Sequence[Event] = ()


Callback = Callable[[ConnectorT, InboundRequest], Awaitable[CallbackReply]]


@dataclass(frozen=True)
class Agency(Generic[SettingsT, ConnectorT]):
    """The agency a plugin connects, returned by the ``mpp_hub_agency`` hook."""

    code: str
    name: str
    kind: AgencyKind
    version: str
    settings: type[SettingsT]
    connect: Callable[[SettingsT], Awaitable[ConnectorT]]
    operations: Mapping[str, Served[ConnectorT]]
    #: Inbound endpoints the agency calls, served at ``POST /callbacks/<code>/<path>`` on the HTTP edge.
    callbacks: Mapping[str, Callback[ConnectorT]] = field(default_factory=dict)
    #: The plugin's default retry, circuit-breaker and bulkhead policy; `[resilience.<code>]` overrides it.
    resilience: ResiliencePolicy = field(default_factory=ResiliencePolicy)


@dataclass
class SandboxContext:
    """What a sandbox may need from the hub that runs it; ``hub_url`` is known once the HTTP edge is up."""

    hub_url: str | None = None

    def callback_url(self, agency: str) -> str | None:
        """Where the agency's callbacks are served, e.g. ``http://127.0.0.1:8080/callbacks/bank``."""
        return f"{self.hub_url}/callbacks/{agency}" if self.hub_url else None


@dataclass(frozen=True)
class Sandbox:
    """A simulator of an agency's real API, returned by the ``mpp_hub_sandbox`` hook.

    ``app`` builds the ASGI app; ``settings`` gives the plugin settings that point at a sandbox running
    at ``base_url`` (obviously fake credentials); ``samples`` gives identifiers worth calling, by kind.
    """

    agency: str
    app: Callable[[SandboxContext], ASGIApp]
    settings: Callable[[str], Mapping[str, Any]]
    samples: Callable[[], Mapping[str, Sequence[str]]]
