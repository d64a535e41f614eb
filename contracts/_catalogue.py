"""The service catalogue: which agencies are plugged in, what they serve, and how they are."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from contracts._base import Contract

__all__ = ["AgencyHealth", "AgencyInfo", "AgencyKind", "Catalogue", "HealthStatus", "OperationInfo"]


class AgencyKind(StrEnum):
    REGIONAL = "regional"
    VERTICAL = "vertical"
    STATE_OWNED = "state-owned"
    REGIONAL_OWNED = "regional-owned"


class HealthStatus(StrEnum):
    UP = "up"
    DOWN = "down"


class AgencyHealth(Contract):
    agency: str
    status: HealthStatus
    detail: str = Field(description="What was checked, or why the link is down.")
    latency_ms: float | None = None
    checked_at: dt.datetime


class OperationInfo(Contract):
    name: str
    version: str
    summary: str
    schema_hash: str
    idempotent: bool
    personal_data: bool


class AgencyInfo(Contract):
    code: str
    name: str
    kind: AgencyKind
    plugin_version: str
    contract_version: str
    instances: int = Field(description="Hub workers currently serving this agency.")
    operations: list[OperationInfo]
    health: AgencyHealth | None = None


class Catalogue(Contract):
    contract_version: str
    agencies: list[AgencyInfo]
