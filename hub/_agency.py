"""What a plugin declares: its agency, the operations it serves, its settings and its sandbox."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict
from starlette.types import ASGIApp

from contracts import AgencyHealth, AgencyKind

__all__ = [
    "Agency",
    "AgencySettings",
    "CallContext",
    "Connector",
    "Sandbox",
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


@dataclass(frozen=True)
class Sandbox:
    """A simulator of an agency's real API, returned by the ``mpp_hub_sandbox`` hook.

    ``settings`` gives the plugin settings that point at a sandbox running at ``base_url``
    (obviously fake credentials); ``samples`` gives identifiers worth calling, by kind.
    """

    agency: str
    app: Callable[[], ASGIApp]
    settings: Callable[[str], Mapping[str, Any]]
    samples: Callable[[], Mapping[str, Sequence[str]]]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
