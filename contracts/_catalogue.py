"""The service catalogue: which agencies are plugged in, what they serve, and how they are."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from contracts._base import Contract

__all__ = ["AgencyHealth", "AgencyInfo", "AgencyKind", "Catalogue", "HealthStatus", "OperationInfo"]


class AgencyKind(StrEnum):
    """What kind of body an agency is: a regional or central (vertical) government office, or a state- or
    region-owned enterprise."""

    REGIONAL = "regional"
    VERTICAL = "vertical"
    STATE_OWNED = "state-owned"
    REGIONAL_OWNED = "regional-owned"


class HealthStatus(StrEnum):
    """Whether the hub's link to an agency works."""

    UP = "up"
    DOWN = "down"


class AgencyHealth(Contract):
    """The last check of the hub's link to one agency."""

    agency: str = Field(description="The agency's code.")
    status: HealthStatus
    detail: str = Field(description="What was checked, or why the link is down.")
    latency_ms: float | None = Field(default=None, description="How long the check took, in milliseconds.")
    checked_at: dt.datetime = Field(description="When it was checked.")


class OperationInfo(Contract):
    """One contract operation as an agency serves it."""

    name: str = Field(description="The operation, e.g. identity.lookup.")
    version: str = Field(description="The contract version it is served at.")
    summary: str = Field(description="What the operation does.")
    schema_hash: str = Field(description="The hash of the input and output schemas the agency's plugin pins.")
    idempotent: bool = Field(description="Whether repeating a call cannot change the outcome.")
    personal_data: bool = Field(description="Whether it reads or writes personal data (X-Purpose is needed).")


class AgencyInfo(Contract):
    """One agency plugged into the hub: who it is, what it serves, and how its link is."""

    code: str = Field(description="The agency's code, e.g. dukcapil.")
    name: str = Field(description="The agency's name.")
    kind: AgencyKind
    plugin_version: str = Field(description="Version of the agency's plugin.")
    contract_version: str = Field(description="The contract version the plugin is built against.")
    instances: int = Field(description="Hub workers currently serving this agency.")
    operations: list[OperationInfo] = Field(description="The operations it serves.")
    health: AgencyHealth | None = Field(default=None, description="Its link's last health check, if any.")


class Catalogue(Contract):
    """The mall's service catalogue: every agency plugged into the hub and what it serves."""

    contract_version: str = Field(description="The hub's contract version.")
    agencies: list[AgencyInfo] = Field(description="Every agency served on the bus.")
