"""The service catalogue: which agencies are plugged in, what they serve, and how they are."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from contracts._base import Contract

__all__ = [
    "PROVIDER_RULE", "AgencyHealth", "AgencyInfo", "AgencyKind", "Catalogue", "HealthStatus", "OperationInfo",
    "ProviderInfo", "ProviderName",
]  # fmt: skip

#: What a provider's name looks like: an agency code's shape, since an agency's own provider is named by its code.
PROVIDER_RULE = r"^[a-z][a-z0-9_]{1,31}$"
#: One of the providers serving an operation (a bank of the mall, say), as the catalogue lists them.
ProviderName = Annotated[str, Field(pattern=PROVIDER_RULE, examples=["bank", "bank_contoh"])]


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
    provider: str | None = Field(
        default=None, description="The provider checked, when the agency serves through several (else its code)."
    )
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
    providers: list[str] = Field(
        default_factory=list, description="Every provider serving it on the bus now (the agency's code, or several)."
    )
    default_provider: str | None = Field(
        default=None, description="The provider a request that names none goes to (None: no worker serves one now)."
    )


class ProviderInfo(Contract):
    """One configured instance of an agency's plugin on the bus (one bank of several), and how its link is."""

    name: str = Field(description="The provider's name, as a request's `provider` field gives it.")
    instances: int = Field(description="Hub workers currently serving it.")
    health: AgencyHealth | None = Field(default=None, description="Its link's last health check, if any.")


class AgencyInfo(Contract):
    """One agency plugged into the hub: who it is, what it serves, and how its link is."""

    code: str = Field(description="The agency's code, e.g. dukcapil.")
    name: str = Field(description="The agency's name.")
    kind: AgencyKind
    plugin_version: str = Field(description="Version of the agency's plugin.")
    contract_version: str = Field(description="The contract version the plugin is built against.")
    instances: int = Field(description="Hub workers currently serving this agency.")
    operations: list[OperationInfo] = Field(description="The operations it serves.")
    health: AgencyHealth | None = Field(
        default=None, description="Its link's last health check, if any; with several providers, a down one's first."
    )
    providers: list[ProviderInfo] = Field(
        default_factory=list, description="Its providers (one, named by its code, unless several are configured)."
    )


class Catalogue(Contract):
    """The mall's service catalogue: every agency plugged into the hub and what it serves."""

    contract_version: str = Field(description="The hub's contract version.")
    agencies: list[AgencyInfo] = Field(description="Every agency served on the bus.")
